"""Screenshot of ``ganedit serve`` for docs/images/serve.png (and serve_tcp.png).

Starts the page on the bundled configs (unchanged: the near-perfect inversion takes a minute or
two on a CPU), uploads the astronaut photo, inverts it, moves the first SeFa slider, and on the
TCP tab encodes a sample and paints a region; saves full-page screenshots. Needs what the browser
test needs (Debian's chromium, playwright). Run from the repository root::

    python scripts/make_serve_screenshot.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def wait_text(page, selector: str, text: str, timeout: float) -> None:
    page.wait_for_function("([s, t]) => document.querySelector(s) && document.querySelector(s).innerText.includes(t)",
                           arg=[selector, text], timeout=timeout * 1000)


def settled(page, timeout: float = 600) -> None:
    """Wait until no component is processing any more (every render has landed)."""
    page.wait_for_function("() => !document.body.innerText.includes('processing')", timeout=timeout * 1000)
    time.sleep(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/images")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    import tempfile

    import torch
    from playwright.sync_api import sync_playwright

    from ganedit.serve import Workbench
    from ganedit.serve.app import launch

    torch.set_num_threads(1)
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as root:
        benches = [Workbench("configs/near_inversion.yaml", root=root), Workbench("configs/tcp_region.yaml", root=root)]
        demo, url = launch(benches, block=False, port=7931, quiet=True)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, args=FLAGS)
                page = browser.new_page(viewport={"width": 1300, "height": 1400})
                page.goto(url)
                page.set_input_files("#near_inversion-upload input[type=file]", "assets/images/real/astronaut.png")
                wait_text(page, "#near_inversion-status", "Loaded", 60)
                page.click("#near_inversion-invert")
                wait_text(page, "#near_inversion-scores", "PSNR", 900)
                page.wait_for_selector("#near_inversion-0_sefa-edited img", timeout=120_000)
                box = page.locator("#near_inversion-0_sefa-strength input[type=number]")
                box.fill("1.5")
                box.press("Enter")
                page.wait_for_selector("#near_inversion-0_sefa-download", state="visible", timeout=60_000)
                settled(page)
                page.screenshot(path=str(out / "serve.png"), full_page=True)

                page.get_by_role("tab", name="tcp_region (tcp_stylize)").click()
                page.click("#tcp_region-sample input")
                page.keyboard.type("content_1")
                page.keyboard.press("Enter")
                wait_text(page, "#tcp_region-status", "Sample", 60)
                page.click("#tcp_region-invert")
                wait_text(page, "#tcp_region-scores", "PSNR", 300)
                canvas = page.locator("#tcp_region-0_tcp_region-mask canvas").first
                canvas.wait_for(timeout=60_000)
                box = canvas.bounding_box()
                x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
                page.mouse.move(x - 60, y - 60)
                page.mouse.down()
                page.mouse.move(x + 60, y + 60, steps=25)  # a diagonal stroke across the image
                page.mouse.up()
                time.sleep(2)
                settled(page)
                page.screenshot(path=str(out / "serve_tcp.png"), full_page=True)
                browser.close()
        finally:
            demo.close()
    print(f"wrote {out / 'serve.png'} and {out / 'serve_tcp.png'}")


if __name__ == "__main__":
    main()
