"""Experiment YAML: loaded and validated once, at the edge.

The schema below is the reference's (docs/training.md, "Configuration") plus this project's
additions (``dataset.train.augment``, ``train.feature_crit.vgg_weights``,
``metric.LPIPS.weights``, ``test.start_iter/end_iter``, ``scale: 2``,
``train.memory_format``, ``train.precision``, ``test.precision``).  Every problem is
reported as one line naming the file and the key path, e.g.
``train.yml: model.genrator: unknown key (did you mean generator?)``.  Defaults live here
only: validation fills them in, and inner code reads plain values (``opt[key]``) from the
returned dict.
"""
import difflib
import math
import os

import yaml

from tecogan.utils.errors import UserError, short

_MISSING = object()


class Key:
    """A leaf value: allowed types, whether it is required, a default, a check."""

    def __init__(self, types, required=False, default=_MISSING, choices=None,
                 check=None, expect=None, nullable=True):
        self.types = types if isinstance(types, tuple) else (types,)
        self.required = required
        self.default = default
        self.choices = choices      # a tuple, or a callable returning one (looked up lazily)
        self.check = check          # callable(value) -> True if valid
        self.expect = expect        # words describing what is expected
        self.nullable = nullable


class Section:
    """A mapping with known keys; ``patterns`` maps a key prefix to a sub-schema."""

    def __init__(self, keys, required=False, patterns=None, open_keys=False, create=False):
        self.keys = keys
        self.required = required
        self.create = create        # absent: created holding its defaults
        self.patterns = patterns or {}
        self.open_keys = open_keys


NUM = (int, float)


def _positive(v):
    return v > 0


def _non_negative(v):
    return v >= 0


def _generator_names():
    from tecogan.networks import GENERATORS
    return tuple(GENERATORS)


def _plain_name(v):
    """A name that becomes one folder name: never a path leading elsewhere."""
    return v not in ("", ".", "..") and not any(c in v for c in "/\\\0") and len(v) <= 255


def _criterion(types, extra=None):
    keys = {
        "type": Key(str, required=True, choices=types),
        "weight": Key(NUM, default=1.0, check=_non_negative, expect="a number >= 0"),
        "reduction": Key(str, default="mean", choices=("mean", "sum")),
    }
    keys.update(extra or {})
    return Section(keys)


_LR_SCHEDULE = Section({
    "type": Key(str, required=True, choices=("FixedLR", "MultiStepLR", "CosineAnnealingLR_Restart")),
    "milestones": Key(list, check=lambda v: all(isinstance(x, int) and x >= 0 for x in v),
                      expect="a list of iteration numbers"),
    "gamma": Key(NUM, check=_positive, expect="a number > 0"),
    "periods": Key(list, check=lambda v: all(isinstance(x, int) and x > 0 for x in v),
                   expect="a list of positive iteration counts"),
    "eta_min": Key(NUM, default=0.0, check=_non_negative, expect="a number >= 0"),
    "restarts": Key(list, check=lambda v: all(isinstance(x, int) and x >= 0 for x in v),
                    expect="a list of iteration numbers"),
    "restart_weights": Key(list, check=lambda v: all(isinstance(x, NUM) for x in v),
                           expect="a list of numbers"),
})

_OPTIM = {
    "lr": Key(NUM, required=True, check=_positive, expect="a learning rate > 0"),
    "lr_schedule": _LR_SCHEDULE,
    "beta1": Key(NUM, default=0.9, check=lambda v: 0 <= v < 1, expect="a number in [0, 1)"),
    "beta2": Key(NUM, default=0.999, check=lambda v: 0 <= v < 1, expect="a number in [0, 1)"),
    "weight_decay": Key(NUM, default=0, check=_non_negative, expect="a number >= 0"),
}

_LOADER = {
    "num_workers": Key(int, default=0, check=_non_negative, expect="an integer >= 0"),
    "pin_memory": Key(bool, default=False),
}

_NAME_EXPECT = "a plain folder name (no /, \\, . or ..)"

