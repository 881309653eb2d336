"""Inference backends for one FRNet step: PyTorch (the default and the reference) or OpenVINO.

``openvino`` converts the whole FRNet step (FNet, warping, SRNet, bicubic skip) with
``openvino.convert_model`` and runs it with OpenVINO's CPU kernels (about 1.25x faster than
PyTorch's per step on a 2-core AVX2 EPYC, mostly in the stride-2 transposed convolutions
and the fused activations).  Outputs agree with PyTorch's within float32 noise
(tests/test_backends.py).

The model is converted once from the network's weights *at construction* (about 2.5 s; a
snapshot: later changes to the PyTorch weights are not seen) and compiled once per input
size (static shapes: about 0.2 s each).  Precision is pinned to float32 so that CPUs with
bf16/AMX units do not silently change the numbers.
"""
import contextlib
import warnings

import torch

from tecogan.utils.errors import UserError

BACKENDS = ("torch", "openvino")


def check_backend(backend, device):
    """Validate a backend name for a torch.device; raises UserError with the fix."""
    if backend not in BACKENDS:
        raise UserError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "openvino":
        if device.type != "cpu":
            raise UserError(f"backend openvino runs on the CPU, but the device is {device}; "
                            f"use --device cpu, or the torch backend on {device}")
        _import_openvino()


def _import_openvino():
    try:
        import openvino
    except ImportError as e:
        raise UserError(f"backend openvino: the openvino package is not importable ({e}); "
                        f"install it with: pip install openvino") from None
    return openvino


class OpenVINOStep:
    """``step(lr_curr, lr_prev, hr_prev) -> hr_curr`` of an FRNet through OpenVINO.

    Tensors are float32 CPU (n, c, h, w) / (n, c, s*h, s*w), any memory format; the output
    is NCHW-contiguous.  ``num_threads`` defaults to ``torch.get_num_threads()``.
    """

    def __init__(self, net, num_threads=None):
        ov = _import_openvino()
        self.net = net
        self.scale, self.in_nc = net.scale, net.in_nc
        self.config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32",
                       "INFERENCE_NUM_THREADS": int(num_threads or torch.get_num_threads())}
        c, s = self.in_nc, self.scale
        example = (torch.zeros(1, c, 16, 16), torch.zeros(1, c, 16, 16), torch.zeros(1, c, 16 * s, 16 * s))
        with _quiet(), torch.no_grad():
            self._model = ov.convert_model(net, example_input=example, input=[ov.PartialShape([-1, c, -1, -1])] * 3,
                                           share_weights=False)  # a snapshot, not views of the tensors
        self._core = ov.Core()
        self._requests = {}

    def request(self, n, h, w):
        """The infer request compiled for n frames of h x w LR pixels (cached per size)."""
        key = (n, h, w)
        if key not in self._requests:
            c, s = self.in_nc, self.scale
            model = self._model.clone()
            model.reshape({model.inputs[0]: [n, c, h, w], model.inputs[1]: [n, c, h, w],
                           model.inputs[2]: [n, c, s * h, s * w]})
            self._requests[key] = self._core.compile_model(model, "CPU", self.config).create_infer_request()
        return self._requests[key]

    def __call__(self, lr_curr, lr_prev, hr_prev):
        n, _, h, w = lr_curr.shape
        inputs = [t.contiguous().numpy() for t in (lr_curr, lr_prev, hr_prev)]
        return torch.from_numpy(self.request(n, h, w).infer(inputs)[0])


@contextlib.contextmanager
def _quiet():
    """Tracing warnings (shape-dependent Python branches) are expected: sizes are static per compile."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
