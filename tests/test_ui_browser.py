"""The web app in a browser (issue 34): Playwright drives Debian's Chromium (``/usr/bin/chromium``,
which .ci/run installs with apt-get) through the page as a person would: upload the bundled clip,
pick a model (the BD warning shows for BD models) and the precision, start, see the progress
with the time left and the latest upscaled frame, cancel (the finished segments are kept),
resume, play the 4x result in the page, compare a frame before/after; a folder upload is named
after its frames; a bad upload is one line in the page.  The screenshot of the README (resources/ui.png) is taken here:
``TECOGAN_UPDATE_SCREENSHOT=1 pytest -m slow tests/test_ui_browser.py`` writes it.
"""

import os
import shutil

import pytest
from helpers import REPO, tree_hash
from uihelpers import free_port, start_app_command, stop_app, video_facts, wait_serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CLIP = REPO / "demo" / "videos" / "juggle_lr.mp4"  # 48 frames, 192x108
SCREENSHOT = REPO / "resources" / "ui.png"


@pytest.fixture()
def browser_page(tmp_path):
    """A served app (its own work folder) and a Chromium page on it."""
    from playwright.sync_api import sync_playwright

    assert os.path.isfile(CHROMIUM), "Chromium is missing: apt-get install chromium (.ci/run does)"
    port = free_port()
    proc = start_app_command(tmp_path / "work", port, "--segment_frames", "4", "--threads", "2")
    try:
        wait_serving(proc, port)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#start_btn")
            page.work = tmp_path / "work"
            yield page
            page.close()
            browser.close()
    finally:
        assert stop_app(proc) == 0
        assert "Traceback" not in open(proc.log_path).read()


def _choose(page, elem_id, option):
    page.locator(f"#{elem_id} input").click()
    page.locator("[role=option]", has_text=option).first.click()


PLAY = """async () => {
    const v = document.querySelector('#result video');
    v.muted = true;
    for (let i = 0; i < 100 && v.readyState < 2; i++) await new Promise(r => setTimeout(r, 100));
    await v.play();
    await new Promise(r => setTimeout(r, 800));
    const facts = {width: v.videoWidth, height: v.videoHeight, duration: v.duration, time: v.currentTime, error: v.error};
    v.pause();  // a video left looping kept headless Chromium busy, and browser.close() once hung on it
    return facts;
}"""