_TEST_DATASET = Section(dict({
    "name": Key(str, required=True, nullable=False, check=_plain_name, expect=_NAME_EXPECT),
    "gt_seq_dir": Key(str),
    "lr_seq_dir": Key(str, required=True, nullable=False),
    "filter_file": Key(str),
}, **_LOADER))

SCHEMA = Section({
    "scale": Key(int, required=True, nullable=False, choices=(2, 4),
                 expect="the generator upsamples x2 or x4"),
    "manual_seed": Key(int, default=0),
    "verbose": Key(bool, default=False),
    "dataset": Section({
        "degradation": Section({
            "type": Key(str, required=True, nullable=False, choices=("BD", "BI")),
            "sigma": Key(NUM, default=1.5, check=_positive, expect="a number > 0"),
        }, required=True),
        "train": Section(dict({
            "name": Key(str, required=True, nullable=False, check=_plain_name, expect=_NAME_EXPECT),
            "seq_dir": Key(str),
            "gt_seq_dir": Key(str),
            "lr_seq_dir": Key(str),
            "filter_file": Key(str),
            "data_type": Key(str, default="rgb", choices=("rgb",)),
            "crop_size": Key(int, check=_positive, expect="an integer > 0"),
            "gt_crop_size": Key(int, check=_positive, expect="an integer > 0"),
            "batch_size": Key(int, default=4, check=_positive, expect="an integer > 0"),
            "augment": Key(bool, default=True),
        }, **_LOADER)),
    }, required=True, patterns={"test": _TEST_DATASET}),
    "model": Section({
        "name": Key(str, required=True, nullable=False, choices=("FRVSR", "TecoGAN")),
        "generator": Section({
            "name": Key(str, default="FRNet", choices=_generator_names),
            "in_nc": Key(int, default=3, choices=(3,)),
            "out_nc": Key(int, default=3, choices=(3,)),
            "nf": Key(int, default=64, check=_positive, expect="an integer > 0"),
            "nb": Key(int, default=10, check=_positive, expect="an integer > 0"),
            "load_path": Key(str),
        }, required=True),
        "discriminator": Section({
            "name": Key(str, default="STNet", choices=("STNet", "SNet")),
            "in_nc": Key(int, default=3, choices=(3,)),
            "tempo_range": Key(int, default=3, choices=(3,)),
            "use_cond": Key(bool, default=True),
            "load_path": Key(str),
        }),
    }, required=True),
    "train": Section({
        "tempo_extent": Key(int, default=10, check=lambda v: v >= 2, expect="an integer >= 2"),
        "start_iter": Key(int, default=0, check=_non_negative, expect="an integer >= 0"),
        "total_iter": Key(int, required=True, check=_positive, expect="an integer > 0"),
        "generator": Section(dict(_OPTIM), required=True),
        "discriminator": Section(dict(_OPTIM, **{
            "update_policy": Key(str, default="adaptive", choices=("adaptive", "always")),
            "update_threshold": Key(NUM, default=0.4),
            "crop_border_ratio": Key(NUM, default=0.75, check=lambda v: 0 < v <= 1,
                                     expect="a number in (0, 1]"),
        })),
        "memory_format": Key(str, default="channels_last", choices=("channels_last", "contiguous"),
                             expect="NHWC (channels_last, about 1.8x faster on CPUs) or NCHW"),
        "precision": Key(str, default="fp32", choices=("fp32", "bf16", "fp16"),
                         expect="fp32, bf16 (autocast: faster on GPUs and on CPUs with AMX or "
                                "AVX512-BF16) or fp16 (autocast with loss scaling: GPUs)"),
        "moving_first_frame": Key(bool, default=False),
        "moving_factor": Key(NUM, default=0.7, check=lambda v: 0 <= v <= 1, expect="a number in [0, 1]"),
        "pixel_crit": _criterion(("MSE", "L1", "CB")),
        "warping_crit": _criterion(("MSE", "L1", "CB")),
        "feature_crit": _criterion(("MSE", "L1", "CB", "CosineSimilarity"), {
            "feature_layers": Key(list, check=lambda v: len(v) > 0 and all(isinstance(x, int) and 0 <= x < 37 for x in v),
                                  expect="a list of feature layer indices (VGG19: 0..36, AlexNet: 0..12; "
                                         "default VGG19 [8, 17, 26, 35], AlexNet [1, 4, 7, 9, 11])"),
            "vgg_weights": Key(str),
            "backbone": Key(str, default="vgg19", choices=("vgg19", "alexnet"),
                            expect="the ImageNet network of the feature loss (alexnet ships with the repository)"),
            "weights": Key(str),
        }),
        "pingpong_crit": _criterion(("MSE", "L1", "CB")),
        "feature_matching_crit": _criterion(("MSE", "L1", "CB"), {
            "layer_norm": Key(list, default=[12.0, 14.0, 24.0, 100.0],
                              check=lambda v: len(v) == 4 and all(isinstance(x, NUM) and x > 0 for x in v),
                              expect="a list of 4 positive numbers"),
        }),
        "gan_crit": _criterion(("GAN", "LSGAN")),
    }),
    "test": Section(create=True, keys={
        "test_freq": Key(int, default=10000, check=_positive, expect="an integer > 0"),
        "start_iter": Key(int, check=_non_negative, expect="an integer >= 0"),
        "end_iter": Key(int, check=_non_negative, expect="an integer >= 0"),
        "save_res": Key(bool, default=True),
        "res_dir": Key(str),
        "save_json": Key(bool, default=False),
        "json_dir": Key(str),
        "padding_mode": Key(str, default="reflect", choices=("reflect", "replicate")),
        "num_pad_front": Key(int, default=5, check=_non_negative, expect="an integer >= 0"),
        "precision": Key(str, default="fp32", choices=("fp32", "bf16", "int8", "fp16", "auto"),
                         expect="fp32 (the reference's numbers), bf16, int8 (--backend openvino), fp16 or "
                                "auto (docs/precision.md)"),
    }),
    "metric": Section({
        "PSNR": Section({"colorspace": Key(str, default="y", choices=("y", "rgb")),
                         "mult": Key(NUM, default=1.0)}),
        "LPIPS": Section({"model": Key(str, default="net-lin", choices=("net-lin",)),
                          "net": Key(str, default="alex", choices=("alex",)),
                          "colorspace": Key(str, default="rgb", choices=("rgb",)),
                          "spatial": Key(bool, default=False, choices=(False,)),
                          "version": Key((str, float), default="0.1",
                                         check=lambda v: str(v) == "0.1", expect="0.1"),
                          "weights": Key(str),
                          "mult": Key(NUM, default=1.0)}),
        "tOF": Section({"colorspace": Key(str, default="rgb", choices=("rgb",)),
                        "mult": Key(NUM, default=1.0)}),
    }),
    "logger": Section(create=True, keys={
        "log_freq": Key(int, default=100, check=_positive, expect="an integer > 0"),
        "decay": Key(NUM, default=0.99, check=lambda v: 0 <= v < 1, expect="a number in [0, 1)"),
        "ckpt_freq": Key(int, default=20000, check=_positive, expect="an integer > 0"),
    }),
})

