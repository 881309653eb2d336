"""The child process of one job: ``python codes/ui/child.py PARENT_PID UPSCALE_ARGS...``.

Started as this file (not ``-m tecogan.ui.child``), so that it runs the app's own code: a clone's
app with another copy of the package installed would otherwise run the installed one.

It asks the kernel for SIGTERM when the app's thread that started it ends (Linux ``prctl``), so
a killed app does not leave a job running that the next start could not take over; SIGTERM stops
upscale.py cleanly, keeping its finished segments for ``--resume``.  Then it is upscale.py.
"""

import ctypes
import os
import signal
import sys

if not __package__:  # run as a file (the app starts it so): this clone as the package `tecogan`
    import runpy

    runpy.run_path(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_clone.py"))

from tecogan.upscale import cli

PR_SET_PDEATHSIG = 1


def main():
    parent = int(sys.argv.pop(1))
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the app ended before the request took effect
        sys.exit(128 + signal.SIGTERM)
    sys.argv[0] = "upscale.py"
    cli()


if __name__ == "__main__":
    main()
