"""Inference backends for one generator step: PyTorch (the default and the reference) or OpenVINO.

``openvino`` converts the whole step (for an FRNet: FNet, warping, SRNet, bicubic skip) with
``openvino.convert_model`` and runs it with OpenVINO's CPU kernels (about 1.1-1.25x faster than
PyTorch's per step on a 2-core AVX2 EPYC, mostly in the stride-2 transposed convolutions
and the fused activations).  Outputs agree with PyTorch's within float32 noise
(tests/test_inference_backends.py).

The model is converted from the network's weights *at construction* (a snapshot: later
changes to the PyTorch weights are not seen) and compiled once per input size (static
shapes: about 0.2 s each).  Conversion takes a few seconds, so the converted model is cached
on disk (:func:`model_cache_dir`, keyed by :func:`model_key`): later runs with the same
weights read it in about 0.1 s.  Each cached model is checked against the SHA-256 of its files
recorded when it was converted (``<key>.json``): one replaced or damaged since is converted
again.  Precision is pinned to float32 so that CPUs with bf16/AMX units do not silently change
the numbers; ``precision`` asks for a lower one
(:mod:`tecogan.inference.precision`): ``bf16``/``fp16`` convert a copy of the network whose convolution
trunk is in that type (the generator's ``low_precision``; for an FRNet the flow head, warp and upsampler
stay float32), ``int8`` quantizes the converted
model with NNCF (:func:`quantize_int8`). Each is cached under its own key.

OpenVINO's thread pool does not survive ``fork()``: do not fork worker processes (e.g. a
DataLoader with ``num_workers > 0`` and the default fork start method) in a process that has
run this backend.  The project's commands never do (training does not load OpenVINO).
"""

import contextlib
import glob
import hashlib
import inspect
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np
import torch

import tecogan.ops.upsample as upsample
import tecogan.ops.warp as warp
from tecogan import defaults
from tecogan.inference.precision import DTYPES, low_precision_copy
from tecogan.ops.degradation import degrade_bd
from tecogan.ops.imresize import imresize
from tecogan.utils.errors import UserError, warn
from tecogan.utils.fileio import read_image_rgb
from tecogan.utils.hashing import file_sha256, update_with_tensors
from tecogan.utils.telemetry import decline_telemetry
from tecogan.utils.verbosity import silence_third_party, third_party_output

BACKENDS = defaults.BACKENDS  # stated once, in defaults


def check_backend(backend, device):
    """Validate a backend name for a torch.device; raises UserError with the fix."""
    if backend not in BACKENDS:
        raise UserError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "openvino":
        if device.type != "cpu":
            raise UserError(
                f"backend openvino runs on the CPU, but the device is {device}; "
                f"use --device cpu, or the torch backend on {device}"
            )
        _import_openvino()


def _import_openvino():
    decline_telemetry()  # before openvino is imported: nothing may be sent from here on
    silence_third_party()  # before its converter imports nncf.torch (torch's CUDA banner)
    try:  # lazy: openvino is an optional, heavy backend (0.5 s to import), loaded only when asked for
        import openvino
    except ImportError as e:
        raise UserError(
            f"backend openvino: the openvino package is not importable ({e}); install it with: pip install openvino"
        ) from None
    return openvino


