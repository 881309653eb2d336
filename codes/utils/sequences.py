"""Folders of sequences (``<dir>/<sequence>/<frame>.png``) transformed frame by frame into new
folders, written atomically (the data scripts: resize_BD.py, generate_lr_BI.py, bicubic_baseline.py)."""

import os

from tqdm import tqdm

from tecogan.utils.errors import UserError
from tecogan.utils.fileio import list_images, read_image_rgb, write_image_rgb
from tecogan.utils.outputs import SEQUENCES, AtomicFolder, check_outputs


def transform_sequences(
    src_dir, dst_dir, transform, desc="frames", overwrite=False, src_option="--gt_dir", dst_option="--lr_dir"
):
    """Apply ``transform(path, rgb) -> rgb`` to every frame of ``src_dir/<seq>/``, writing
    ``dst_dir/<seq>/<name>.png``; returns the number of sequences.

    ``dst_dir`` is checked first (never an input, an existing one only with ``overwrite``),
    written as a whole into a temporary sibling folder and renamed into place at the end.
    """

    check_outputs([(dst_option, dst_dir, SEQUENCES)], [(src_option, src_dir)], overwrite)
    if not os.path.isdir(src_dir):
        raise UserError(f"{src_dir}: input folder not found (expected {src_dir}/<sequence>/<frame>.png)")
    seqs = sorted(d for d in os.listdir(src_dir) if os.path.isdir(os.path.join(src_dir, d)) and not d.startswith("."))
    if not seqs:
        raise UserError(f"{src_dir}: no sequence folders (expected {src_dir}/<sequence>/<frame>.png)")
    listed = [(seq, list_images(os.path.join(src_dir, seq))) for seq in seqs]  # refuse collisions first
    empty = [seq for seq, names in listed if not names]
    if empty:
        raise UserError(f"{os.path.join(src_dir, empty[0])}: no frames (expected <frame>.png in every sequence folder)")
    with AtomicFolder(dst_dir) as staging:  # a refusal midway leaves nothing at dst_dir
        for seq, names in tqdm(listed, desc=desc, unit="seq", disable=None):
            os.makedirs(os.path.join(staging.tmp, seq), exist_ok=True)
            first = None
            for name in names:
                path = os.path.join(src_dir, seq, name)
                img = read_image_rgb(path)
                first = first or (img.shape, name)
                if img.shape != first[0]:
                    raise UserError(
                        f"{path}: {img.shape[1]}x{img.shape[0]}, but {first[1]} is {first[0][1]}x{first[0][0]} "
                        "(every frame of a sequence must have the same size)"
                    )
                out = os.path.join(staging.tmp, seq, os.path.splitext(name)[0] + ".png")
                write_image_rgb(out, transform(path, img))
    return len(seqs)
