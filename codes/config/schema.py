"""The building blocks of the YAML schemas: :class:`Key` (a leaf value), :class:`Section` (a mapping)
and :func:`validate_node`, which checks a loaded mapping against them and fills defaults.

Pure and dependency-free, so that the parts a schema chooses from (metrics, losses, datasets)
can state their own options next to their code, and :mod:`tecogan.experiment` assembles them.
"""

import difflib
import math

from tecogan import defaults
from tecogan.utils.errors import UserError, short

_MISSING = object()
NUM = (int, float)


class Key:
    """A leaf value: allowed types, whether it is required, a default, a check."""

    def __init__(self, types, required=False, default=_MISSING, choices=None, check=None, expect=None, nullable=True):
        self.types = types if isinstance(types, tuple) else (types,)
        self.required = required
        self.default = default
        self.choices = choices  # a tuple, or a callable returning one (looked up lazily)
        self.check = check  # callable(value) -> True if valid
        self.expect = expect  # words describing what is expected
        self.nullable = nullable


class Section:
    """A mapping with known keys; ``patterns`` maps a key prefix to a sub-schema."""

    def __init__(self, keys, required=False, patterns=None, open_keys=False, create=False):
        self.keys = keys
        self.required = required
        self.create = create  # absent: created holding its defaults
        self.patterns = patterns or {}
        self.open_keys = open_keys


_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false", list: "a list", dict: "a mapping"}


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


def validate_node(node, schema, path, where, fill_defaults):
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
            raise UserError(
                f"{where}: {key_path}: unknown key{_suggest(str(key), list(schema.keys))} (known keys: {', '.join(known)})"
            )
        value = node[key]
        if isinstance(sub, Section):
            if value is None:
                if sub.required:
                    raise UserError(f"{where}: {key_path}: required section is empty")
                continue
            validate_node(value, sub, key_path, where, fill_defaults)
            continue
        if value is None:
            if not sub.nullable:
                raise UserError(f"{where}: {key_path}: a value is required (expected {sub.expect or _type_words(sub.types)})")
            if sub.default is not _MISSING and sub.default is not None:
                if fill_defaults:  # `key: ~` on a setting with a default (over a base: file's value): the default
                    node[key] = type(sub.default)(sub.default) if isinstance(sub.default, (list, dict)) else sub.default
            elif sub.required and not (str in sub.types or list in sub.types or dict in sub.types):
                raise UserError(f"{where}: {key_path}: expected {sub.expect or _type_words(sub.types)}, got null")
            continue
        if not _type_ok(value, sub.types):
            expected = sub.expect if sub.choices is None and sub.expect else _type_words(sub.types)
            raise UserError(f"{where}: {key_path}: expected {expected}, got {short(value)}")
        if isinstance(value, float) and not math.isfinite(value):  # .nan / .inf pass every comparison check
            raise UserError(f"{where}: {key_path}: expected a finite number, got {short(value)}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > defaults.MAX_YAML_NUMBER:
            raise UserError(
                f"{where}: {key_path}: {short(value)} is too large (a setting is at most {defaults.MAX_YAML_NUMBER} in size)"
            )
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
            node[key] = type(sub.default)(sub.default) if isinstance(sub.default, (list, dict)) else sub.default
        elif fill_defaults and isinstance(sub, Section) and sub.create:
            node[key] = {}
            validate_node(node[key], sub, key_path, where, fill_defaults)


def fill_section(section, value, path, where="config"):
    """Validate one section's mapping on its own and fill its defaults; returns a new mapping."""
    filled = {k: (dict(v) if isinstance(v, dict) else ({} if v is None else v)) for k, v in (value or {}).items()}
    validate_node(filled, section, path, where, True)
    return filled
