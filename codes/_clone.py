"""Run from a clone: make this folder importable as the package ``tecogan``.

``python codes/main.py`` (and the other entry files, through ``runpy.run_path`` of this
file) puts the file's own folder first on ``sys.path``, where ``utils``, ``data`` or
``metrics`` would shadow other libraries.  This shim drops that folder from ``sys.path``
and registers ``codes/`` as ``tecogan``, so the clone's code runs whether or not the
package is installed (``pip install -e .`` maps the same folder).
"""

import importlib.util
import os
import sys

_CODES = os.path.dirname(os.path.abspath(__file__))


def register():
    inside = [
        p
        for p in sys.path
        if os.path.abspath(p or os.curdir) == _CODES or os.path.abspath(p or os.curdir).startswith(_CODES + os.sep)
    ]
    for p in inside:
        sys.path.remove(p)
    module = sys.modules.get("tecogan")
    if module is not None and os.path.dirname(os.path.abspath(module.__file__)) == _CODES:
        return
    spec = importlib.util.spec_from_file_location(
        "tecogan", os.path.join(_CODES, "__init__.py"), submodule_search_locations=[_CODES]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["tecogan"] = module
    spec.loader.exec_module(module)


register()