_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               list: "a list", dict: "a mapping"}


def _type_words(types):
    if types == NUM:
        return "a number"
    return " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in types)


def _type_ok(value, types):
    if isinstance(value, bool):
        return bool in types
    if float in types and isinstance(value, int):
        return True
    return isinstance(value, types)


def _suggest(key, known):
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _validate(node, schema, path, where, fill_defaults):
    if not isinstance(node, dict):
        raise UserError(f"{where}: {path or 'top level'}: expected a mapping, got {short(node)}")
    for key in list(node):
        key_path = f"{path}.{key}" if path else str(key)
        sub = schema.keys.get(key)
        if sub is None:
            for prefix, pattern_schema in schema.patterns.items():
                if isinstance(key, str) and key.startswith(prefix):
                    sub = pattern_schema
                    break
        if sub is None:
            if schema.open_keys:
                continue
            known = list(schema.keys) + [p + "*" for p in schema.patterns]
            raise UserError(f"{where}: {key_path}: unknown key{_suggest(str(key), list(schema.keys))}"
                            f" (known keys: {', '.join(known)})")
        value = node[key]
        if isinstance(sub, Section):
            if value is None:
                if sub.required:
                    raise UserError(f"{where}: {key_path}: required section is empty")
                continue
            _validate(value, sub, key_path, where, fill_defaults)
            continue
        if value is None:
            if sub.required and not sub.nullable:
                raise UserError(f"{where}: {key_path}: a value is required (expected {sub.expect or _type_words(sub.types)})")
            continue
        if not _type_ok(value, sub.types):
            raise UserError(f"{where}: {key_path}: expected {sub.expect if sub.choices is None and sub.expect else _type_words(sub.types)}, got {short(value)}")
        if isinstance(value, float) and not math.isfinite(value):  # .nan / .inf pass every comparison check
            raise UserError(f"{where}: {key_path}: expected a finite number, got {short(value)}")
        allowed = sub.choices() if callable(sub.choices) else sub.choices
        if allowed is not None and value not in allowed:
            choices = ", ".join(str(c) for c in allowed)
            detail = f" ({sub.expect})" if sub.expect else ""
            raise UserError(f"{where}: {key_path}: {short(value)} is not allowed; expected one of {choices}{detail}")
        if sub.check is not None and not sub.check(value):
            raise UserError(f"{where}: {key_path}: expected {sub.expect}, got {short(value)}")
    for key, sub in schema.keys.items():
        if key in node:
            continue
        key_path = f"{path}.{key}" if path else key
        if sub.required:
            kind = "section" if isinstance(sub, Section) else "key"
            raise UserError(f"{where}: {key_path}: missing required {kind}")
        if fill_defaults and isinstance(sub, Key) and sub.default is not _MISSING:
            node[key] = list(sub.default) if isinstance(sub.default, list) else sub.default
        elif fill_defaults and isinstance(sub, Section) and sub.create:
            node[key] = {}
            _validate(node[key], sub, key_path, where, fill_defaults)


