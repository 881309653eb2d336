"""Reading an experiment YAML with bounds, before any value is built.

``yaml.safe_load`` with: a size limit, a nesting limit (while composing), a limit on the values
that aliases expand to (counted on the node graph: no "billion laughs"), and no key given twice
in one mapping (YAML would silently keep the last).  Every problem is one line naming the file
(and the line).

Recipes that inherit (:func:`load_recipe`): ``base: PATH`` loads another YAML first and lays this
one over it; the merged mapping remembers the file and line that set each key, for errors.
"""

import os

import yaml

from tecogan.utils.errors import UserError, short
from tecogan.utils.fileio import check_regular_file

YAML_MAX_BYTES = 1 << 20  # an experiment YAML is a few KB
YAML_MAX_VALUES = 100_000  # values after expanding aliases (a "billion laughs" file has 10^9)
YAML_MAX_DEPTH = 50  # nesting levels


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
                raise UserError(
                    f"{self._where}: line {mark.line + 1}: nested more than {YAML_MAX_DEPTH} "
                    f"levels deep (an experiment YAML is a few levels deep)"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _refuse_duplicate_keys(node, where):
    """The same key twice in one mapping is refused (YAML would silently keep the last)."""
    seen = {}
    for key_node, _value in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
            continue
        if key_node.value in seen:
            raise UserError(
                f"{where}: line {key_node.start_mark.line + 1}: key {short(key_node.value)} given twice "
                f"in one mapping (first on line {seen[key_node.value]}); keep one of them"
            )
        seen[key_node.value] = key_node.start_mark.line + 1


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
            children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
            total = 1 + sum(sizes[id(c)] for c in children)
            sizes[key] = min(total, YAML_MAX_VALUES + 1)
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise UserError(
                f"{where}: line {node.start_mark.line + 1}: an alias refers to its own anchor (a recursive structure)"
            )
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            continue
        on_path.add(key)
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicate_keys(node, where)
        stack.append((node, True))
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def key_lines(node, prefix=(), lines=None):
    """{key path (tuple): line number} of every mapping key under ``node`` (a composed YAML
    node), for errors that name the line which set a value.  Merge keys (``<<``) are skipped."""
    lines = {} if lines is None else lines
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                path = prefix + (key_node.value,)
                lines[path] = key_node.start_mark.line + 1
                key_lines(value, path, lines)
    return lines


def load_yaml_bounded(path, lines=None):
    """``yaml.safe_load`` of a UTF-8 file with bounds: size, nesting depth and the number of
    values once aliases are expanded (checked on the node graph, before any value is built).
    A dict ``lines`` receives {key path: line number} (:func:`key_lines`)."""
    size = os.path.getsize(path)
    if size > YAML_MAX_BYTES:
        raise UserError(f"{path}: {size} bytes; a config file is at most {YAML_MAX_BYTES >> 10} KB")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UserError(
            f"{path}: not valid UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); save the file as UTF-8"
        ) from None
    loader = _BoundedLoader(text, path)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, path) > YAML_MAX_VALUES:
            raise UserError(
                f"{path}: aliases expand to more than {YAML_MAX_VALUES} values "
                f"(an alias bomb?); an experiment YAML holds a few hundred"
            )
        if lines is not None:
            key_lines(node, (), lines)
        return loader.construct_document(node)
    finally:
        loader.dispose()


MAX_BASE_DEPTH = 16  # a recipe's chain of bases (a variant of a variant ...)


def _read_yaml(path, lines=None, what="config file"):
    check_regular_file(path, what)  # also refuses /dev/zero, FIFOs, folders
    try:
        opt = load_yaml_bounded(path, lines)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        loc = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UserError(f"{path}:{loc}: invalid YAML: {problem}") from None
    if opt is None:
        raise UserError(f"{path}: config file is empty")
    return opt


def merge_override(base, over, origins=None, file_origins=None, prefix=()):
    """``base`` with ``over`` on top, as a new mapping: nested mappings merged key by key,
    every other value (lists included) replaced.  ``origins`` ({key path: (file, line)}) is
    updated from ``file_origins`` for the keys ``over`` sets; a value that replaces a whole
    section drops the origins of the keys that section had."""
    merged = dict(base)
    for key, value in over.items():
        path = prefix + (key,)
        old = merged.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            merged[key] = merge_override(old, value, origins, file_origins, path)
        else:
            merged[key] = value
            if origins is not None:  # the keys under ``path`` now come from ``over`` only
                for stale in [p for p in origins if p[: len(path)] == path and len(p) > len(path)]:
                    del origins[stale]
                origins.update((p, o) for p, o in (file_origins or {}).items() if p[: len(path)] == path)
        if origins is not None and file_origins is not None and path in file_origins:
            origins[path] = file_origins[path]
    return merged


def load_recipe(path, origins=None, _chain=()):
    """The raw mapping of an experiment YAML with its ``base:`` chain merged (no schema check).

    ``base: PATH`` (top level, relative to the file that names it) loads that YAML first and
    overrides it with this one (:func:`merge_override`).  ``origins`` receives
    {key path: (file, line)} of the file and line that set each key."""
    real = os.path.realpath(path)
    if real in _chain:
        names = [os.path.relpath(p) for p in _chain + (real,)]
        raise UserError(f"{names[0]}: base: a cycle of bases ({' -> '.join(names)}); a recipe cannot inherit from itself")
    if len(_chain) >= MAX_BASE_DEPTH:
        raise UserError(f"{path}: base: more than {MAX_BASE_DEPTH} levels of bases")
    lines = {}
    opt = _read_yaml(path, lines, "config file" if not _chain else "base config file")
    if not isinstance(opt, dict):
        if not _chain:
            return opt  # the schema check says so, as for any file
        raise UserError(f"{path}: top level: expected a mapping, got {short(opt)}")
    file_origins = {k: (path, line) for k, line in lines.items()}
    if "base" not in opt:
        if origins is not None:
            origins.update(file_origins)
        return opt
    base = opt.pop("base")
    line = lines.get(("base",), 1)
    if not isinstance(base, str) or not base.strip():
        raise UserError(
            f"{path}: line {line}: base: expected the path of the YAML this one overrides (relative to {path}), got {short(base)}"
        )
    base_path = os.path.normpath(os.path.join(os.path.dirname(path), base))
    if not os.path.exists(base_path):
        raise UserError(f"{path}: line {line}: base: {base}: not found (looked for {base_path})")
    if not os.path.isfile(base_path):  # a folder, a device: named with the file and line that chose it
        kind = "a folder" if os.path.isdir(base_path) else "not a regular file"
        raise UserError(f"{path}: line {line}: base: {base}: {kind} (expected a YAML file such as {base}/train.yml)")
    inherited = load_recipe(base_path, origins, _chain + (real,))
    return merge_override(inherited, opt, origins, file_origins)


def locate_error(message, where, origins):
    """A schema error ``"<where>: a.b.c: ..."`` rewritten as ``"<file>: line N: a.b.c: ..."``,
    the file and line that set ``a.b.c`` (or its nearest parent) after the bases were merged."""
    if not message.startswith(f"{where}: "):
        return message
    rest = message[len(where) + 2 :]
    parts = tuple(rest.split(": ", 1)[0].split("."))
    for n in range(len(parts), 0, -1):
        if parts[:n] in origins:
            file, line = origins[parts[:n]]
            return f"{file}: line {line}: {rest}"
    return message
