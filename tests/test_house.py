"""The house rules (docs/architecture.md): each shared default written once, imports at module
top and acyclic, files under codes/ at most 400 lines, ruff clean."""

import ast
import os
import re
import shutil
import subprocess
import sys

import pytest
from helpers import REPO

CODES = REPO / "codes"
MAX_LINES = 400

# restatements of the defaults that live in codes/defaults.py (as keyword defaults, YAML-style
# defaults, argparse defaults or bare comparisons)
RESTATED = {
    "num_pad_front 5": re.compile(r"num_pad_front\s*[=:]\s*5\b|num_pad_front.*default\s*=\s*5\b"),
    "tile_overlap 16": re.compile(r"(tile_)?overlap\s*[=:]\s*16\b|tile_overlap.*default\s*=\s*16\b"),
    "the 8-pixel minimum": re.compile(r"[\w)\]]\s*(<|>=)\s*8\b(?![.\d])|\b(MIN_\w*|min_\w*)\s*=\s*8\b"),
    "the padding modes": re.compile(r"\(\s*[\"']reflect[\"']\s*,\s*[\"']replicate[\"']\s*\)"),
    "moving_first_frame": re.compile(
        r"moving_first_frame\s*[=:]\s*(True|False)\b"
        r"|moving_first_frame.*default\s*=\s*(True|False)"
    ),
    "moving_factor 0.7": re.compile(r"moving_factor\s*[=:]\s*0\.7\b|moving_factor.*default\s*=\s*0\.7\b"),
    "BD sigma 1.5": re.compile(r"sigma\s*[=:]\s*1\.5\b|sigma.*default\s*=\s*1\.5\b"),
    "the tile limit": re.compile(r"\b16384\b"),
}


def package_files():
    return sorted(p for p in CODES.rglob("*.py") if "__pycache__" not in p.parts)


def test_each_default_is_written_once():
    found = []
    for path in package_files():
        if path.name == "defaults.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for what, pattern in RESTATED.items():
                if pattern.search(line):
                    found.append(f"{path.relative_to(REPO)}:{number}: {what}: {line.strip()}")
    assert not found, "defaults restated outside codes/defaults.py:\n" + "\n".join(found)


def test_the_restatement_patterns_catch_restatements():
    """Negative control: each pattern finds the kind of line it is there to forbid."""
    samples = {
        "num_pad_front 5": "def f(num_pad_front=5):",
        "tile_overlap 16": 'p.add_argument("--tile_overlap", default=16)',
        "the 8-pixel minimum": "if tile < 8:",
        "the padding modes": 'choices=("reflect", "replicate")',
        "moving_first_frame": "moving_first_frame=True,",
        "moving_factor 0.7": "moving_factor=0.7",
        "BD sigma 1.5": "def degrade(img, sigma=1.5):",
        "the tile limit": "maximum=16384",
    }
    for what, line in samples.items():
        assert RESTATED[what].search(line), what


def _imports(path):
    """(module-level tecogan imports, function-level imports) of one file."""
    tree = ast.parse(path.read_text())
    top, inner = set(), []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if node.col_offset > 0:
            inner.append((node.lineno, ast.unparse(node)))
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tecogan"):
            base = node.module
            for alias in node.names:  # "from tecogan import defaults" imports a module
                candidate = f"{base}.{alias.name}"
                top.add(
                    candidate
                    if (CODES / (candidate[len("tecogan.") :].replace(".", "/") + ".py")).exists()
                    or (CODES / candidate[len("tecogan.") :].replace(".", "/")).is_dir()
                    else base
                )
        elif isinstance(node, ast.Import):
            top.update(a.name for a in node.names if a.name.startswith("tecogan"))
    return top, inner


def _module_name(path):
    rel = path.relative_to(CODES).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(["tecogan", *parts])


# function-level imports that stay lazy, each commented where it is: the clone shim of the entry
# files, and optional or heavy libraries loaded only when their feature is asked for
LAZY_ALLOWED = {
    ("main.py", "import runpy"),
    ("upscale.py", "import runpy"),
    ("metrics.py", "import runpy"),
    ("evaluate.py", "import runpy"),
    ("backends.py", "import openvino"),
    ("lpips_loader.py", "import lpips"),
    ("backends.py", "import nncf"),
    ("precision.py", "import nncf"),
    ("tensorboard_log.py", "from torch.utils.tensorboard import SummaryWriter"),  # optional package
    ("telemetry.py", "from openvino_telemetry import Telemetry"),
    ("app.py", "import runpy"),
    ("child.py", "import runpy"),  # the web app starts it as a file: this clone as the package
    ("app.py", "from tecogan.ui.page import CSS, Page, build"),  # Gradio: only when the web app starts
    ("ray_runner.py", "import ray"),  # optional package: only upscale.py --ray needs it
    ("telemetry.py", "from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker"),
}


