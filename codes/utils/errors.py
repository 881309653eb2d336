"""One-line user-facing errors.

Every command-line entry point runs its `main` through :func:`run_cli`.  Code that
detects bad input (a missing file, a wrong YAML key, a checkpoint of the wrong shape)
raises :class:`UserError` with a message that names the culprit and what was expected.
`run_cli` prints that message as a single line on stderr and exits with status 2;
a Python traceback is shown only when ``--debug`` is on the command line (or
``TECOGAN_DEBUG=1`` is set).

`run_cli` is also the one place where faults of the machine become one line: argparse
mistakes, a full or read-only disk (``OSError``), running out of memory (with the
command's hint, e.g. ``--tile N``) and, as a last resort, any other exception.  SIGTERM
is turned into an exception like Ctrl-C, so that ``finally`` blocks remove temporary
files; both end with status 128 + the signal number (130, 143).  Only the first signal
interrupts: further Ctrl-C presses (or SIGTERMs) while the command stops and removes its
temporaries are ignored, so quick repeated presses never print a traceback, leave a
temporary behind or end the process by SIGINT instead of status 130.

Messages name the Python API's arguments (``pass overwrite=True to replace it``); inside a
command line (:func:`command_line`, set by :func:`run_cli`) they name its flags (``pass
--overwrite``): :mod:`tecogan.errors` holds the error family and the table of the two.
"""

import argparse
import contextlib
import errno
import logging
import os
import reprlib
import signal
import sys
import time

from tecogan.errors import (  # noqa: F401 - the family's home is tecogan.errors; re-exported for 1.2's imports
    API_ARGUMENTS,
    COMMAND,
    NAMES,
    UserError,
    for_python,
    in_command_line,
)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM (like KeyboardInterrupt for SIGINT)."""

    def __init__(self, signum=signal.SIGTERM):
        super().__init__(signum)
        self.signum = signum


def warn(message):
    """Print a one-line warning on stderr (inside the Python API: naming its arguments)."""
    if not in_command_line():
        message = for_python(message)
    print(f"warning: {one_line(message)}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def command_line():
    """Inside: messages name the command line's flags (set by :func:`run_cli`); outside, the API's
    arguments (:class:`tecogan.errors.UserError`)."""
    token = NAMES.set(COMMAND)
    try:
        yield
    finally:
        NAMES.reset(token)


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxdict = 6
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlong = 40


def short(value, limit=80):
    """``repr(value)`` cut to about ``limit`` characters, computed in bounded time (never
    walks more than a few levels and items of a container, whatever its real size)."""
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(text, limit=2000):
    """A message on one line (newlines folded), cut in the middle to ``limit`` characters
    (the start names the culprit, the end says what to do)."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    half = (limit - 5) // 2
    return text[:half] + " ... " + text[-half:]


def env_flag(name):
    """Whether the switch ``$name`` is on: unset, blank, 0, false, no and off (any case, spaces
    aside) are off, any other value on."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def debug_enabled(argv=None):
    argv = sys.argv if argv is None else argv
    return "--debug" in argv or env_flag("TECOGAN_DEBUG")


_OS_HINTS = {
    errno.ENOSPC: "the disk is full: free some space or write elsewhere; earlier outputs were kept",
    errno.EDQUOT: "the disk quota is exceeded: free some space or write elsewhere; earlier outputs were kept",
    errno.EFBIG: "the file is too large for this file system or a file-size limit",
    errno.EROFS: "the file system is read-only: choose another output folder",
    errno.EACCES: "permission denied: choose another output folder or fix its permissions",
    errno.EPERM: "operation not permitted: choose another output folder or fix its permissions",
    errno.EISDIR: "a folder is in the way of a file",
    errno.ENOTDIR: "a file is in the way of a folder",
    errno.EMFILE: "too many open files",
}


def describe_os_error(err):
    """One line for an OSError: the file it names, the system's words, a hint."""
    where = err.filename if err.filename is not None else None
    what = err.strerror or str(err) or type(err).__name__
    hint = _OS_HINTS.get(err.errno)
    text = f"{what} ({hint})" if hint else what
    return f"{os.fsdecode(where)}: {text}" if where is not None else text


_OOM_WORDS = (
    "out of memory",
    "can't allocate memory",
    "cannot allocate memory",
    "defaultcpuallocator",
    "bad_alloc",
    "insufficient memory",
)