def _cross_checks(opt, where):
    scale = opt["scale"]
    degradation = opt["dataset"]["degradation"]["type"]
    train = opt["dataset"].get("train")
    if train:
        if degradation == "BD":
            if not train.get("seq_dir"):
                raise UserError(f"{where}: dataset.train.seq_dir: missing (BD training reads GT frames from an LMDB)")
            if train.get("crop_size") is None:
                raise UserError(f"{where}: dataset.train.crop_size: missing required key for BD")
            if train["crop_size"] % scale:
                raise UserError(f"{where}: dataset.train.crop_size: {train['crop_size']} is not a multiple of scale {scale}")
            if train["crop_size"] // scale < 8:
                raise UserError(f"{where}: dataset.train.crop_size: {train['crop_size']} gives LR crops smaller "
                                f"than 8x8 (the flow network needs at least {8 * scale})")
        else:
            for key in ("gt_seq_dir", "lr_seq_dir"):
                if not train.get(key):
                    raise UserError(f"{where}: dataset.train.{key}: missing (BI training reads paired GT/LR LMDBs)")
            if train.get("gt_crop_size") is None:
                raise UserError(f"{where}: dataset.train.gt_crop_size: missing required key for BI")
            if train["gt_crop_size"] % scale:
                raise UserError(f"{where}: dataset.train.gt_crop_size: {train['gt_crop_size']} is not a multiple of scale {scale}")
            if train["gt_crop_size"] // scale < 8:
                raise UserError(f"{where}: dataset.train.gt_crop_size: {train['gt_crop_size']} gives LR crops "
                                f"smaller than 8x8 (the flow network needs at least {8 * scale})")
    model = opt["model"]
    tr = opt.get("train")
    if tr is not None and model["name"] == "TecoGAN":
        for section, key in (("model", "discriminator"), ("train", "discriminator"), ("train", "gan_crit")):
            if opt[section].get(key) is None:
                raise UserError(f"{where}: {section}.{key}: missing required section for TecoGAN training")
    if tr is not None:
        for name in ("generator", "discriminator"):
            sched = (tr.get(name) or {}).get("lr_schedule") or {}
            if sched.get("type") == "MultiStepLR" and (sched.get("milestones") is None or sched.get("gamma") is None):
                raise UserError(f"{where}: train.{name}.lr_schedule: MultiStepLR needs milestones and gamma")
            if sched.get("type") == "CosineAnnealingLR_Restart" and sched.get("periods") is None:
                raise UserError(f"{where}: train.{name}.lr_schedule: CosineAnnealingLR_Restart needs periods")


