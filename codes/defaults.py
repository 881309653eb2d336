"""Defaults and limits shared by more than one place: each is written here once.

The YAML schema (:mod:`tecogan.config`), the inference options (:class:`tecogan.options.InferenceOptions`),
the command lines (their argparse defaults) and the library read these names; nothing restates
the numbers (``tests/test_defaults.py`` greps the package for them).
"""

# the frame-recurrent procedure (test mode, validation, upscale.py, the API)
NUM_PAD_FRONT = 5                       # frames run before the first, as the reference's test mode
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
MAX_TILES_PER_FRAME = 4096              # (8K LR frames need 1,200 tiles of 16 px)
MAX_THREADS = 1024

# inference back-ends and memory layout
BACKENDS = ("torch", "openvino")
BACKEND = BACKENDS[0]
CHANNELS_LAST = True                    # NHWC: about 2x faster convolutions on CPUs, same numbers

# training data: a clip's first frame is, with probability 1 - moving_factor, a moving crop of the
# same frame (the reference's "moving first frame" augmentation); off unless the YAML asks
MOVING_FIRST_FRAME = False
MOVING_FACTOR = 0.7

# the BD degradation: Gaussian blur of this sigma (HR pixels), then every scale-th pixel
BD_SIGMA = 1.5
