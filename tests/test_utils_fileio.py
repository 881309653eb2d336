"""utils/fileio.py: reading frames.  Pixel bombs (a 60000x60000 PNG header, a 6 GB sparse PNG)
are refused from the header and the file size before any decoder sees them; JPEG and BMP headers
are read; /dev/zero, /dev/urandom and FIFOs are "not a regular file"; EXIF orientation is applied;
a clip's length is bounded.
"""

import os
import struct
import zlib

import cv2
import numpy as np
import pytest
from helpers import assert_one_line, tree_hash, upscale_in_process, write_frames

from tecogan.utils.errors import UserError

up = upscale_in_process


def png_header_only(path, w, h):
    """A small PNG file whose header declares a w x h RGB image (a pixel bomb's first bytes)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\0" * 1000)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


# ---------------------------------------------------------------- images ---
def test_pixel_bomb_png_is_refused_from_its_header(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in", n=1)
    png_header_only(tmp_path / "in" / "0001.png", 60000, 60000)
    before = tree_hash(tmp_path)
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu")
    assert_one_line(status, err, "0001.png", "60000x60000")
    assert tree_hash(tmp_path) == before


def test_sparse_6gb_png_is_refused_by_its_size(tmp_path):
    from tecogan.utils.fileio import read_image_rgb

    path = tmp_path / "0000.png"
    png_header_only(path, 16, 16)
    os.truncate(path, 6 << 30)  # sparse: no disk used
    with pytest.raises(UserError, match=r"0000.png: 6442450944 bytes, larger than any frame"):
        read_image_rgb(str(path))


def test_jpeg_and_bmp_headers_are_read():
    from tecogan.utils.fileio import image_header_size

    img = np.zeros((21, 37, 3), np.uint8)
    for ext in (".jpg", ".bmp", ".png"):
        ok, buf = cv2.imencode(ext, img)
        assert image_header_size(buf.tobytes()) == (37, 21), ext


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo"])
def test_special_files_are_not_regular_files(tmp_path, special):
    from tecogan.experiment import load_config
    from tecogan.utils.checkpoint import load_state_dict_file
    from tecogan.utils.fileio import read_image_rgb

    if special == "fifo":
        special = str(tmp_path / "x.png")
        os.mkfifo(special)
    for load, what in ((read_image_rgb, "image file"), (load_state_dict_file, "checkpoint file"), (load_config, "config file")):
        with pytest.raises(UserError, match="not a regular file") as err:
            load(special)
        assert special in str(err.value) and what in str(err.value)


def test_fifo_frame_in_an_input_folder(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in", n=2)
    os.mkfifo(tmp_path / "in" / "0002.png")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu")
    assert_one_line(status, err, "0002.png", "not a regular file (a FIFO")
    assert not (tmp_path / "out").exists()


def _jpeg_with_orientation(path, img, orientation):
    """A JPEG whose EXIF says how to turn it (6: rotate 90 degrees clockwise to view)."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 100])
    data = buf.tobytes()
    tiff = (
        b"MM\x00\x2a\x00\x00\x00\x08"
        + b"\x00\x01"
        + b"\x01\x12\x00\x03\x00\x00\x00\x01"
        + struct.pack(">H", orientation)
        + b"\x00\x00"
        + b"\x00\x00\x00\x00"
    )
    app1 = b"Exif\x00\x00" + tiff
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:])


def test_jpeg_exif_orientation_is_applied(tmp_path):
    from tecogan.utils.fileio import read_image_rgb

    img = np.zeros((16, 32, 3), np.uint8)
    img[:, :8] = 255  # a white band on the left
    _jpeg_with_orientation(tmp_path / "a.jpg", img, 6)
    out = read_image_rgb(str(tmp_path / "a.jpg"))
    assert out.shape == (32, 16, 3)  # turned upright as the EXIF says
    assert out[:8].mean() > 200 and out[-8:].mean() < 50  # the band is now on top
    _jpeg_with_orientation(tmp_path / "b.jpg", img, 1)
    assert read_image_rgb(str(tmp_path / "b.jpg")).shape == (16, 32, 3)


def test_clip_length_is_bounded(tmp_path, monkeypatch):
    from tecogan.utils import fileio

    write_frames(tmp_path / "in", n=3)
    monkeypatch.setattr(fileio, "MAX_CLIP_FRAMES", 2)
    with pytest.raises(UserError, match="3 frames, more than the 2 of one sequence"):
        fileio.list_images(str(tmp_path / "in"))
