"""Where the generated CI jobs get tfpin: recorded from how this tfpin was really installed (pip, PEP 610), so
every install line names a source that exists; a local install is refused with what to pass instead."""
import json
import subprocess
import sys
import venv

import pytest
from conftest import ROOT


def install(tmp_path, name, requirement):
    """A fresh venv with tfpin installed by pip the way a user would (built from source, deps from the index)."""
    env_dir = tmp_path / name
    venv.EnvBuilder(with_pip=True).create(env_dir)
    out = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          requirement], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return env_dir


def ci(env_dir, project, system="github"):
    return subprocess.run([str(env_dir / "bin" / "tfpin"), "ci", system], cwd=project, capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin"})


def digits(tmp_path):
    """examples/digits_tf1 as a user's repository of its own (a git root, so the files go to its top)."""
    import shutil

    project = tmp_path / "digits_tf1"
    shutil.copytree(ROOT / "examples" / "digits_tf1", project, ignore=shutil.ignore_patterns("reports", ".tfpin"))
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    return project


@pytest.fixture(scope="module")
def commit():
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("not a git checkout: %s" % out.stderr.strip())
    return out.stdout.strip()


def test_a_vcs_install_is_pinned_to_its_commit_and_the_line_resolves(tmp_path, commit):
    url = "git+file://%s@%s" % (ROOT, commit)
    env_dir = install(tmp_path, "vcs", url)
    project = digits(tmp_path)
    yaml = pytest.importorskip("yaml")
    for system, written, where in (("github", ".github/workflows/tfpin.yml", "env"), ("gitlab", ".gitlab-ci.yml",
                                                                                   "variables")):
        out = ci(env_dir, project, system)
        assert out.returncode == 0, out.stdout + out.stderr
        assert yaml.safe_load((project / written).read_text())[where]["TFPIN_REQUIREMENT"] == url
    requirement = url
    fetched = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check",
                              "-d", str(tmp_path / "dl"), requirement], capture_output=True, text=True, timeout=600)
    assert fetched.returncode == 0, fetched.stderr[-2000:]  # the line names a source that exists


def test_a_local_directory_install_is_refused_saying_what_to_pass(tmp_path):
    env_dir = install(tmp_path, "local", str(ROOT))
    direct = next((env_dir / "lib").glob("python*/site-packages/tfpin-*.dist-info/direct_url.json"))
    assert json.loads(direct.read_text())["url"].startswith("file:")
    for system in ("github", "gitlab"):
        out = ci(env_dir, digits(tmp_path / system), system)
        assert out.returncode == 2
        assert "a local directory a CI runner cannot reach; pass --tfpin <requirement>" in out.stderr
