"""The commands and snippets of README.md and docs/*.md work as written.

* every ```bash block command and every inline `python ...` / `bash ...` command of the README
  is checked: project scripts by argument parsing (the script's own argparse, nothing run;
  shell scripts run with a stand-in interpreter that records what they would start), pip
  commands by parsing their requirements;
* the quick commands on bundled data run for real: the research workflow block (test mode,
  then the official metrics), the ```python snippets, and (slow) the quick start's upscaling
  and every upscaling command whose input is bundled;
* the README stays short and leads: at most about 200 lines, every docs page one link away,
  every relative link and #anchor of README and docs/ resolves.
"""

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [REPO / "README.md", *DOCS]
PYTHONS = ("python", "python3", ".venv/bin/python")
CONSOLE = {
    "tecogan": "codes/main.py",
    "tecogan-upscale": "codes/upscale.py",
    "tecogan-metrics": "codes/official_metrics/evaluate.py",
    "tecogan-ui": "codes/app.py",
}
# shell utilities that appear in the documented command lines (not project commands)
SHELL_WORDS = {"cp", "tail", "ls", "cd", "mkdir", "echo", "cat", "rm", "export", ".", "tensorboard", "ray"}


# ----------------------------------------------------------------------------- parsing the pages
def fenced_blocks(path):
    """[(language, text, first line number)] of the fenced code blocks of a Markdown file."""
    blocks, lang, start, buf, fence = [], None, 0, [], None
    for n, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        if fence is None:
            m = re.match(r"^(```+)\s*([\w+-]*)", stripped)
            if m:
                fence, lang, start, buf = m.group(1), m.group(2), n + 1, []
                indent = len(line) - len(line.lstrip())
        elif stripped.startswith(fence) and stripped.strip("`") == "":
            blocks.append((lang, "\n".join(buf), start))
            fence = None
        else:
            buf.append(line[indent:] if line[:indent].strip() == "" else line)
    return blocks


def _substitute_variables(text):
    """Shell variables and substitutions become a placeholder value (arguments are parsed only)."""
    text = re.sub(r"\$\([^)]*\)", "X", text)
    text = re.sub(r"\$\{[^}]*\}", "X", text)
    return re.sub(r"\$\w+", "X", text)


