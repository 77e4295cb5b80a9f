"""reports/matrix.html opened in a real browser: headless Chromium renders it, dumps its DOM, takes a
phone-sized screenshot.  Skipped, with the reason, where Chromium is not installed (.ci/run installs
Debian's chromium, so CI always runs it)."""
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser

import pytest
from test_cross import inputs
from test_report import TABLE, measured, result, table_results

from tfpin.cell.result import Durations
from tfpin.config import matrix as matrices
from tfpin.cross import verdicts as crossverdicts
from tfpin.report import build as report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian package "
                                                          "'chromium'; .ci/run installs it)")
# What the machine notes say Chromium needs here: no sandbox as root, and no background networking (the
# network is closed, and its connection attempts are refused many at a time).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = (390, 844)


def chromium(tmp_path, *args):
    cmd = [CHROMIUM, *FLAGS, "--user-data-dir=%s" % (tmp_path / "profile"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.chunks = []

    def handle_data(self, data):
        self.chunks.append(data)


def visible_text(dom):
    parser = _Text()
    parser.feed(re.sub(r"<style>.*?</style>", "", dom, flags=re.S))
    return " ".join(" ".join(parser.chunks).split())


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    results = table_results({"py3.6-tf1.13-keras2.2.4": "failed"})
    results[2].failing = ["tests/cell/test_ema.py::test_shadow"]
    results[2].skips = {"tests/cell/test_gpu.py::test_x": "no GPU visible"}
    results[0].durations = Durations(setup_s=9.3, tests_s=2.0, setup_cpu_s=7.5, tests_cpu_s=1.7, setup_demand=0.95,
                                     tests_demand=1.25, steps={"create": 0.5, "install": 3.5, "imports": 4.7})
    rep = report.build(TABLE, TABLE.cells, results, "t0", "t1", {})
    rep["cross"] = crossverdicts.summarize(*inputs())
    report.write(rep, out, "matrix")
    return out / "matrix.html", rep


def test_the_browser_shows_every_cell_the_verdicts_and_the_pin(page, tmp_path):
    path, rep = page
    run = chromium(tmp_path, "--dump-dom", path.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    text = visible_text(run.stdout)
    for cell in rep["cells"]:
        assert cell["id"] in text
    assert "failed" in text and "unavailable" in text and "1 failing" in text and "no GPU visible" in text
    assert rep["recommendation"]["summary"] in text
    for line in rep["recommendation"]["constraints"]:
        assert line in text
    assert "✗" in text  # the checkpoint that did not restore, in the heat map
    assert "<polyline" in run.stdout and "<svg" in run.stdout  # the loss curves, rendered as SVG
    assert "http://" not in path.read_text() and "https://" not in path.read_text()  # self-contained
    # Where the one cell that measured its set-up spent it (the others carry no steps: not shown)
    assert "Set-up time" in text
    assert "%s 0.5 3.5 4.7 9.3 7.5 1.7 0.95 / 1.25" % rep["cells"][0]["id"] in text
    assert rep["cells"][1]["id"] + " 0." not in text


def test_a_phone_sized_screenshot(page, tmp_path):
    path, _ = page
    shot = tmp_path / "phone.png"
    run = chromium(tmp_path, "--window-size=%d,%d" % PHONE, "--screenshot=%s" % shot, path.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == PHONE
    assert len(data) > 20000  # a rendered page, not a blank one (a blank 390x844 PNG is ~3 kB)


def test_the_browser_shows_throughput_beside_stock(tmp_path):
    dist = matrices.load("distributions")
    rep = report.build(dist, dist.cells, [result(c, "passed") for c in dist.cells], "t0", "t1", {})
    rates = {"py3.7-tf1.15-keras2.2.5": 262.3, "py3.7-intel-tf1.15-keras2.2.5": 629.5}
    report.merge_bench(rep, dist, {cell: measured(cell, {"img/s": rate}, finite=True) for cell, rate in rates.items()})
    report.write(rep, tmp_path, "matrix-distributions")
    run = chromium(tmp_path, "--dump-dom", (tmp_path / "matrix-distributions.html").as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    text = visible_text(run.stdout)
    assert "Beside the stock build" in text
    assert "py3.7-intel-tf1.15-keras2.2.5 img/s 630 py3.7-tf1.15-keras2.2.5 262 2.40×" in text
    # each cell's card: the matrix's own versions (the intel build in its stock package's place) and its figures
    assert "tensorflow 1.15.2 (intel-tensorflow), keras 2.2.5" in text and "630 img/s" in text
