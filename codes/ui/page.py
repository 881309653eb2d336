"""The Gradio page: input, model, size, codec, precision; the queue with progress, the latest
upscaled frame, cancel / resume / remove; the result (player, download, details) and the
before/after comparison; and the named API endpoint ``upscale`` for ``gradio_client``.

Errors of the user's making are one line in the page (``#message``) or, through the API, the
endpoint's error; anything unexpected is one line too, its traceback in ``WORKDIR/app.log``.
"""

from __future__ import annotations

import functools
import logging
import os
import traceback

import gradio as gr

from tecogan.pretrained import DEFAULT_MODEL, PRETRAINED
from tecogan.ui import actions
from tecogan.ui.frames import BEFORE, ZOOMS, comparison
from tecogan.ui.inputs import list_allowed
from tecogan.ui.store import CODECS
from tecogan.utils.errors import UserError, one_line

log = logging.getLogger("tecogan.ui")
CSS = "#message p {font-weight: 600} #progress p {font-size: 1.1em}"
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16", "int8")


class Page:
    """The handlers of one app (a store, a queue, the options of ``tecogan-ui``)."""

    def __init__(self, queue, allow_dirs=(), limit=None, api_timeout=None):
        self.queue, self.store = queue, queue.store
        self.allow_dirs, self.limit, self.api_timeout = list(allow_dirs), limit, api_timeout
        self.models = tuple(PRETRAINED)

    def _report(self, err):
        if isinstance(err, UserError):
            return f"error: {one_line(err)}"
        path = os.path.join(self.store.workdir, "app.log")
        try:
            with open(path, "a") as f:
                f.write(traceback.format_exc())
        except OSError:
            pass
        return f"error: unexpected {type(err).__name__}: {one_line(err, 240)} (details in {path})"

    # ------------------------------------------------------------ form ----
    def start(self, video, frames, allowed, model, size, codec, crf, precision, start, duration):
        try:
            settings = actions.settings_from(model, size, codec, crf, precision, start, duration, self.models)
            record = actions.add_job(self.queue, settings, video, frames, allowed, self.allow_dirs, self.limit)
        except Exception as err:  # noqa: BLE001 - one line in the page, never a traceback
            return self._report(err), gr.skip()
        return f"added {record['name']} to the queue (job {record['id']})", record["id"]

    def act(self, what, job_id):
        try:
            if not job_id:
                raise UserError("no job chosen: pick one in 'Job'")
            return f"{job_id}: " + getattr(self.queue, what)(job_id)
        except Exception as err:  # noqa: BLE001
            return self._report(err)

    def api(self, video, model, size, precision):
        try:
            return actions.api_upscale(self.queue, video, model, size, precision, self.models, self.limit, self.api_timeout)
        except Exception as err:  # noqa: BLE001
            raise gr.Error(self._report(err)[len("error: ") :], print_exception=False) from None

    # ----------------------------------------------------------- views ----
    def tick(self, job_id, shown):
        """Every second: the queue, the job list, and the chosen job's progress, preview and result
        (the player and comparison only when its result changes, so playback is not interrupted)."""
        try:
            rows = actions.queue_rows(self.queue)
            records = self.store.jobs()
            ids = [r["id"] for r in records]
            if job_id not in ids:
                running = [r["id"] for r in records if r["state"] in ("running", "queued")]
                job_id = running[0] if running else (ids[-1] if ids else None)
            choices = [(actions.job_label(r), r["id"]) for r in records]
            if job_id is None:
                return (rows, gr.update(choices=choices, value=None), "no job yet", None, "", None, None, gr.skip(), None)
            record = self.store.get(job_id)
            progress = self.queue.progress(job_id)
            key = f"{job_id}:{record['state']}"
            if key == shown:
                video = output = frame = gr.skip()
            else:
                done = record["state"] == "done"
                out = self.store.paths(record)[1] if done else None
                video = output = out
                frame = gr.update(maximum=max(2, record.get("frames") or 2), value=1)
            return (
                rows,
                gr.update(choices=choices, value=job_id),
                progress["text"],
                progress["preview"],
                actions.details(self.queue, record),
                video,
                output,
                frame,
                key,
            )
        except Exception as err:  # noqa: BLE001
            return (gr.skip(),) * 2 + (self._report(err),) + (gr.skip(),) * 6

    def compare(self, job_id, frame, how, zoom, cx, cy):
        try:
            if not job_id:
                raise UserError("no job chosen: pick a finished one in 'Job'")
            record = self.store.get(job_id)
            src, dst, _ = self.store.paths(record)
            folder = os.path.join(self.store.folder(job_id), "compare")
            before, after = comparison(record, src, dst, folder, int(frame) - 1, how, int(zoom), cx, cy)
        except Exception as err:  # noqa: BLE001
            return self._report(err), gr.skip()
        return f"frame {int(frame)}: {how} (left) | result (right), zoom {zoom}x", (before, after)


