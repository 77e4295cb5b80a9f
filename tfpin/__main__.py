"""`python -m tfpin` / `tfpin`: parse the command line (tfpin/cli.py), make the console the run speaks through
(tfpin/report/console.py: the CLI owns it, the library never prints), and dispatch to the command's handler
(tfpin/commands.py); bad input exits 2, a signal 130/143, from whichever step it reached."""
from __future__ import annotations

import sys

from tfpin import procs
from tfpin.cell.status import EXIT_USAGE
from tfpin.cli import parser
from tfpin.config import matrix as matrices
from tfpin.config import project as projects
from tfpin.config.inputs import UsageError
from tfpin.events import Problem
from tfpin.files import Unwritable
from tfpin.report.console import Console


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough = None
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]
    args = parser().parse_args(argv)
    args.passthrough = passthrough
    console = Console(getattr(args, "view", "normal"))
    procs.install_signal_handlers()
    try:
        return args.func(args, console)
    except (matrices.MatrixError, projects.ProjectError, UsageError) as exc:
        console.emit(Problem("error: %s" % exc))
        return EXIT_USAGE
    except procs.Interrupted as exc:  # any command, any step: 130 for SIGINT, 143 for SIGTERM
        procs.stop_all(exc.code, exc.name)
        console.emit(Problem("interrupted by %s during `tfpin %s`" % (exc.name, args.command)))
        return exc.code
    except Unwritable as exc:  # a full or read-only reports directory, from any step: said, never a traceback
        procs.stop_all(1, "an output could not be written")
        console.emit(Problem("error: %s" % exc))
        return 1
    except BrokenPipeError:  # `tfpin list | head`: the reader has what it wanted
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
