"""The web app's server side (issue 34, docs/ui.md): the ``upscale`` endpoint through
gradio_client, the queue (one job at a time, cancel keeps the finished segments, resume continues
them, remove), a restart after the app was killed, sign-in, nothing outside the work folder and
the ``--allow`` folders, bad uploads as one line.  Inputs are hashed before and after: nothing of
the user's is changed.  Jobs use the smallest shipped model on tiny clips (a second or two each).
"""

import glob
import json
import os
import runpy
import urllib.error
import urllib.parse
import urllib.request

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from helpers import REPO, assert_one_line, run_inprocess, tree_hash
from uihelpers import (
    InProcessApp,
    free_port,
    start_app_command,
    stop_app,
    tiny_clip,
    video_facts,
    wait_for,
    wait_serving,
)

from tecogan import app as app_command
from tecogan.ui import actions
from tecogan.ui.inputs import allowed_input, copy_upload, list_allowed, safe_name
from tecogan.ui.runner import JobQueue, job_counts
from tecogan.ui.store import JobStore
from tecogan.utils.errors import UserError

MODEL = "frvsr-fast"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui")
    allowed = root / "allowed"
    allowed.mkdir()
    tiny_clip(allowed / "clip.mp4")
    (root / "secret.txt").write_text("not for the page\n")
    os.symlink(root / "secret.txt", allowed / "link.mp4")
    a = InProcessApp(root / "work", "--allow", str(allowed), "--max_upload_mb", "0.5", "--threads", "1").start()
    a.root, a.allowed, a.clip = root, allowed, tiny_clip(root / "tiny.mp4")
    yield a
    a.close()


def _jobs(app):
    return JobStore(app.args.workdir).jobs()


def test_upscale_endpoint_through_gradio_client_as_docs_ui_md_shows(app, tmp_path, capsys):
    """docs/ui.md's gradio_client example runs as written, pointed at this test's app and clip."""
    from test_readme import fenced_blocks

    before = tree_hash(app.clip)
    client = Client(app.url, verbose=False)
    assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ["/upscale"]
    blocks = [code for lang, code, _ in fenced_blocks(REPO / "docs" / "ui.md") if lang == "python"]
    assert len(blocks) == 1 and 'api_name="/upscale"' in blocks[0]
    script = tmp_path / "snippet.py"
    script.write_text(blocks[0].replace("http://127.0.0.1:7860/", app.url).replace("demo/videos/juggle_lr.mp4", str(app.clip)))
    capsys.readouterr()
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out.strip().splitlines()[-1]  # after gradio_client's "Loaded as API" line
    assert os.path.basename(out) == "tiny_x4.mp4" and video_facts(out) == (12, 128, 96), out
    assert tree_hash(app.clip) == before
    done = [j for j in _jobs(app) if j["state"] == "done"]
    assert len(done) == 1 and done[0]["frames"] == 12 and done[0]["seconds"] > 0


