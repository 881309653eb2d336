"""The child process of one job: ``python -m tecogan.ui.child PARENT_PID UPSCALE_ARGS...``.

It asks the kernel for SIGTERM when the app's thread that started it ends (Linux ``prctl``), so
a killed app does not leave a job running that the next start could not take over; SIGTERM stops
upscale.py cleanly, keeping its finished segments for ``--resume``.  Then it is upscale.py.
"""

import ctypes
import os
import signal
import sys

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