def commands(text):
    """The simple commands of a shell text: [(argv, source line)]; comments, loops' `for`
    headers, `do`/`done` and `&&`/`;` separators are taken apart."""
    text = text.replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        lexer = shlex.shlex(_substitute_variables(line), posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        argv = []
        for token in list(lexer) + [";"]:
            if token in (";", "&&", "||", "|", "&"):
                if argv and argv[0] == "do":
                    argv = argv[1:]
                if argv and argv[0] not in ("for", "done"):
                    out.append((argv, line.strip()))
                argv = []
            else:
                argv.append(token)
    return out


def inline_commands(path):
    """`python ...` / `bash ...` code spans outside fenced blocks."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return [span for span in re.findall(r"`([^`\n]+)`", text) if span.split()[0] in PYTHONS + ("bash",) and len(span.split()) > 1]


def documented_commands():
    """[(page, argv, source)] of every bash block of every page, plus the README's inline commands."""
    found = []
    for page in PAGES:
        for lang, text, _ in fenced_blocks(page):
            if lang in ("bash", "sh", "shell"):
                found += [(page.name, argv, src) for argv, src in commands(text)]
    for span in inline_commands(REPO / "README.md"):
        found += [("README.md", argv, src) for argv, src in commands(span)]
    return found


def _strip_env(argv):
    """Leading VAR=value assignments and `env VAR=value` go."""
    argv = list(argv)
    if argv and argv[0] == "env":
        argv = argv[1:]
    while argv and re.match(r"^\w+=", argv[0]):
        argv = argv[1:]
    return argv


def python_invocation(args, cwd):
    """(script path, argv) of a Python command line's arguments (after the interpreter), or None
    for `-m venv` / `-m pytest`; `-m torch.distributed.run OPTIONS SCRIPT ...` gives SCRIPT."""
    if args[:1] == ["-m"]:
        if args[1] in ("venv", "pytest", "pip"):
            return None
        assert args[1] == "torch.distributed.run", args
        args = args[2:]
        i = next(i for i, a in enumerate(args) if a.endswith(".py"))
        args = args[i:]
    script = os.path.realpath(os.path.join(cwd, args[0]))
    return script, args[1:]


# ----------------------------------------------------------------------------- checks
def check_pip(args):
    """`pip install ...`: -r files exist, requirements parse, the index is an https URL."""
    from packaging.requirements import Requirement

    assert args[0] == "install", args
    args = args[1:]
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-q", "--quiet", "-U", "--upgrade"):
            i += 1
        elif a in ("-r", "--requirement"):
            req = REPO / args[i + 1]
            assert req.is_file(), req
            for line in req.read_text().splitlines():
                line = line.split("#")[0].strip()
                if line and not line.startswith("-e"):
                    Requirement(line)
            i += 2
        elif a in ("--index-url", "--extra-index-url"):
            assert args[i + 1].startswith("https://"), args[i + 1]
            i += 2
        else:
            assert not a.startswith("-"), f"pip option {a} not known to this check"
            Requirement(a)
            i += 1


FAKE_PYTHON = """#!/bin/sh
# stands in for the interpreter: answers the scripts' checks, records what would be run
case "$1" in
  -c) case "$2" in *cuda*) exit 1;; *) exit 0;; esac;;
esac
{ printf '%s\\n' "$PWD" "$#"; for a in "$@"; do printf '%s\\n' "$a"; done; } >> "$TECOGAN_RECORD"
"""

PARSE_ONLY = """
import argparse, json, os, runpy, sys, urllib.request

class Parsed(BaseException):
    pass

original = argparse.ArgumentParser.parse_args

def parse_args(self, args=None, namespace=None):
    original(self, args, namespace)
    raise Parsed()

def urlopen(*args, **kwargs):  # the download scripts check their arguments by hand, then fetch
    raise Parsed()

argparse.ArgumentParser.parse_args = parse_args
urllib.request.urlopen = urlopen
jobs_file, out_file = sys.argv[1], sys.argv[2]
results = []
for script, argv in json.load(open(jobs_file)):
    sys.argv = [script] + argv
    try:
        runpy.run_path(script, run_name="__main__")
        results.append("finished without parsing its arguments")
    except Parsed:
        results.append(None)
    except SystemExit as err:
        results.append(f"exit status {err.code}")
    except Exception as err:
        results.append(f"{type(err).__name__}: {err}")
json.dump(results, open(out_file, "w"))
"""


def make_clone(root, experiments=True):
    """A stand-in checkout: the shell scripts copied (they cd to their own folder), codes/,
    scripts/, demo/ and pretrained_models/ linked, the experiment YAMLs copied."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("test.sh", "train.sh", "profile.sh", "upscale.sh", "requirements.txt"):
        shutil.copy(REPO / name, root / name)
    for name in ("codes", "scripts", "demo", "pretrained_models"):
        os.symlink(REPO / name, root / name)
    if experiments:
        for yml in REPO.glob("experiments_*/*/001/*.yml"):
            dst = root / yml.relative_to(REPO)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(yml, dst)
    return root


def run_shell_scripts(invocations, tmp_path):
    """Run `bash X.sh ...` lines in a stand-in checkout with the recording interpreter; returns
    [(cwd, argv of the interpreter)] per line, or fails naming the line the script refused."""
    clone = make_clone(tmp_path / "clone")
    fake = tmp_path / "fake_python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    record = tmp_path / "record.txt"
    runs = []
    for argv, src in invocations:
        for train_dir in clone.glob("experiments_*/*/001/train"):
            shutil.rmtree(train_dir)  # every line starts from a fresh checkout
        record.write_text("")
        env = dict(os.environ, PYTHON=str(fake), TECOGAN_RECORD=str(record), FOREGROUND="1")
        r = subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"{src}: {r.stderr.strip()}"
        lines = record.read_text().splitlines()
        assert lines, f"{src}: started no Python command"
        cwd, n = lines[0], int(lines[1])
        runs.append((cwd, lines[2 : 2 + n], src))
    return runs


def test_every_documented_command_parses(tmp_path):
    """Each bash-block command of README and docs/ (and the README's inline commands): project
    scripts accept their arguments (argparse, nothing is run), shell scripts accept theirs and
    start a script that does, pip commands parse; anything else is a known shell utility."""
    found = documented_commands()
    assert len(found) > 40, len(found)
    python_cmds, shell_cmds, other = [], [], []
    for page, argv, src in found:
        argv = _strip_env(argv)
        src = f"{page}: {src}"
        word = argv[0]
        if word in PYTHONS:
            inv = python_invocation(argv[1:], REPO)
            if inv:
                python_cmds.append((*inv, src))
        elif word == "torchrun":
            python_cmds.append((*python_invocation(["-m", "torch.distributed.run", *argv[1:]], REPO), src))
        elif word in CONSOLE:
            python_cmds.append((str(REPO / CONSOLE[word]), argv[1:], src))
        elif word.endswith("pip"):
            check_pip(argv[1:])
        elif word == "bash":
            assert (REPO / argv[1]).is_file(), src
            shell_cmds.append((argv, src))
        else:
            other.append(word)
    assert set(other) <= SHELL_WORDS, f"commands this test does not know how to check: {set(other) - SHELL_WORDS}"
    for cwd, args, src in run_shell_scripts(shell_cmds, tmp_path):
        assert args[0] not in ("-c",), src
        inv = python_invocation(args, cwd)
        assert inv is not None, src
        python_cmds.append((*inv, src + " (through the shell script)"))
    for script, _, src in python_cmds:
        assert os.path.isfile(script), f"{src}: {script} not found"
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([[s, a] for s, a, _ in python_cmds]))
    driver = tmp_path / "parse_only.py"
    driver.write_text(PARSE_ONLY)
    out = tmp_path / "out.json"
    env = dict(os.environ, TECOGAN_ROOT=str(tmp_path / "root"))  # downloads would land there
    r = subprocess.run(
        [sys.executable, str(driver), str(jobs), str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    assert out.is_file(), r.stderr[-3000:]
    verdicts = json.loads(out.read_text())
    failures = [f"{src}: {why}" for (_, _, src), why in zip(python_cmds, verdicts, strict=True) if why]
    assert not failures, "\n".join(failures) + "\n" + r.stderr[-3000:]


# ----------------------------------------------------------------------------- the README leads
def _block_after(page, heading, lang="bash"):
    text = page.read_text()
    start = text.index(heading)
    for block_lang, block, line in fenced_blocks(page):
        if block_lang == lang and text.count("\n", 0, start) < line:
            return block
    raise AssertionError(f"no {lang} block after {heading!r} in {page.name}")


def test_readme_is_short_and_every_docs_page_is_one_link_away():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    for page in DOCS:
        assert f"(docs/{page.name})" in text or f"(docs/{page.name}#" in text, page.name
    for heading in (
        "## Quick start",
        "## Pick a model",
        "## 1. Upscale your video",
        "## 2. Reproduce, test, evaluate",
        "### Try the research workflow",
        "## 3. Train",
    ):
        assert heading in text, heading


def _slug(heading):
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_links_and_anchors_resolve():
    anchors = {}
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        anchors[page.resolve()] = {_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    broken = []
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'src="([^"]+)"', text):
            if re.match(r"^[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page.resolve()
            if not dest.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors.get(dest, set()):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_setup_commands_are_the_two_of_the_quick_start():
    """Two commands; the second is what .ci/run runs; both start with the pinned install, whose
    requirements parse (the download itself is not made here)."""
    block = _block_after(REPO / "README.md", "## Quick start")
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 2
    install = "python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt && "
    assert all(line.startswith(install) for line in lines)
    assert lines[1] == install + ".venv/bin/python -m pytest -q -n 2"
    assert lines[1] in (REPO / ".ci" / "run").read_text()
    assert lines[0].endswith(
        "codes/upscale.py demo/videos/juggle_lr.mp4 results/demo/juggle_x4.mp4 --compare results/demo/juggle_compare.mp4"
    )
    check_pip(["install", "-q", "-r", "requirements.txt"])


# ----------------------------------------------------------------------------- run for real
def _python_on_path(tmp_path):
    """A `python` command for the documented lines: this test's interpreter."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", PYTHON=sys.executable)


@pytest.mark.slow  # 25-35 s on a quiet 2-core CPU, 70 s on a busy one
def test_research_workflow_block_runs_as_written(tmp_path):
    """The README's "Try the research workflow" block, line by line, on a fresh checkout (no
    data/, no results/): test mode on the bundled held-out clip, then the official metrics
    with the bundled LPIPS weights; docs/metrics.md shows the same block."""
    block = _block_after(REPO / "README.md", "### Try the research workflow")
    assert block == _block_after(REPO / "docs" / "metrics.md", "### Try it on the bundled clip")
    clone = make_clone(tmp_path / "clone")
    env = _python_on_path(tmp_path)
    env.pop("TECOGAN_LPIPS_WEIGHTS", None)
    env["TORCH_HOME"] = str(tmp_path / "no_torch_hub")  # nothing cached: LPIPS must not need it
    outputs = []
    for line in block.splitlines():
        r = subprocess.run(["bash", "-c", line], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{line}\n{r.stdout}\n{r.stderr}"
        outputs.append(r.stdout)
    assert "FootageHeldout: skipped (optional;" in outputs[0] and "prepare_footage.py" in outputs[0]
    assert len(os.listdir(clone / "results" / "val" / "FRVSR_BD_footage" / "coffee")) == 10
    values = dict(re.findall(r"^(PSNR|SSIM|LPIPS|tOF|tLP100)\s+\d+\s+([\d.]+)", outputs[-1], flags=re.M))
    assert set(values) == {"PSNR", "SSIM", "LPIPS", "tOF", "tLP100"}, outputs[-1]
    documented = {"PSNR": 27.69, "SSIM": 0.885, "LPIPS": 0.133, "tOF": 0.095, "tLP100": 0.410}
    for name, want in documented.items():  # the figures the README quotes
        assert float(values[name]) == pytest.approx(want, abs=0.006 if name != "PSNR" else 0.01), name


def _run_python_block(code, tmp_path, name):
    cwd = tmp_path / name
    cwd.mkdir()
    os.symlink(REPO / "demo", cwd / "demo")
    os.symlink(REPO / "pretrained_models", cwd / "pretrained_models")
    script = cwd / "snippet.py"
    script.write_text("import runpy\nrunpy.run_path(%r)\n" % str(REPO / "codes" / "_clone.py") + code)
    env = dict(os.environ)
    env.pop("TECOGAN_LPIPS_WEIGHTS", None)
    r = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{name}:\n{code}\n{r.stderr[-3000:]}"
    return cwd, r.stdout


def test_docs_python_snippets_run(tmp_path):
    """The ```python blocks of docs/ (docs/api.md's run in tests/test_api.py, docs/ui.md's in
    tests/test_ui_server.py)."""
    ran = 0
    for page in DOCS:
        if page.name in ("api.md", "ui.md"):  # ui.md's needs a served app: tests/test_ui_server.py runs it
            continue
        for lang, code, line in fenced_blocks(page):
            if lang == "python":
                _, out = _run_python_block(code, tmp_path, f"{page.stem}_{line}")
                ran += 1
                if page.name == "models.md":
                    assert out.split() == ["BI", "BD"], out
    assert ran >= 1


@pytest.mark.slow
def test_readme_python_snippet_runs(tmp_path):
    """The README's API snippet: a BD model on the bundled BD frames, scored against their GT
    (the PSNR it quotes), then the BI model on the bundled video."""
    code = _block_after(REPO / "README.md", "## Python API", lang="python")
    cwd, out = _run_python_block(code, tmp_path, "readme")
    printed = [line for line in out.splitlines() if line.startswith("{")]
    assert len(printed) == 1, out
    scores = ast.literal_eval(printed[0])
    assert set(scores) == {"PSNR", "SSIM", "LPIPS", "tOF", "tLP100"}
    assert scores["PSNR"] == pytest.approx(27.694, abs=0.01)
    assert (cwd / "results" / "api" / "juggle_x4.mp4").stat().st_size > 10_000


@pytest.mark.slow
def test_upscale_commands_on_bundled_inputs_run(tmp_path):
    """The quick start's upscaling (its first command, after the install) and every documented
    upscale.py command whose input is bundled run as written and write their outputs."""
    # the upscale.py command of each line (an install before it, as in the quick start, is
    # the first-hour test's business; the python on PATH here is the suite's)
    lines = [
        src.split(" && ")[-1].replace(".venv/bin/python", "python", 1)
        for page, argv, src in documented_commands()
        if len(argv) > 2 and argv[1].endswith("codes/upscale.py") and (REPO / argv[2]).exists()
    ]
    quick = _block_after(REPO / "README.md", "## Quick start").splitlines()[1].split(" && ")[-1]
    quick = quick.replace(".venv/bin/python", "python", 1)
    lines = [quick] + sorted(set(lines) - {quick})
    assert len(lines) >= 2
    clone = make_clone(tmp_path / "clone", experiments=False)
    env = _python_on_path(tmp_path)
    for line in lines:
        r = subprocess.run(["bash", "-c", line], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{line}\n{r.stderr[-2000:]}"
        outputs = [a for a in shlex.split(line)[3:] if a.startswith("results/")]
        assert outputs and all(_written(clone / o) for o in outputs), line


def _written(path):
    """A video file of some size, or a folder of frames holding at least one non-trivial PNG."""
    if path.is_dir():
        return any(f.suffix == ".png" and f.stat().st_size > 1000 for f in path.iterdir())
    return path.stat().st_size > 10_000


def test_upscale_doc_says_batch_resumes():
    text = (REPO / "docs" / "upscale.md").read_text()
    batch = " ".join(text[text.index("## Many files") : text.index("## Devices and speed")].split())
    assert "resumable jobs are not part of this release" not in text
    assert "started again from its first frame" not in batch
    assert "interrupted midway (Ctrl-C, a crash, a kill) is resumed by the next run from its last complete segment" in batch