class OpenVINOStep:
    """``step(lr_curr, lr_prev, hr_prev) -> hr_curr`` of a generator (networks/generator.py) through OpenVINO.

    Tensors are float32 CPU (n, c, h, w) / (n, c, s*h, s*w), any memory format; the output
    is NCHW-contiguous float32.  ``num_threads`` defaults to ``torch.get_num_threads()``;
    ``precision``: fp32, bf16, fp16 or int8 (checked by the caller: tecogan.inference.precision).
    """

    def __init__(self, net, num_threads=None, precision="fp32"):
        ov = _import_openvino()
        self.net, self.precision = net, precision
        self.scale, self.in_nc = net.scale, net.in_nc
        # f32: the precisions are the graph's own (a bf16/fp16 trunk stays so; the rest float32)
        self.config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
            "INFERENCE_NUM_THREADS": int(num_threads or torch.get_num_threads()),
        }
        self._core = ov.Core()
        self._model, self.cache_path = None, None
        cache_dir = model_cache_dir()
        key = model_key(net, ov.__version__)
        if precision == "int8":
            key += "-int8-" + hashlib.sha256(f"{_nncf_version()} {INT8_RECIPE}".encode()).hexdigest()[:8]
        elif precision != "fp32":
            key += "-" + precision
        if cache_dir:
            self.cache_path = os.path.join(cache_dir, key + ".xml")
            self._model = _read_cached(self._core, self.cache_path)
        self.from_cache = self._model is not None
        if self._model is None:
            if precision in ("bf16", "fp16"):
                self._model = self._convert(ov, low_precision_copy(net, DTYPES[precision]))
            else:
                self._model = self._convert(ov, net)
            if precision == "int8":
                self._model = quantize_int8(self._model, net)
            if self.cache_path:
                _write_cached(ov, self._model, self.cache_path)
            self._model = _read_back(ov, self._core, self._model, self.cache_path)
        self._requests = {}

    def _convert(self, ov, net):
        c, s = self.in_nc, self.scale
        example = (torch.zeros(1, c, 16, 16), torch.zeros(1, c, 16, 16), torch.zeros(1, c, 16 * s, 16 * s))
        with _quiet(), torch.no_grad():
            return ov.convert_model(
                net, example_input=example, input=[ov.PartialShape([-1, c, -1, -1])] * 3, share_weights=False
            )  # a snapshot, not views of the tensors

    def request(self, n, h, w):
        """The infer request compiled for n frames of h x w LR pixels (cached per size)."""
        key = (n, h, w)
        if key not in self._requests:
            c, s = self.in_nc, self.scale
            model = self._model.clone()
            model.reshape({model.inputs[0]: [n, c, h, w], model.inputs[1]: [n, c, h, w], model.inputs[2]: [n, c, s * h, s * w]})
            self._requests[key] = self._core.compile_model(model, "CPU", self.config).create_infer_request()
        return self._requests[key]

    def __call__(self, lr_curr, lr_prev, hr_prev):
        n, _, h, w = lr_curr.shape
        inputs = [t.contiguous().numpy() for t in (lr_curr, lr_prev, hr_prev)]
        return torch.from_numpy(self.request(n, h, w).infer(inputs)[0])


def model_cache_dir():
    """Where converted models are kept: $TECOGAN_CACHE_DIR (empty or blank: no cache; ``~``
    expanded), else $XDG_CACHE_HOME/tecogan/openvino (an absolute path, as the XDG specification
    asks; a relative one is ignored) or ~/.cache/tecogan/openvino."""
    if "TECOGAN_CACHE_DIR" in os.environ:
        return os.path.expanduser(os.environ["TECOGAN_CACHE_DIR"].strip()) or None
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tecogan", "openvino")


def model_key(net, openvino_version):
    """SHA-256 of everything the converted graph depends on: the weights and buffers, the
    architecture, the source of the network and its ops, and the torch/OpenVINO versions."""

    digest = hashlib.sha256()
    digest.update(repr((type(net).__qualname__, sorted(net.arch().items()), torch.__version__, openvino_version)).encode())
    for module in _source_modules(net):
        try:
            digest.update(inspect.getsource(module).encode())
        except (OSError, TypeError):  # no source file (a class made at run time): its name stands in
            digest.update(module.__name__.encode())
    return update_with_tensors(digest, net.state_dict()).hexdigest()[:32]


def _source_modules(net):
    """The modules whose source the step runs: those defining the network's classes (its own, its
    bases', its submodules'; PyTorch's left out) and the ops the project's generators warp and
    upsample with, each once, in a fixed order."""
    names = {cls.__module__ for m in net.modules() for cls in type(m).__mro__}
    names = sorted(n for n in names if n.split(".")[0] not in ("torch", "builtins", "abc"))
    found = {n: sys.modules[n] for n in names if n in sys.modules}
    found.update({m.__name__: m for m in (upsample, warp)})
    return list(found.values())


CACHE_RECORD_VERSION = 1


def _file_facts(path):
    return {"bytes": os.path.getsize(path), "sha256": file_sha256(path)}


