"""The local web app: drop a video, watch it upscale, compare, download (docs/ui.md).

    tecogan-ui [--port 7860] [--workdir DIR] [--allow DIR ...] [--jobs N] [--max_upload_mb MB]
    python codes/app.py --host 0.0.0.0 --auth USER:PASSWORD      # reachable from other machines

It serves a Gradio page on 127.0.0.1 (this machine only) unless ``--host`` says otherwise, which
needs ``--auth`` or ``--auth_file``; it never makes a public share link.  Jobs run one at a time as
resumable ``upscale.py`` jobs; the app's state lives in ``--workdir``.  Ctrl-C stops it; unfinished
jobs continue from their last finished segment at the next start.
"""

import argparse
import ipaddress
import os
import threading

if not __package__:  # run as a file from a clone: import this clone as the package `tecogan`
    import runpy

    runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_clone.py"))

from tecogan.utils.errors import exit_on_early_interrupt

if __name__ == "__main__":  # Ctrl-C while torch loads: one line and status 130, not a traceback
    exit_on_early_interrupt()

from tecogan import defaults
from tecogan.config.limits import check_number
from tecogan.ui.runner import UI_SEGMENT_FRAMES, JobQueue
from tecogan.ui.store import JobStore, default_workdir
from tecogan.utils.device import parse_device
from tecogan.utils.errors import UserError, run_cli

DEFAULT_PORT = 7860
DEFAULT_UPLOAD_MB = 4000
MAX_UPLOAD_MB = 10_000_000  # 10 TB: above any disk, below the float-to-int overflow


def build_parser():
    p = argparse.ArgumentParser(
        description="A local web page to upscale videos (Gradio): upload, queue, progress, compare, download."
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; anything else needs --auth)",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument(
        "--workdir", default=None, help=f"the folder of the app's jobs, uploads and outputs (default {default_workdir()})"
    )
    p.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder whose videos (and frame folders) can be picked in the page without uploading (read only; repeat for more)",
    )
    p.add_argument("--auth", metavar="USER:PASSWORD", help="sign-in for the page and its API")
    p.add_argument(
        "--auth_file", metavar="FILE", help="a file of USER:PASSWORD lines (keeps the password out of the process list)"
    )
    p.add_argument(
        "--max_upload_mb", type=float, default=DEFAULT_UPLOAD_MB, help=f"largest upload in MB (default {DEFAULT_UPLOAD_MB})"
    )
    p.add_argument("--jobs", type=int, default=1, help="jobs running at once (default 1; the rest wait in the queue)")
    p.add_argument("--device", help="cpu, cuda or cuda:k for the jobs (default: CUDA when present)")
    p.add_argument("--threads", type=int, help="CPU threads of each job's network (default: all cores)")
    p.add_argument(
        "--segment_frames",
        type=int,
        default=UI_SEGMENT_FRAMES,
        help=f"frames per resumable segment of a job (default {UI_SEGMENT_FRAMES}): what a cancel or a kill can lose at most",
    )
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    return p


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_auth(args):
    """[(user, password)] from --auth / --auth_file (None: no sign-in)."""
    pairs = []
    if args.auth is not None:
        pairs.append(("--auth", args.auth))
    if args.auth_file is not None:
        try:
            with open(args.auth_file) as f:
                lines = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
        except (OSError, UnicodeDecodeError) as err:
            raise UserError(f"--auth_file {args.auth_file}: cannot be read ({err})") from None
        if not lines:
            raise UserError(f"--auth_file {args.auth_file}: no USER:PASSWORD line in it")
        pairs += [(f"--auth_file {args.auth_file} line {i + 1}", line) for i, line in enumerate(lines)]
    out = []
    for where, text in pairs:
        user, sep, password = text.partition(":")
        if not sep or not user or not password:
            raise UserError(f"{where}: expected USER:PASSWORD (both not empty)")
        out.append((user, password))
    return out or None


def check_args(args):
    auth = read_auth(args)
    if not is_loopback(args.host) and auth is None:
        raise UserError(
            f"--host {args.host}: other machines could reach the page and run jobs; give --auth "
            "USER:PASSWORD or --auth_file FILE to require a sign-in (docs/ui.md)"
        )
    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port}: expected 1 to 65535")
    check_number("--max_upload_mb", args.max_upload_mb, minimum=0, maximum=MAX_UPLOAD_MB, strict_minimum=True)
    for name, low, high in (
        ("jobs", 1, 64),
        ("segment_frames", 1, defaults.MAX_CLIP_FRAMES),
        ("threads", 1, defaults.MAX_THREADS),
    ):
        check_number(f"--{name}", getattr(args, name), minimum=low, maximum=high, integer=True)
    parse_device(args.device, warn_fallback=False)  # every job would fail on a device that cannot be
    allow = []
    for folder in args.allow:
        if not os.path.isdir(folder):
            raise UserError(f"--allow {folder}: not a folder")
        allow.append(os.path.realpath(folder))
    return auth, allow


def serve(args, ready=None, stop=None):
    """Start the app; block until ``stop`` (an Event) is set or Ctrl-C / SIGTERM.  ``ready(url)`` is
    called once it serves (tests)."""
    auth, allow = check_args(args)
    store = JobStore(args.workdir or default_workdir())
    os.environ["GRADIO_TEMP_DIR"] = store.uploads_dir  # every file of the app inside --workdir
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        from tecogan.ui.page import CSS, Page, build  # Gradio reads the variables above
    except ImportError as err:
        raise UserError(
            f"the web app needs Gradio ({err}): pip install -r requirements.txt, or pip install 'tecogan[ui]'"
        ) from None
    store.open()
    queue = JobQueue(store, workers=args.jobs, segment_frames=args.segment_frames, device=args.device, threads=args.threads)
    demo = None
    try:
        queue.start()
        demo = build(Page(queue, allow, int(args.max_upload_mb * 1e6)))
        demo.queue(default_concurrency_limit=4)
        try:
            _, url, _ = demo.launch(
                server_name=args.host,
                server_port=args.port,
                auth=auth,
                share=False,
                max_file_size=int(args.max_upload_mb * 1e6),
                allowed_paths=[store.workdir],
                prevent_thread_lock=True,
                quiet=True,
                css=CSS,
                footer_links=["api"],
                inbrowser=False,
                ssr_mode=False,
            )
        except OSError as err:
            raise UserError(
                f"--port {args.port}: cannot listen on {args.host} ({err}); is another app there? pick another with --port"
            ) from None
        where = "this machine only" if is_loopback(args.host) else "other machines too, sign-in required"
        print(f"tecogan-ui: http://{args.host}:{args.port}/ ({where}); work folder {store.workdir}; Ctrl-C stops it", flush=True)
        if ready is not None:
            ready(url)
        (stop or threading.Event()).wait()
    except KeyboardInterrupt:
        print("stopping: unfinished jobs continue from their last finished segment at the next start", flush=True)
    finally:
        queue.stop()
        if demo is not None:
            demo.close()
        store.close()
    return 0


def main(argv=None):
    return serve(build_parser().parse_args(argv))


def cli():
    """Console-script entry point (``tecogan-ui``)."""
    run_cli(main)


if __name__ == "__main__":
    cli()