def test_bad_uploads_and_values_are_one_line(app, tmp_path, capfd):
    (tmp_path / "notes.mp4").write_text("a shopping list, not a video\n")
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "cut.mp4").write_bytes(app.clip.read_bytes()[:700])
    (tmp_path / "frame.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (tmp_path / "big.mp4").write_bytes(os.urandom(600_000))
    clip = str(app.clip)
    cases = [
        (str(tmp_path / "notes.mp4"), MODEL, "x4", "fp32", ["notes.mp4", "video"]),
        (str(tmp_path / "empty.mp4"), MODEL, "x4", "fp32", ["empty.mp4"]),
        (str(tmp_path / "cut.mp4"), MODEL, "x4", "fp32", ["cut.mp4"]),
        (str(tmp_path / "frame.png"), MODEL, "x4", "fp32", ["frame.png", "video file"]),
        (clip, "../../etc/passwd", "x4", "fp32", ["model '../../etc/passwd'", "expected one of"]),
        (clip, "/etc/passwd", "x4", "fp32", ["model '/etc/passwd'"]),
        (clip, MODEL, "x99", "fp32", ["output size 'x99'", "at most 16"]),
        (clip, MODEL, "huge", "fp32", ["output size 'huge'"]),
        (clip, MODEL, "x4", "fp64", ["precision 'fp64'", "fp32"]),
    ]
    count = len(_jobs(app))
    client = Client(app.url, verbose=False)
    for path, model, size, precision, needles in cases:
        with pytest.raises(AppError) as caught:
            client.predict(handle_file(path), model, size, precision, api_name="/upscale")
        text = str(caught.value)
        assert "\n" not in text.strip() and "Traceback" not in text, text
        for needle in needles:
            assert needle in text, (needle, text)
    with pytest.raises(Exception) as caught:  # over --max_upload_mb: Gradio refuses the upload itself
        client.predict(handle_file(str(tmp_path / "big.mp4")), MODEL, "x4", "fp32", api_name="/upscale")
    assert "Traceback" not in str(caught.value)
    assert len(_jobs(app)) == count  # no job made of a bad input
    assert "Traceback" not in capfd.readouterr().err


def test_settings_are_checked_before_a_job_exists():
    assert actions.parse_size("1080p") == {"size": "height", "factor": None, "height": 1080, "scale": 4}
    assert actions.parse_size("x2.5")["factor"] == 2.5
    assert actions.parse_size("X4")["size"] == "model"
    s = actions.settings_from("frvsr", "x4", "vp9", "default", "auto", 0, 0)
    assert (s["crf"], s["start"], s["duration"], s["codec"]) == (None, None, None, "vp9")
    for args, needle in [
        (("frvsr", "x4", "h263"), "codec 'h263'"),
        (("frvsr", "x4", "h264", "-3"), "CRF"),
        (("frvsr", "x4", "h264", "ok"), "quality (CRF) 'ok'"),
        (("frvsr", "x4", "h264", None, "auto", -1.0), "start -1"),
        (("frvsr", "0p"), "output size '0p'"),
    ]:
        with pytest.raises(UserError, match=needle.replace("(", r"\(").replace(")", r"\)")):
            actions.settings_from(*args)
    assert safe_name("../../etc/passwd") == "passwd" and safe_name("..") == "video"
    assert safe_name("a\\b\x00c.mp4") == "b_c.mp4"
    assert "BD model on ordinary video" in actions.model_guidance("tecogan")
    assert "BD model" not in actions.model_guidance("frvsr")


def test_nothing_outside_the_work_folder_and_allowed_folders(app):
    secret = app.root / "secret.txt"
    before = tree_hash(secret)
    os.symlink(secret, os.path.join(app.args.workdir, "uploads", "planted.txt"))
    work = app.args.workdir
    for path in (str(secret), f"{work}/../secret.txt", f"{work}/uploads/planted.txt", "/etc/passwd"):
        url = app.url + "gradio_api/file=" + urllib.parse.quote(path)
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url, timeout=30)
        assert caught.value.code in (403, 404), (path, caught.value.code)
    allow = [str(app.allowed)]
    for path in (str(app.allowed / "link.mp4"), str(app.allowed / ".." / "secret.txt"), str(secret), "/etc/passwd"):
        with pytest.raises(UserError, match="outside the allowed folders"):
            allowed_input(path, allow)
    with pytest.raises(UserError, match="no folders are allowed"):
        allowed_input(str(app.allowed / "clip.mp4"), [])
    assert allowed_input(str(app.allowed / "clip.mp4"), allow) == os.path.realpath(app.allowed / "clip.mp4")
    assert list_allowed(allow) == [str(app.allowed / "clip.mp4")]  # the link leading out is not offered
    assert tree_hash(secret) == before


def test_queue_one_at_a_time_cancel_keeps_work_resume_continues_remove(tmp_path):
    long_clip = tiny_clip(tmp_path / "long.mp4", n=60, h=32, w=48)
    short_clip = tiny_clip(tmp_path / "short.mp4")
    hashes = {p: tree_hash(p) for p in (long_clip, short_clip)}
    store = JobStore(tmp_path / "work").open()
    queue = JobQueue(store, segment_frames=4, threads=1).start()
    try:
        settings = actions.settings_from(MODEL, "x4", precision="fp32")
        a, b, c = (queue.submit(p.name, settings, copy_upload(str(p), p.name)) for p in (long_clip, short_clip, short_clip))
        wait_for(lambda: (queue.progress(a["id"])["done"] or 0) >= 4, 60, "the first segment of the long job")
        assert [store.get(j["id"])["state"] for j in (a, b, c)] == ["running", "queued", "queued"]
        progress = queue.progress(a["id"])
        assert progress["total"] == 60 and progress["text"].startswith("running: ")
        assert progress["preview"] and video_facts(progress["preview"])[1:] == (192, 128)
        with pytest.raises(UserError, match="running; cancel it first"):
            queue.remove(a["id"])
        queue.remove(c["id"])  # a queued job leaves the queue
        assert not os.path.exists(store.folder(c["id"]))
        queue.cancel(a["id"])
        record = queue.wait(a["id"], 60)
        assert record["state"] == "cancelled" and "of 60 frames kept" in record["message"], record
        _, dst, log = store.paths(record)
        kept = job_counts(dst)[0]
        assert kept >= 4 and not os.path.exists(dst)
        assert queue.wait(b["id"], 60)["state"] == "done"
        queue.resume(a["id"])
        record = queue.wait(a["id"], 120)
        assert record["state"] == "done", record
        assert video_facts(dst) == (60, 192, 128)
        assert f"resuming from frame {kept}" in open(log).read()
        assert [j["id"] for j in store.jobs()] == [a["id"], b["id"]]
    finally:
        queue.stop()
        store.close()
    assert {p: tree_hash(p) for p in hashes} == hashes