def _cache_record(path):
    """What the cache records beside ``<key>.xml``: its key and each file's size and SHA-256."""
    return {
        "version": CACHE_RECORD_VERSION,
        "key": os.path.basename(path)[:-4],
        "xml": _file_facts(path),
        "bin": _file_facts(path[:-4] + ".bin"),
    }


def _read_cached(core, path):
    """The cached model, or None when absent, not the one converted (the files' SHA-256 against
    the record written with them) or unreadable: it is then converted again (one warning for a
    replaced or damaged entry; none for an entry without a record, from before records or cut
    short while written)."""
    record_path = path[:-4] + ".json"
    if not (os.path.isfile(path) and os.path.isfile(path[:-4] + ".bin") and os.path.isfile(record_path)):
        return None
    try:
        with open(record_path, encoding="utf-8") as f:
            record = json.load(f)
        if record != _cache_record(path):
            warn(
                f"{path}: the cached OpenVINO model is not the one converted (its files differ from the SHA-256 "
                f"recorded in {os.path.basename(record_path)}: replaced or damaged); converting again"
            )
            return None
    except (OSError, ValueError) as e:
        warn(f"{record_path}: unreadable record of a cached OpenVINO model ({type(e).__name__}); converting again")
        return None
    try:
        return core.read_model(path)
    except Exception as e:  # a damaged cache entry costs a conversion, not the run
        warn(f"{path}: unreadable cached OpenVINO model ({type(e).__name__}); converting again")
        return None


def _write_cached(ov, model, path):
    """Saves under temporary names with the record of the files' SHA-256, then renames (.bin,
    .xml, then the record: readers use an entry only with a record that matches its files)."""
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=folder)
        try:
            ov.save_model(model, os.path.join(tmp, "model.xml"), compress_to_fp16=False)
            record = _cache_record(os.path.join(tmp, "model.xml"))
            record["key"] = os.path.basename(path)[:-4]
            with open(os.path.join(tmp, "model.json"), "w", encoding="utf-8") as f:
                json.dump(record, f, indent=1)
            if os.path.exists(path[:-4] + ".json"):
                os.remove(path[:-4] + ".json")  # the old record goes first: never beside the new files
            os.replace(os.path.join(tmp, "model.bin"), path[:-4] + ".bin")
            os.replace(os.path.join(tmp, "model.xml"), path)
            os.replace(os.path.join(tmp, "model.json"), path[:-4] + ".json")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except (OSError, RuntimeError) as e:  # a full disk: OpenVINO's writer says "basic_ios::clear"
        detail = getattr(e, "strerror", None) or " ".join(str(e).split())[:120] or type(e).__name__
        warn(
            f"{folder}: cannot cache the converted OpenVINO model ({detail}; a full disk?); continuing "
            f"without the cache; set TECOGAN_CACHE_DIR to a writable folder (or empty to not cache)"
        )


