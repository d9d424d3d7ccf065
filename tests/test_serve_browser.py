"""End to end: the real page of ``ganedit serve`` in headless Chromium, driven by Playwright.

Needs Debian's ``chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it when it can)
and the ``playwright`` Python package (requirements.txt); Playwright's own browser download is not
used. Skipped, with the reason, when either is missing. ``GANEDIT_CHROMIUM`` names another browser
binary; ``GANEDIT_SCREENSHOT=path.png`` saves a screenshot of the page after the edit (how
docs/images/serve.png is made).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import time
from pathlib import Path

import pytest
from PIL import Image

from ganedit.testing import repo_root, torch_threads

CHROMIUM = os.environ.get("GANEDIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: The flags a closed-network machine needs (no background calls home, no QUIC, no sandbox as root).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
#: The bundled near-inversion config, cut to a few steps (enough to see the progress bar move).
# gradio's queue calls pandas options that pandas 3 deprecates; not ours to fix.
pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:Warning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:Warning")]
TINY = ["inverter.params.initial.params.steps=12", "inverter.params.steps=12"]

if not Path(CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's browser with `apt-get install -y chromium` "
                "(see README, 'Run the tests')", allow_module_level=True)
pytest.importorskip("gradio", reason="the web library of ganedit serve is not installed (pip install -e '.[serve]')")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class server:  # noqa: N801 - the fixture below keeps its run folder here
    root: Path


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    from ganedit.serve import UploadLimits, Workbench
    from ganedit.serve.app import launch

    with pytest.MonkeyPatch.context() as mp, torch_threads(1):
        mp.chdir(repo_root())
        root = tmp_path_factory.mktemp("serve")
        benches = [Workbench("configs/near_inversion.yaml", overrides=TINY, root=root),
                   Workbench("configs/tcp_region.yaml", root=root)]
        demo, url = launch(benches, UploadLimits(max_bytes=2 * 2**20), port=free_port(), block=False, quiet=True)
        try:
            server.root = root
            yield url
        finally:
            demo.close()


@pytest.fixture(scope="module")
def page(url):
    external: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)  # a fresh profile each launch
        page = browser.new_page(viewport={"width": 1400, "height": 1700}, accept_downloads=True)

        def route(r):  # everything must come from the server: record (and refuse) anything else
            if r.request.url.startswith(url.rstrip("/")) or r.request.url.startswith(("data:", "blob:")):
                r.continue_()
            else:
                external.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.goto(url)
        page.external = external
        yield page
        browser.close()


def status(page) -> str:
    return page.inner_text("#near_inversion-status")


def wait_text(page, selector: str, text: str, timeout: float = 60) -> None:
    page.wait_for_function("([s, t]) => document.querySelector(s) && document.querySelector(s).innerText.includes(t)",
                           arg=[selector, text], timeout=timeout * 1000)


def upload(page, path: Path) -> None:
    page.set_input_files("#near_inversion-upload input[type=file]", str(path))


def test_upload_invert_slide_download(page, tmp_path):
    upload(page, repo_root() / "assets/images/real/astronaut.png")
    wait_text(page, "#near_inversion-status", "Loaded astronaut.png")
    page.click("#near_inversion-invert")
    # The inverter's own steps show in a progress bar while it runs.
    page.wait_for_function("() => { const t = document.querySelector('#near_inversion-final').innerText;"
                           " return t.includes('near_perfect') && /\\d+\\/12 steps/.test(t); }", timeout=120_000)
    wait_text(page, "#near_inversion-scores", "PSNR initial", timeout=180)
    assert "final" in page.inner_text("#near_inversion-scores")
    edited = "#near_inversion-0_sefa-edited img"
    page.wait_for_selector(edited, timeout=60_000)
    before = page.get_attribute(edited, "src")
    box = page.locator("#near_inversion-0_sefa-strength input[type=number]")
    box.fill("3")
    box.press("Enter")
    page.wait_for_function("([s, b]) => document.querySelector(s) && document.querySelector(s).src !== b",
                           arg=[edited, before], timeout=60_000)
    page.wait_for_selector("#near_inversion-0_sefa-download", state="visible")
    if os.environ.get("GANEDIT_SCREENSHOT"):
        time.sleep(1)
        page.screenshot(path=os.environ["GANEDIT_SCREENSHOT"], full_page=True)
    with page.expect_download() as info:
        page.click("#near_inversion-0_sefa-download")
    data = Path(info.value.path()).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(data))
    img.load()
    assert img.size == (64, 64)
    # The shown edit changed, and so does the image the page serves for it.
    shown_before = page.request.get(before).body()
    shown_after = page.request.get(page.get_attribute(edited, "src")).body()
    assert Image.open(io.BytesIO(shown_before)).tobytes() != Image.open(io.BytesIO(shown_after)).tobytes()
    assert page.external == []  # nothing fetched from outside this machine


@pytest.mark.parametrize("kind", ["text", "huge", "truncated"])
def test_bad_uploads_show_an_error_and_the_server_keeps_serving(page, tmp_path, kind):
    if kind == "text":
        bad = tmp_path / "notes.txt"
        bad.write_text("not an image\n")
        message = "not an image"
    elif kind == "huge":
        bad = tmp_path / "huge.png"
        Image.new("L", (5000, 5000)).save(bad)
        message = "pixels is larger than the limit"
    else:
        data = (repo_root() / "assets/images/real/chelsea.png").read_bytes()
        bad = tmp_path / "truncated.png"
        bad.write_bytes(data[: len(data) // 2])
        message = "truncated"
    upload(page, bad)
    wait_text(page, "#near_inversion-status", "upload refused")
    assert message in status(page)
    upload(page, repo_root() / "assets/images/real/coffee.png")
    wait_text(page, "#near_inversion-status", "Loaded coffee.png")


def test_paint_a_region(page):
    """TCP tab: pick a sample, encode it, paint a stroke in the first panel's mask: the stroke becomes
    the region's mask (where it was drawn) and the edited image changes."""
    page.get_by_role("tab", name="tcp_region (tcp_stylize)").click()
    page.click("#tcp_region-sample input")
    page.keyboard.type("content_1")
    page.keyboard.press("Enter")
    wait_text(page, "#tcp_region-status", "Sample content_1")
    page.click("#tcp_region-invert")
    wait_text(page, "#tcp_region-scores", "Reconstruction PSNR")
    edited = "#tcp_region-0_tcp_region-edited img"
    page.wait_for_selector(edited, timeout=60_000)
    before = page.get_attribute(edited, "src")
    canvas = page.locator("#tcp_region-0_tcp_region-mask canvas").first
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 60, y - 60)
    page.mouse.down()
    page.mouse.move(x + 60, y + 60, steps=25)
    page.mouse.up()
    page.wait_for_function("([s, b]) => document.querySelector(s) && document.querySelector(s).src !== b",
                           arg=[edited, before], timeout=60_000)
    masks = sorted(server.root.glob("tcp_region/*/masks/*.png"))
    assert masks, "the stroke was not saved as a mask"
    mask = Image.open(masks[-1]).convert("L")
    assert mask.size == (64, 64)
    assert mask.getpixel((32, 32)) > 127 and mask.getpixel((4, 60)) == 0 and mask.getpixel((60, 4)) == 0
    assert page.external == []
