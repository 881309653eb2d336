"""What a run prints besides its result: quiet runs and other libraries' chatter.

:func:`quiet` marks a block (``upscale.py --quiet``, ``upscale_video(..., quiet=True)``) in which
information lines (``auto:``'s choice) and other libraries' progress (NNCF's calibration bars,
:func:`third_party_output`) are left out; warnings, errors and the final line stay.

:func:`silence_third_party` drops, in every mode, a banner no user can act on: the
``No CUDA runtime is found, using CUDA_HOME=...`` warning torch logs when NNCF imports its C++
extension loader on a machine with a CUDA toolkit and no GPU.  (SVT-AV1's ``Svt[info]`` banner:
:mod:`tecogan.video.writing`; x265's log level: :data:`tecogan.video.codecs.CODECS`.)
"""

import contextlib
import contextvars
import logging
import os

_QUIET = contextvars.ContextVar("tecogan_quiet", default=False)


def is_quiet():
    """Whether a :func:`quiet` block is running."""
    return _QUIET.get()


@contextlib.contextmanager
def quiet(on=True):
    """Inside (when ``on``): no information lines and no third-party progress."""
    token = _QUIET.set(True) if on else None
    try:
        yield
    finally:
        if token is not None:
            _QUIET.reset(token)


@contextlib.contextmanager
def third_party_output():
    """Around a call into another library: what it prints on stdout (rich progress bars) goes
    nowhere inside a :func:`quiet` block, and as usual outside one."""
    if not is_quiet():
        yield
        return
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        yield


class _DropMessage(logging.Filter):
    """Drops the records whose message starts with ``start``."""

    def __init__(self, start):
        super().__init__()
        self.start = start

    def filter(self, record):
        return not str(record.msg).startswith(self.start)


# logger -> the start of the one message dropped from it
BANNERS = {"torch.utils.cpp_extension": "No CUDA runtime is found"}


def silence_third_party():
    """Install the filters of :data:`BANNERS` (once; before the libraries that log them load)."""
    for name, start in BANNERS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessage) and f.start == start for f in logger.filters):
            logger.addFilter(_DropMessage(start))