def test_imports_sit_at_module_top():
    inner = []
    for path in package_files():
        for line, text in _imports(path)[1]:
            if (path.name, text) not in LAZY_ALLOWED:
                inner.append(f"{path.relative_to(REPO)}:{line}: {text}")
    assert not inner, "imports inside functions:\n" + "\n".join(inner)


def test_no_import_cycles():
    graph = {}
    for path in package_files():
        name = _module_name(path)
        deps = set()
        for dep in _imports(path)[0]:
            # importing a.b.c runs the packages a.b and a first
            parts = dep.split(".")
            deps.update(".".join(parts[:i]) for i in range(2, len(parts) + 1))
        graph[name] = {d for d in deps if d != name and not name.startswith(d + ".")}
    state, path_stack = {}, []

    def visit(node):
        state[node] = "open"
        path_stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                cycle = path_stack[path_stack.index(dep) :] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path_stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def _room(name):
    """A module's room in the layer drawing: its sub-package (``inference``), or the root module itself."""
    parts = name.split(".")
    if len(parts) >= 3 or (len(parts) == 2 and (CODES / parts[1]).is_dir()):
        return parts[1]
    return name


def folder_graph():
    """room -> the rooms its module-level imports reach (docs/architecture.md draws it)."""
    graph = {}
    for path in package_files():
        room = _room(_module_name(path))
        for dep in _imports(path)[0]:
            if _room(dep) not in (room, "tecogan"):
                graph.setdefault(room, set()).add(_room(dep))
    return graph


# each room may import only rooms on lower floors (and its own); the root's API face and commands are on top
FLOORS = [
    {"tecogan.defaults", "tecogan._moved", "tecogan.errors"},
    {"utils"},
    {"ops", "config", "video"},
    {"networks", "data", "metrics"},
    {"models", "tecogan.pretrained", "official_metrics", "tecogan.experiment_checks"},
    {"inference", "tecogan.experiment"},
    {"jobs", "tecogan.profiling", "tecogan.testing"},
    {"training", "tecogan.upscale_args"},
    {"tecogan", "tecogan.api", "tecogan.main", "tecogan.upscale"},
    {"ui"},
    {"tecogan.app"},
]


def test_rooms_import_only_downwards():
    """No loop between folders, and the frame engine (inference) below the jobs: each arrow of the
    drawing runs down a floor, never up or sideways."""
    floor = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}
    graph = folder_graph()
    unplaced = sorted(set(graph) - set(floor))
    assert not unplaced, f"rooms missing from FLOORS (and the drawing in docs/architecture.md): {unplaced}"
    upward = [
        f"{room} (floor {floor[room]}) -> {dep} (floor {floor.get(dep)})"
        for room, deps in sorted(graph.items())
        for dep in sorted(deps)
        if floor.get(dep, len(FLOORS)) >= floor[room]
    ]
    assert not upward, "imports that do not run downwards:\n" + "\n".join(upward)
    assert "jobs" not in graph["inference"] and "jobs" in graph["tecogan.api"]


def test_the_floor_check_sees_an_upward_import():
    """Negative control: an engine module that imported the job layer would be caught."""
    graph = folder_graph()
    graph["inference"] = graph["inference"] | {"jobs"}
    floor = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}
    assert [d for d in graph["inference"] if floor[d] >= floor["inference"]] == ["jobs"]


def test_files_under_codes_are_short():
    long = [f"{p.relative_to(REPO)}: {n} lines" for p in package_files() if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not long, f"files over {MAX_LINES} lines:\n" + "\n".join(long)


def test_ruff_is_clean_and_formatted():
    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed (requirements.txt pins it)")
    r = subprocess.run(
        [ruff, "check", "--output-format", "concise", str(REPO)], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert r.returncode == 0, r.stdout + r.stderr
    # the code's layout is ruff format's (pyproject.toml [tool.ruff.format]): `ruff format .` fixes it
    r = subprocess.run([ruff, "format", "--check", str(REPO)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