def test_a_killed_app_resumes_its_jobs_at_the_next_start(tmp_path):
    clip = tiny_clip(tmp_path / "clip.mp4", n=60, h=32, w=48)
    work, port = tmp_path / "work", free_port()
    proc = start_app_command(work, port, "--segment_frames", "4", "--threads", "1")
    try:
        wait_serving(proc, port)
        Client(f"http://127.0.0.1:{port}/", verbose=False).submit(
            handle_file(str(clip)), MODEL, "x4", "fp32", api_name="/upscale"
        )
        first = wait_for(
            lambda: glob.glob(str(work / "jobs" / "*" / "output" / ".*.tecogan-job" / "seg000000.json")),
            60,
            "the job's first segment",
        )[0]
        proc.kill()  # SIGKILL: no clean-up in the app; its job gets SIGTERM from the kernel
        proc.wait()
    finally:
        stop_app(proc)
    folder = os.path.dirname(os.path.dirname(os.path.dirname(first)))
    wait_for(lambda: not glob.glob(os.path.join(folder, "output", ".*.tecogan-lock")), 30, "the job to stop")
    record = json.load(open(os.path.join(folder, "job.json")))
    assert record["state"] == "running"  # as the kill left it
    kept = job_counts(os.path.join(folder, "output", "clip_x4.mp4"))[0]
    assert kept >= 4
    again = InProcessApp(work, "--segment_frames", "4").start()  # the next start (in this process: quicker)
    try:
        wait_for(lambda: json.load(open(os.path.join(folder, "job.json")))["state"] in ("done", "failed"), 120, "the resumed job")
    finally:
        again.close()
    record = json.load(open(os.path.join(folder, "job.json")))
    assert record["state"] == "done", record
    assert video_facts(os.path.join(folder, "output", "clip_x4.mp4")) == (60, 192, 128)
    assert f"resuming from frame {kept}" in open(os.path.join(folder, "log.txt")).read()
    assert "Traceback" not in open(proc.log_path).read()


def test_other_machines_need_a_sign_in(tmp_path, capsys, monkeypatch):
    work = str(tmp_path / "work")
    for argv, needles in [
        (["--host", "0.0.0.0"], ["--host 0.0.0.0", "--auth"]),
        (["--auth", "nopassword"], ["--auth", "USER:PASSWORD"]),
        (["--auth_file", str(tmp_path / "missing")], ["--auth_file", "cannot be read"]),
        (["--allow", str(tmp_path / "nowhere")], ["--allow", "not a folder"]),
        (["--port", "70000"], ["--port 70000"]),
        (["--max_upload_mb", "inf"], ["--max_upload_mb inf", "finite"]),
        (["--device", "tpu"], ["--device tpu", "cpu, cuda"]),  # every job would fail on it
        (["--threads", "5000"], ["--threads 5000", "<= 1024"]),
        (["--jobs", "0"], ["--jobs 0", ">= 1"]),
    ]:
        status, _, err = run_inprocess(app_command.cli, ["app.py", "--workdir", work, *argv], capsys, monkeypatch)
        assert_one_line(status, err, *needles)
    args = app_command.build_parser().parse_args(["--host", "0.0.0.0", "--auth", "ann:s3cret"])
    assert app_command.check_args(args) == ([("ann", "s3cret")], [])


