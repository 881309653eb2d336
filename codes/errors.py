"""The errors of bad input: one family, every class a :class:`ValueError`.

    try:
        tecogan.Upscaler("frvsr", tile=3)
    except tecogan.errors.UserError as err:      # any bad input; also caught by ``except ValueError``
        print(err)                               # one line naming the argument, the value and what was expected

================  ============================================================================
class             raised for
================  ============================================================================
``UserError``     any bad input: a missing or damaged file, a wrong YAML key, a checkpoint that
                  does not fit, an output that is in the way
``OptionError``   an inference option out of range or of the wrong type (``InferenceOptions``)
``JobDamaged``    a resumable job folder whose records cannot be trusted
``LockHeld``      an output another running process is writing (``pid``, ``host``)
``TooFewFrames``  a sequence too short for the official metrics
================  ============================================================================

Messages name the Python API's arguments (``pass overwrite=True to replace it``); the command
lines show their flags instead (``pass --overwrite``): the text is kept in the flags' form, which
are unambiguous tokens, and :data:`API_ARGUMENTS` translates them whenever the message is read
outside a command line (:func:`tecogan.utils.errors.run_cli` marks those).
"""

import contextvars
import re

__all__ = ["UserError", "OptionError", "JobDamaged", "LockHeld", "TooFewFrames", "API_ARGUMENTS"]

# upscale.py's flags (and its positional arguments) -> the Python API's arguments
# (Upscaler(...), Upscaler.upscale_video(src, dst, ...), tecogan.load_generator(...)); a switch
# becomes the keyword that sets it
API_ARGUMENTS = {
    "INPUT": "src",
    "OUTPUT": "dst",
    "--model": "model",
    "--overwrite": "overwrite=True",
    "--no_audio": "audio=False",
    "--deinterlace": "deinterlace=True",
    "--quiet": "quiet=True",
    "--half": "half=True",
    "--codec": "codec",
    "--crf": "crf",
    "--preset": "preset",
    "--pix_fmt": "pix_fmt",
    "--compare": "compare",
    "--fps": "fps",
    "--start": "start",
    "--duration": "duration",
    "--outscale": "outscale",
    "--target_height": "target_height",
    "--target_width": "target_width",
    "--scene_cuts": "scene_cuts",
    "--device": "device",
    "--backend": "backend",
    "--precision": "precision",
    "--tile": "tile",
    "--tile_overlap": "tile_overlap",
    "--threads": "threads",
    "--num_pad_front": "num_pad_front",
    "--padding_mode": "padding_mode",
}
_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9_]*|\b(?:INPUT|OUTPUT)\b")
COMMAND, PYTHON = "command", "python"
# who reads messages now: COMMAND inside a command line, else (PYTHON or None) the Python API
NAMES = contextvars.ContextVar("tecogan_names", default=None)


def for_python(text):
    """``text`` with upscale.py's flags replaced by the API's arguments (:data:`API_ARGUMENTS`)."""
    return _FLAG.sub(lambda m: API_ARGUMENTS.get(m.group(0), m.group(0)), str(text))


def in_command_line():
    return NAMES.get() == COMMAND


class UserError(ValueError):
    """Bad input: reported as one line (a command exits with status 2), never as a traceback.

    ``str(err)`` names the API's arguments; :meth:`for_command` the command line's flags."""

    def for_command(self):
        return super().__str__()

    def __str__(self):
        text = super().__str__()
        return text if in_command_line() else for_python(text)


class OptionError(UserError):
    """An inference option out of its range or of the wrong type (names the option and the value)."""


class JobDamaged(UserError):
    """The job folder's records cannot be trusted (a state or complete.json that does not fit)."""


class LockHeld(UserError):
    """The lock is held by another process (``pid``, ``host`` as its file says)."""

    def __init__(self, message, pid=None, host=None):
        super().__init__(message)
        self.pid, self.host = pid, host


class TooFewFrames(UserError):
    """A sequence shorter than 5 frames: the official procedure has nothing to evaluate."""
