"""One-line user-facing errors.

Every command-line entry point runs its `main` through :func:`run_cli`.  Code that
detects bad input (a missing file, a wrong YAML key, a checkpoint of the wrong shape)
raises :class:`UserError` with a message that names the culprit and what was expected.
`run_cli` prints that message as a single line on stderr and exits with status 2;
a Python traceback is shown only when ``--debug`` is on the command line (or
``TECOGAN_DEBUG=1`` is set).
"""
import os
import sys


class UserError(Exception):
    """Bad input from the user: reported as one line, never as a traceback."""


def warn(message):
    """Print a one-line warning on stderr."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def debug_enabled(argv=None):
    argv = sys.argv if argv is None else argv
    return "--debug" in argv or os.environ.get("TECOGAN_DEBUG", "") not in ("", "0")


def run_cli(main, argv=None):
    """Run ``main()`` and turn errors into one clear line plus a non-zero exit."""
    debug = debug_enabled(argv)
    try:
        code = main()
    except UserError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:
        if debug:
            raise
        print("error: interrupted", file=sys.stderr, flush=True)
        sys.exit(130)
    sys.exit(code or 0)
