"""Defaults and limits shared by more than one place: each is written here once.

The YAML schema (:mod:`tecogan.experiment`), the inference options (:class:`tecogan.inference.options.InferenceOptions`),
the command lines (their argparse defaults) and the library read these names; nothing restates
the numbers (``tests/test_defaults.py`` greps the package for them).
"""

import os

# the frame-recurrent procedure (test mode, validation, upscale.py, the API)
NUM_PAD_FRONT = 5  # frames run before the first, as the reference's test mode
PADDING_MODES = ("reflect", "replicate")
PADDING_MODE = PADDING_MODES[0]

# the flow network halves a frame three times: every LR frame, tile or crop side is at least this
MIN_LR_SIZE = 8

# tiles: LR pixels per tile side (0: whole frames) and their overlap
TILE = 0
TILE_OVERLAP = 16

# bounds on numbers that size work, checked where they enter (CLI, YAML, API): generous enough for
# 8K frames in tiles and hours-long clips, small enough that a typo cannot hang or exhaust memory
MAX_TILE = 16384
MAX_NUM_PAD_FRONT = 1000
MAX_TILES_PER_FRAME = 4096  # (8K LR frames need 1,200 tiles of 16 px)
MAX_FPS = 1000.0  # --fps
MAX_SECONDS = 10_000_000.0  # --start / --duration (115 days; 1e30 or inf would overflow a timestamp)
MAX_CLIP_FRAMES = 10_000_000  # frames of one sequence or video (46 h at 60 frame/s)
MAX_OUTPUT_SIDE = 16384  # a video encoder's frame side (x264/x265 stop at 16384 or less)
MAX_IMAGE_SIDE = 32768  # pixels, either side of any image read (an 8K frame is 7680x4320)
MAX_IMAGE_PIXELS = 1 << 28  # 268 Mpx (16384 x 16384), 805 MB as 8-bit RGB
MAX_IMAGE_FILE_BYTES = 2 << 30  # 2 GiB: no frame file is larger (a 6 GB sparse PNG is not a frame)
MAX_NF = 1024  # model.generator.nf / --nf (the shipped models: 64)
MAX_NB = 256  # model.generator.nb / --nb (the shipped models: 10 or 16)
MAX_ITER = 100_000_000  # total_iter, start_iter, end_iter, test_freq, log/ckpt_freq, milestones
MAX_TEST_CHECKPOINTS = 10_000  # checkpoints one test series lists ((end_iter - start_iter) / test_freq)
MAX_LIST = 10_000  # entries of a YAML list (milestones, periods, restarts)
MAX_TEMPO_EXTENT = 1000  # train.tempo_extent
MAX_BATCH_SIZE = 65536  # dataset.*.batch_size
MAX_CROP_SIZE = 16384  # dataset.train.crop_size / gt_crop_size
MAX_WORKERS = 256  # num_workers
MAX_BD_SIGMA = 50  # dataset.degradation.sigma, --sigma (HR pixels)
MAX_YAML_NUMBER = 1 << 53  # any YAML number (floats hold integers exactly up to here)
MAX_THREADS = 1024

# a video output's codec when no --codec is given: H.264, except where the container cannot hold
# it (WebM: VP9, as FFmpeg chooses)
VIDEO_CODEC = "h264"
VIDEO_CODEC_BY_EXTENSION = {".webm": "vp9"}

# inference back-ends and memory layout
BACKENDS = ("torch", "openvino")
BACKEND = BACKENDS[0]
CHANNELS_LAST = True  # NHWC: about 2x faster convolutions on CPUs, same numbers

# inference precision (codes/inference/precision.py, docs/precision.md): test mode and validation keep the
# reference's numbers; upscale.py and the API choose the fastest within the measured quality gate.
# $TECOGAN_PRECISION replaces the latter default (fp32: every upscale exact, as test mode); case and
# surrounding spaces do not matter (" FP32 " is fp32), unset or blank is auto, and any other value is
# refused in one line naming the variable where the default is used (tecogan.inference.options.default_precision)
PRECISIONS = ("fp32", "bf16", "int8", "fp16", "auto")
TEST_PRECISION = "fp32"
PRECISION_VARIABLE = "TECOGAN_PRECISION"
UPSCALE_PRECISION_TEXT = os.environ.get(PRECISION_VARIABLE)  # as set, for the message
UPSCALE_PRECISION = (UPSCALE_PRECISION_TEXT or "").strip().lower() or "auto"

# training data: a clip's first frame is, with probability 1 - moving_factor, a moving crop of the
# same frame (the reference's "moving first frame" augmentation); off unless the YAML asks
MOVING_FIRST_FRAME = False
MOVING_FACTOR = 0.7

# the BD degradation: Gaussian blur of this sigma (HR pixels), then every scale-th pixel
BD_SIGMA = 1.5

# upscale.py --scene_cuts (docs/upscale.md "Scene cuts": off from the measurement there); the
# content detector's threshold (PySceneDetect's default) and the shortest shot in frames
SCENE_CUTS = ("on", "off")
SCENE_CUTS_DEFAULT = "off"
SCENE_CUT_THRESHOLD = 27.0
SCENE_CUT_MIN_SHOT = 8

# resumable jobs (upscale.py --resume, docs/upscale.md "Resumable jobs"): frames per segment, each
# encoded on its own (a fresh encoder, a key frame first) and recorded with the recurrent state
# after its last frame; 250 is x264's own key-frame interval, so a plain run's file hardly changes
SEGMENT_FRAMES = 250
# --scene_cuts on: a chunk (the unit of --worker, --shard on one input and --ray) starts at a cut
# once the chunk before it holds this many frames (shorter shots are grouped); a longer shot
# stays one chunk (docs/upscale.md, "One video on many machines")
CHUNK_FRAMES = 250
LEASE_SECONDS = 60  # a chunk's lease: taken over when its holder showed no heartbeat for this long