def _read_back(ov, core, model, cache_path):
    """``model`` as a later run reads it from the cache: OpenVINO compiles a model read from its
    IR files a little differently from the one in memory (int8 54-57 dB apart, bf16 61 dB), so a
    first run and a resumed one would not give the same frames.  From the cache entry just
    written, else through a temporary folder; where neither can be written, the model in memory
    (with a warning: its frames may differ a little from a later run's)."""
    if cache_path:
        cached = _read_cached(core, cache_path)
        if cached is not None:
            return cached
    try:
        tmp = tempfile.mkdtemp(prefix="tecogan-ov-")
        try:
            ov.save_model(model, os.path.join(tmp, "model.xml"), compress_to_fp16=False)
            return core.read_model(os.path.join(tmp, "model.xml"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except (OSError, RuntimeError) as e:
        detail = getattr(e, "strerror", None) or " ".join(str(e).split())[:120] or type(e).__name__
        warn(
            f"cannot write the converted OpenVINO model to a temporary folder ({detail}); using it as converted, "
            "so its frames may differ slightly from those of a run that reads it from the cache"
        )
        return model


@contextlib.contextmanager
def _quiet():
    """Tracing warnings (shape-dependent Python branches) are expected: sizes are static per compile."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


CALIBRATION_FRAMES = 6  # per bundled clip
# the frames int8 calibrates on travel with the package (a wheel has no demo/): calibration/README.md
CALIBRATION_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calibration")
CALIBRATION_CLIPS = ("bedroom", "blocks", "cups", "dog", "coffee")  # the order NNCF sees them in


def _nncf_version():
    decline_telemetry()
    silence_third_party()
    try:
        import nncf  # optional: see quantize_int8
    except ImportError as e:
        raise UserError(f"precision int8: the nncf package is not importable ({e}); install it with: pip install nncf") from None
    return nncf.__version__


def calibration_inputs(net, frames_per_clip=None):
    """Recurrent step inputs ``(lr_curr, lr_prev, hr_prev)`` (float32 numpy) for int8 calibration:
    :data:`CALIBRATION_CLIPS` (package data: the first frames of the demo clips) made low-res like the network's training
    data (BD: Gaussian blur + subsampling; BI: bicubic imresize), run through the network in
    float32 from a zero state."""
    clips = [os.path.join(CALIBRATION_DIR, name) for name in CALIBRATION_CLIPS]
    missing = [c for c in clips if not os.path.isdir(c)]
    if missing:
        raise UserError(
            f"{missing[0]}: a clip of the int8 calibration frames is missing (package data of "
            f"tecogan.inference); reinstall the package, or use precision bf16/fp32"
        )
    s = net.scale
    samples = []
    net = net.cpu().eval()
    frames_per_clip = frames_per_clip or CALIBRATION_FRAMES
    for clip in clips:
        lr_prev = hr_prev = None
        for path in sorted(glob.glob(os.path.join(clip, "*.png")))[:frames_per_clip]:
            gt = read_image_rgb(path)
            lr = degrade_bd(gt, 1.5, s) if net.degradation == "BD" else imresize(gt, 1.0 / s)
            lr = torch.from_numpy(np.ascontiguousarray(lr)).permute(2, 0, 1)[None].float() / 255.0
            if lr_prev is None or lr_prev.shape != lr.shape:
                lr_prev, hr_prev = torch.zeros_like(lr), torch.zeros(1, 3, s * lr.shape[2], s * lr.shape[3])
            samples.append((lr.numpy(), lr_prev.numpy(), hr_prev.numpy()))
            with torch.inference_mode():
                lr_prev, hr_prev = lr, net(lr, lr_prev, hr_prev)
    return samples


# what quantize_int8 makes, in the int8 cache key: a cached model of an earlier recipe is made again
INT8_RECIPE = "frames-float"


def quantize_int8(model, net):
    """NNCF post-training quantization of a converted OpenVINO generator, calibrated on the bundled
    footage; the layers the generator names in ``int8_float32`` (node-name patterns) stay float32.
    NNCF's progress bars show unless the run is quiet."""
    _nncf_version()
    import nncf  # optional (precision int8), heavy: loaded when int8 is asked for

    logging.getLogger("nncf").setLevel(logging.ERROR)
    samples = calibration_inputs(net)
    with _quiet(), third_party_output():
        quantized = nncf.quantize(
            model,
            nncf.Dataset(samples),
            preset=nncf.QuantizationPreset.PERFORMANCE,
            subset_size=len(samples),
            fast_bias_correction=True,
            ignored_scope=nncf.IgnoredScope(patterns=list(net.int8_float32), validate=False),
        )
    return frames_float(quantized)


def frames_float(model):
    """Drop the fake quantizers NNCF puts on the frames themselves: on the inputs (the low-res
    frame before the bilinear upsampler) and on the inputs of the op that makes each output (the
    residual plus the upsampled frame).  Their ranges came from the calibration frames, so bright
    pixels were clipped (at 246-248 of 255) and the residual rounded to 8 bits; the upsampler and
    the elementwise add gain nothing from int8."""
    for parameter in model.get_parameters():
        for target in list(parameter.output(0).get_target_inputs()):
            fq = target.get_node()
            if fq.get_type_name() == "FakeQuantize":
                for consumer in list(fq.output(0).get_target_inputs()):
                    consumer.replace_source_output(parameter.output(0))
    for result in model.get_results():
        last = result.input_value(0).get_node()
        for i in range(last.get_input_size()):
            source = last.input_value(i).get_node()
            if source.get_type_name() == "FakeQuantize":
                last.input(i).replace_source_output(source.input_value(0))
    model.validate_nodes_and_infer_types()
    return model