def build(page, title="TecoGAN video upscaler"):
    """The gr.Blocks of ``page``."""
    # Gradio's copies of uploads and shown files (WORKDIR/uploads) go after two hours: each job keeps its own
    with gr.Blocks(title=title, delete_cache=(1800, 7200)) as demo:
        gr.Markdown(
            f"## {title}\nUpload a video (or a folder's frames), pick a model and start: jobs wait in a "
            "queue, run one at a time, and survive a restart of the app."
        )
        message = gr.Markdown("", elem_id="message")
        with gr.Row():
            with gr.Column():
                video = gr.File(label="Video file", file_types=["video"], elem_id="video_input")
                with gr.Accordion("or the frames of a folder", open=False):
                    frames = gr.File(label="Frames folder (PNG, JPEG, ...)", file_count="directory", elem_id="frames_input")
                allowed = gr.Dropdown(
                    choices=list_allowed(page.allow_dirs),
                    value=None,
                    label="or a file of the allowed folders (--allow)",
                    visible=bool(page.allow_dirs),
                    elem_id="allowed",
                    allow_custom_value=True,
                )  # checked by inputs.allowed_input
            with gr.Column():
                model = gr.Radio(
                    [(actions.model_label(n), n) for n in page.models], value=DEFAULT_MODEL, label="Model", elem_id="model"
                )
                guidance = gr.Markdown(actions.model_guidance(DEFAULT_MODEL), elem_id="guidance")
                with gr.Row():
                    size = gr.Dropdown(
                        list(actions.SIZES),
                        value="x4",
                        allow_custom_value=True,
                        label="Output size",
                        info=actions.SIZE_HELP,
                        elem_id="size",
                    )
                    precision = gr.Dropdown(
                        list(PRECISION_CHOICES), value="auto", label="Precision", info=actions.PRECISION_HELP, elem_id="precision"
                    )
                with gr.Row():
                    codec = gr.Dropdown(list(CODECS), value="h264", label="Codec", elem_id="codec")
                    crf = gr.Dropdown(
                        list(actions.CRFS),
                        value="default",
                        allow_custom_value=True,
                        label="Quality (CRF: lower is better and bigger)",
                        elem_id="crf",
                    )
                with gr.Row():
                    start = gr.Number(None, label="Start at (seconds)", elem_id="start")
                    duration = gr.Number(None, label="Only this many seconds (0: all)", elem_id="duration")
                start_btn = gr.Button("Start", variant="primary", elem_id="start_btn")
        gr.Markdown("### Queue")
        table = gr.Dataframe(headers=["job", "input", "model", "progress", "message"], interactive=False, elem_id="queue")
        with gr.Row():
            job = gr.Dropdown(
                choices=[], value=None, label="Job", elem_id="job", scale=3, allow_custom_value=True
            )  # the list changes as jobs come and go
            cancel_btn = gr.Button("Cancel (keeps finished segments)", elem_id="cancel_btn")
            resume_btn = gr.Button("Resume", elem_id="resume_btn")
            remove_btn = gr.Button("Remove", elem_id="remove_btn")
        progress = gr.Markdown("no job yet", elem_id="progress")
        with gr.Row():
            preview = gr.Image(label="Latest upscaled frame", interactive=False, elem_id="preview", height=300)
            result = gr.Video(label="Result", interactive=False, elem_id="result", height=300)
        info = gr.Markdown("", elem_id="details")
        download = gr.File(label="Download", interactive=False, elem_id="download")
        gr.Markdown("### Before / after")
        with gr.Row():
            frame = gr.Slider(1, 2, value=1, step=1, label="Frame", elem_id="frame")
            how = gr.Radio(list(BEFORE), value="bicubic", label="Left side", elem_id="how")
            zoom = gr.Dropdown(list(ZOOMS), value=1, label="Zoom", elem_id="zoom")
            cx = gr.Slider(0, 1, value=0.5, step=0.05, label="Zoom centre x", elem_id="cx")
            cy = gr.Slider(0, 1, value=0.5, step=0.05, label="Zoom centre y", elem_id="cy")
        compare_btn = gr.Button("Compare", elem_id="compare_btn")
        slider = gr.ImageSlider(
            label="before | after (drag the line)",
            elem_id="compare",
            type="filepath",
            buttons=["fullscreen", "download"],
            max_height=600,
        )
        shown = gr.State(None)

        private = {"api_visibility": "private"}
        model.change(actions.model_guidance, model, guidance, **private)
        allowed.focus(lambda: gr.update(choices=list_allowed(page.allow_dirs)), None, allowed, **private)
        start_btn.click(
            page.start, [video, frames, allowed, model, size, codec, crf, precision, start, duration], [message, job], **private
        )
        for btn, what in ((cancel_btn, "cancel"), (resume_btn, "resume"), (remove_btn, "remove")):
            btn.click(functools.partial(page.act, what), job, message, **private)
        outputs = [table, job, progress, preview, info, result, download, frame, shown]
        gr.Timer(1.0).tick(page.tick, [job, shown], outputs, show_progress="hidden", **private)
        job.input(page.tick, [job, gr.State(None)], outputs, show_progress="hidden", **private)
        compare_btn.click(page.compare, [job, frame, how, zoom, cx, cy], [message, slider], **private)
        # the scripting endpoint: input file, model, output size, precision -> the output video
        with gr.Row(visible=False):
            api_file = gr.File(label="input")
            api_model = gr.Textbox(DEFAULT_MODEL, label="model")
            api_size = gr.Textbox("x4", label="size")
            api_precision = gr.Textbox("auto", label="precision")
            api_out = gr.File(label="output")
            api_btn = gr.Button("upscale")
        api_btn.click(
            page.api,
            [api_file, api_model, api_size, api_precision],
            api_out,
            api_name="upscale",
            concurrency_limit=None,
            api_description="Upscale a video file with a model; blocks until "
            "the job is done and returns the output video (it waits in the app's queue)",
        )
    return demo