def is_out_of_memory(err):
    if isinstance(err, MemoryError):
        return True
    return isinstance(err, RuntimeError) and any(w in str(err).lower() for w in _OOM_WORDS)


def _one_line_argparse_error(self, message):
    """argparse's ``error`` on one line (the usage is a --help away)."""
    self.exit(2, f"error: {one_line(message)} (usage: {self.prog} --help)\n")


class _FirstSignalInterrupts:
    """SIGINT/SIGTERM handler: the first signal raises (KeyboardInterrupt / :class:`Terminated`),
    later ones are ignored while the command stops (its clean-up must not be cut short), for
    ``GRACE_S`` seconds; after that a signal goes to the previous handler again (a clean-up
    that hangs can still be interrupted, and a process that goes on, a test runner, gets its
    own Ctrl-C back)."""

    GRACE_S = 30.0

    def __init__(self):
        self.since = None
        self.by_signal = False
        self.old = {}

    @property
    def stopping(self):
        return self.since is not None

    def stop(self):
        if self.since is None:
            self.since = time.monotonic()

    def __call__(self, signum, frame):
        if self.since is not None:
            if time.monotonic() - self.since < self.GRACE_S:
                return
            old = self.old.get(signum)
            if callable(old):
                return old(signum, frame)
            raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)
        self.stop()
        self.by_signal = True
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)


def exit_on_early_interrupt():
    """For a command's first second or two, while torch loads, before :func:`run_cli` takes the
    signals over: SIGINT/SIGTERM print one line and exit (128 + the signal), not an import's
    traceback.  Nothing is written yet, so there is nothing to clean up."""

    def handler(signum, _frame):
        os.write(2, f"error: interrupted by {signal.Signals(signum).name}\n".encode())
        os._exit(128 + signum)

    _install(handler)


def _install(handler):
    """``{signum: old handler}`` for SIGINT and SIGTERM ({} outside the main thread)."""
    old = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            old[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread
            return old
    return old


def run_cli(main, argv=None, oom_hint=None):
    """Run ``main()`` and turn errors into one clear line plus a non-zero exit.

    ``oom_hint``: what to try when the machine runs out of memory (e.g. ``--tile 128``).
    """
    debug = debug_enabled(argv)
    try:  # names that are not valid UTF-8 must print, not crash the command
        sys.stdout.reconfigure(errors="backslashreplace")
        sys.stderr.reconfigure(errors="backslashreplace")
    except (AttributeError, ValueError):
        pass
    logging.raiseExceptions = False  # a log line that cannot be written (full disk) is not a traceback
    old_error = argparse.ArgumentParser.error
    argparse.ArgumentParser.error = _one_line_argparse_error
    interrupts = _FirstSignalInterrupts()
    old_handlers = interrupts.old = _install(interrupts)
    message, status = None, 0
    try:
        with command_line():
            status = main() or 0
    except UserError as err:
        if debug:
            raise
        message, status = one_line(err.for_command()), 2
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM (Terminated)
        interrupts.stop()
        if debug:
            raise
        signum = getattr(err, "signum", signal.SIGINT)
        message, status = f"interrupted by {signal.Signals(signum).name}", 128 + signum
    except OSError as err:
        if debug:
            raise
        message, status = one_line(describe_os_error(err)), 2
    except Exception as err:  # noqa: BLE001 - the last resort: one line, never a traceback
        if debug:
            raise
        if is_out_of_memory(err):
            message = "out of memory" + (f": {oom_hint}" if oom_hint else " (try smaller inputs)")
        elif isinstance(err, RecursionError):
            message = "input nested too deeply (recursion limit reached)"
        else:
            message = f"unexpected {type(err).__name__}: {one_line(err, 240)} (run with --debug for the traceback)"
        status = 2
    finally:
        argparse.ArgumentParser.error = old_error
    if message is not None:
        print(f"error: {message}", file=sys.stderr, flush=True)
    for signum, handler in old_handlers.items():
        # stopped by a signal: later ones are ignored up to the end (Python's finalisation would
        # restore the default action, and a late press would end the process by SIGINT)
        signal.signal(signum, signal.SIG_IGN if interrupts.by_signal else handler)
    sys.exit(status)
