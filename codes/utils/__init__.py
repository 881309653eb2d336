"""Shared helpers: errors, file I/O, checkpoints, devices."""

import os

# OpenCV's image decoders print their own messages ("libpng error: ...") on stderr; the
# project reports unreadable files itself, in one line.
os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