@pytest.mark.slow  # 40-90 s on a busy 2-core CPU
def test_upload_start_progress_cancel_resume_play_compare(browser_page):
    from playwright.sync_api import expect

    page = browser_page
    before = tree_hash(CLIP)
    page.locator("#video_input input[type=file]").set_input_files(str(CLIP))
    expect(page.locator("#video_input")).to_contain_text("juggle_lr.mp4")
    page.locator("#model label", has_text="tecogan").click()
    expect(page.locator("#guidance")).to_contain_text("BD model on ordinary video")
    page.locator("#model label", has_text="frvsr-fast").click()  # the fastest shipped model: a short test
    expect(page.locator("#guidance")).not_to_contain_text("BD model on ordinary video")
    _choose(page, "precision", "fp32")
    page.locator("#start_btn").click()
    expect(page.locator("#message")).to_contain_text("added juggle_lr.mp4 to the queue")

    # running: progress with the time left, and the latest upscaled frame
    expect(page.locator("#progress")).to_contain_text("/48 frames")
    expect(page.locator("#progress")).to_contain_text(" left", timeout=120_000)
    expect(page.locator("#preview img")).to_be_visible()
    assert page.locator("#preview img").evaluate("img => img.naturalWidth") == 768

    # cancel keeps the finished segments; resume continues from them
    page.locator("#cancel_btn").click()
    expect(page.locator("#details")).to_contain_text("frames kept: Resume continues from there")
    page.locator("#resume_btn").click()
    expect(page.locator("#progress")).to_have_text("done", timeout=300_000)
    log = next(page.work.glob("jobs/*/log.txt")).read_text()
    assert "resuming from frame" in log

    # the 4x result plays in the page, and downloads
    expect(page.locator("#result video")).to_be_attached()
    facts = page.evaluate(PLAY)
    assert (facts["width"], facts["height"]) == (768, 432) and facts["error"] is None, facts
    assert facts["duration"] > 1.5 and facts["time"] > 0, facts
    assert page.locator("#download a").first.get_attribute("href")
    expect(page.locator("#details")).to_contain_text("48 frames")
    out = next(page.work.glob("jobs/*/output/juggle_lr_x4.mp4"))
    assert video_facts(out) == (48, 768, 432)

    # before/after: bicubic, then the input's pixels, zoomed
    page.locator("#compare_btn").click()
    expect(page.locator("#message")).to_contain_text("frame 1: bicubic (left) | result (right), zoom 1x")
    expect(page.locator("#compare img")).to_have_count(2)
    page.locator("#how label", has_text="input").click()
    _choose(page, "zoom", "2")
    page.locator("#compare_btn").click()
    expect(page.locator("#message")).to_contain_text("input (left) | result (right), zoom 2x")
    widths = page.locator("#compare img").evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert widths == [384, 384], widths
    _choose(page, "zoom", "1")
    page.locator("#how label", has_text="bicubic").click()
    page.locator("#compare_btn").click()
    expect(page.locator("#message")).to_contain_text("bicubic (left) | result (right), zoom 1x")
    shot = page.work.parent / "ui.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("TECOGAN_UPDATE_SCREENSHOT"):  # the README's copy: 720 pixels wide
        import cv2

        image = cv2.imread(str(shot))
        small = cv2.resize(image, (720, round(image.shape[0] * 720 / image.shape[1])), interpolation=cv2.INTER_AREA)
        assert cv2.imwrite(str(SCREENSHOT), small, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert tree_hash(CLIP) == before


@pytest.mark.slow  # about 15 s
def test_a_bad_upload_is_one_line_in_the_page(browser_page, tmp_path):
    from playwright.sync_api import expect

    page = browser_page
    notes = tmp_path / "notes.mp4"
    notes.write_text("a shopping list, not a video\n")
    before = tree_hash(notes)
    page.locator("#video_input input[type=file]").set_input_files(str(notes))
    expect(page.locator("#video_input")).to_contain_text("notes.mp4")
    page.locator("#start_btn").click()
    message = page.locator("#message")
    expect(message).to_contain_text("error: notes.mp4: FFmpeg cannot read this file as a video")
    assert len(message.inner_text().strip().splitlines()) == 1
    assert "Traceback" not in page.content()
    page.locator("#video_input button[aria-label='Clear']").first.click()
    page.locator("#start_btn").click()
    expect(message).to_contain_text("error: nothing to upscale")
    assert not list(page.work.glob("jobs/*"))  # no job made
    assert tree_hash(notes) == before


@pytest.mark.slow  # about 15 s
def test_an_uploaded_folder_is_named_after_its_frames(browser_page, tmp_path):
    """The browser sends each file of a folder without the folder's name (Gradio keeps each in a
    folder named by its hash): the job is named after the frames, and a Mac's .DS_Store is left
    out as upscale.py leaves it out."""
    import cv2
    import numpy as np
    from playwright.sync_api import expect

    page = browser_page
    folder = tmp_path / "holiday"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"coffee_{i:04d}.png"), np.full((24, 32, 3), 60 * i, np.uint8))
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    before = tree_hash(folder)
    page.get_by_text("or the frames of a folder").first.click()
    page.locator("#frames_input input[type=file]").set_input_files(str(folder))
    expect(page.locator("#frames_input")).to_contain_text("coffee_0002")
    page.locator("#model label", has_text="frvsr-fast").click()
    page.locator("#start_btn").click()
    expect(page.locator("#message")).to_contain_text("added coffee to the queue")
    (job,) = page.work.glob("jobs/*")
    assert sorted(os.listdir(job / "input" / "coffee")) == [f"coffee_{i:04d}.png" for i in range(3)]
    expect(page.locator("#progress")).to_have_text("done", timeout=300_000)
    assert video_facts(job / "output" / "coffee_x4.mp4") == (3, 128, 96)
    assert tree_hash(folder) == before