def validate_config(opt, where="config", fill_defaults=True):
    """Check a loaded YAML mapping against the schema; fills defaults in place."""
    _validate(opt, SCHEMA, "", where, fill_defaults)
    _cross_checks(opt, where)
    return opt


YAML_MAX_BYTES = 1 << 20      # an experiment YAML is a few KB
YAML_MAX_VALUES = 100_000     # values after expanding aliases (a "billion laughs" file has 10^9)
YAML_MAX_DEPTH = 50           # nesting levels


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses nesting deeper than ``YAML_MAX_DEPTH`` while composing."""

    def __init__(self, stream, where):
        super().__init__(stream)
        self._where, self._depth = where, 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > YAML_MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise UserError(f"{self._where}: line {mark.line + 1}: nested more than {YAML_MAX_DEPTH} "
                                f"levels deep (an experiment YAML is a few levels deep)")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(root, where):
    """Number of values ``root`` stands for once every alias is expanded (stops past the bound;
    refuses an alias that refers to itself).  Linear in the number of distinct nodes."""
    sizes, on_path = {}, set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) \
                else node.value
            total = 1 + sum(sizes[id(c)] for c in children)
            sizes[key] = min(total, YAML_MAX_VALUES + 1)
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise UserError(f"{where}: line {node.start_mark.line + 1}: an alias refers to its own "
                            f"anchor (a recursive structure)")
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            continue
        on_path.add(key)
        stack.append((node, True))
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def load_yaml_bounded(path):
    """``yaml.safe_load`` of a UTF-8 file with bounds: size, nesting depth and the number of
    values once aliases are expanded (checked on the node graph, before any value is built)."""
    size = os.path.getsize(path)
    if size > YAML_MAX_BYTES:
        raise UserError(f"{path}: {size} bytes; a config file is at most {YAML_MAX_BYTES >> 10} KB")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not valid UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); "
                        f"save the file as UTF-8")
    loader = _BoundedLoader(text, path)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, path) > YAML_MAX_VALUES:
            raise UserError(f"{path}: aliases expand to more than {YAML_MAX_VALUES} values "
                            f"(an alias bomb?); an experiment YAML holds a few hundred")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_config(path):
    """Read and validate one experiment YAML file; returns a plain dict."""
    where = os.path.basename(path)
    if not os.path.isfile(path):
        raise UserError(f"{path}: config file not found")
    try:
        opt = load_yaml_bounded(path)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        loc = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UserError(f"{path}:{loc}: invalid YAML: {problem}")
    if opt is None:
        raise UserError(f"{path}: config file is empty")
    return validate_config(opt, where)


def fill_section(name, value, where="config"):
    """Validate one top-level section on its own (e.g. ``metric`` for the validation metrics
    API) and fill its defaults; returns the filled mapping."""
    section = {k: (dict(v) if isinstance(v, dict) else ({} if v is None else v)) for k, v in (value or {}).items()}
    _validate(section, SCHEMA.keys[name], name, where, True)
    return section


def set_output_dirs(opt, exp_dir, mode):
    """Fill ``test.res_dir`` and ``test.json_dir`` where the YAML leaves them empty.

    Test mode writes ``results/<dataset>/<model>/<seq>`` (the reference's layout); validation
    during training writes under the experiment: ``<exp>/test/results`` and ``<exp>/test/metrics``.
    """
    test = opt["test"]
    if not test.get("res_dir"):
        test["res_dir"] = "results" if mode == "test" else os.path.join(exp_dir, "test", "results")
    if not test.get("json_dir"):
        test["json_dir"] = os.path.join(exp_dir, "test", "metrics")
    return opt


def test_datasets(opt):
    """(key, dataset options) for every ``dataset.test*`` entry, in key order."""
    return [(k, v) for k, v in sorted(opt["dataset"].items()) if k.startswith("test") and v]