def test_sign_in_guards_the_page_and_the_api(tmp_path):
    (tmp_path / "users").write_text("# who may sign in\nann:s3cret\n")
    clip = tiny_clip(tmp_path / "clip.mp4")
    a = InProcessApp(tmp_path / "work", "--auth_file", str(tmp_path / "users"), "--threads", "1").start()
    try:
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(a.url + "config", timeout=30)
        assert caught.value.code == 401
        with pytest.raises(Exception):  # noqa: B017 - gradio_client's error for a refused sign-in varies
            Client(a.url, verbose=False)
        with pytest.raises(Exception):  # noqa: B017
            Client(a.url, auth=("ann", "wrong"), verbose=False)
        out = Client(a.url, auth=("ann", "s3cret"), verbose=False).predict(
            handle_file(str(clip)), MODEL, "x2", "fp32", api_name="/upscale"
        )
        assert video_facts(out) == (12, 64, 48) and os.path.basename(out) == "clip_x2.mp4"
    finally:
        a.close()


def test_page_buttons_answer_in_one_line(tmp_path):
    """The page's handlers (what its buttons call) on a queue that runs nothing: every refusal is
    one ``error:`` line, never an exception."""
    from tecogan.ui.page import Page

    store = JobStore(tmp_path / "work").open()
    page = Page(JobQueue(store), allow_dirs=[str(tmp_path)], limit=10_000_000)
    clip = tiny_clip(tmp_path / "clip.mp4")
    try:
        message, job_id = page.start(str(clip), None, None, "frvsr", "1080p", "vp9", "23", "auto", 0, 0)
        assert message.startswith("added clip.mp4 to the queue") and job_id in message
        record = store.get(job_id)
        assert record["settings"]["height"] == 1080 and record["settings"]["crf"] == 23
        for call, needle in [
            (
                lambda: page.start(None, None, None, "frvsr", "x4", "h264", "default", "auto", 0, 0)[0],
                "error: nothing to upscale",
            ),
            (
                lambda: page.start(str(clip), None, None, "frvsr", "x4", "h264", "best", "auto", 0, 0)[0],
                "error: quality (CRF) 'best'",
            ),
            (
                lambda: page.start(None, None, "/etc/passwd", "frvsr", "x4", "h264", "default", "auto", 0, 0)[0],
                "error: /etc/passwd: outside the allowed folders",
            ),
            (lambda: page.act("cancel", None), "error: no job chosen"),
            (lambda: page.act("resume", job_id), "error: job " + job_id + ": queued; only a cancelled"),
            (lambda: page.act("remove", "../../etc"), "error: job '../../etc': no such job"),
            (lambda: page.compare(job_id, 1, "bicubic", 1, 0.5, 0.5)[0], "no result yet (queued)"),
            (lambda: page.compare(job_id, 1, "sharpest", 1, 0.5, 0.5)[0], "comparison 'sharpest'"),
        ]:
            text = call()
            assert text.startswith("error: ") and needle in text and "\n" not in text, (needle, text)
        rows, jobs, progress, *_ = page.tick(None, None)
        assert rows == [[job_id, "clip.mp4", "frvsr", "queued", "waiting for its turn"]] and progress == "queued"
        assert page.act("cancel", job_id) == f"{job_id}: cancelled"
        assert page.act("remove", job_id) == f"{job_id}: removed" and store.jobs() == []
    finally:
        store.close()


@pytest.mark.slow  # precision auto measures int8 through NNCF on some CPUs: up to a minute
def test_auto_precision_says_what_it_picked_and_why(tmp_path):
    store = JobStore(tmp_path / "work").open()
    queue = JobQueue(store, threads=1).start()
    try:
        clip = tiny_clip(tmp_path / "clip.mp4")
        record = actions.add_job(queue, actions.settings_from(MODEL, "x4", precision="auto"), video=str(clip))
        record = queue.wait(record["id"], 600)
        assert record["state"] == "done", record
        assert record["auto"].startswith("auto: ") and "frames/s" in record["auto"], record["auto"]
        assert f"precision picked: `{record['auto']}`" in actions.details(queue, record)
    finally:
        queue.stop()
        store.close()


def test_the_job_child_runs_the_apps_own_code_not_another_installed_copy(tmp_path):
    import subprocess
    import sys

    from tecogan.ui import runner

    assert os.path.samefile(runner.CHILD, os.path.join(os.path.dirname(actions.__file__), "child.py"))
    # another `tecogan` first on the path (a second clone's app beside an installed copy): not the one run
    other = tmp_path / "other" / "tecogan"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("raise ImportError('the other copy of tecogan was imported')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "other"))
    r = subprocess.run(
        [sys.executable, runner.CHILD, str(os.getpid()), "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "usage: upscale.py" in r.stdout and "other copy" not in r.stderr
