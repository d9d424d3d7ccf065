"""The browser page of ``ganedit serve``, built with gradio (only this module imports it).

One tab per config. Each tab: upload an image or pick a sample, invert it (the task's own progress
in a progress bar), target / initial / final with PSNR, one panel per editor with its controls
(re-rendered on change), and downloads (edited PNG, latent, tuned generator). Everything is served
from this machine: no analytics, no fonts or scripts from elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

# Before gradio is imported: no usage analytics, no version check, no hub calls at run time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from ganedit.config import ConfigError  # noqa: E402
from ganedit.io.images import tensor_to_pil  # noqa: E402
from ganedit.serve.editing import Choice, Mask, Panel, Reference, Slider  # noqa: E402
from ganedit.serve.session import DEFAULT_CONFIGS, Session, SessionError, Workbench  # noqa: E402
from ganedit.serve.uploads import UploadError, UploadLimits  # noqa: E402

#: Images are shown at least this many pixels wide (nearest-neighbour, so pixels stay visible).
SHOW = 256

CSS = """
.ge-image img { image-rendering: pixelated; }
#ge-header h1 { margin-bottom: 0; }
"""


def shown(image: torch.Tensor | None) -> Image.Image | None:
    """A ``[3, H, W]`` image as a PIL image scaled up (whole factors) to at least :data:`SHOW` px."""
    if image is None:
        return None
    pil = tensor_to_pil(image)
    factor = max(1, -(-SHOW // max(pil.size)))
    return pil.resize((pil.width * factor, pil.height * factor), Image.NEAREST) if factor > 1 else pil


def ok(text: str) -> str:
    return text


def error(text: str) -> str:
    return f"**Error:** {text}"


def painted_mask(value: Any, size: int) -> torch.Tensor | None:
    """The strokes of an image-editor value as a ``[size, size]`` mask in [0, 1] (``None``: none)."""
    if not isinstance(value, dict):
        return None
    layers = [np.asarray(layer) for layer in value.get("layers") or [] if layer is not None]
    alphas = [a[..., 3] for a in layers if a.ndim == 3 and a.shape[-1] == 4]
    if not alphas:
        return None
    alpha = torch.from_numpy(np.maximum.reduce(alphas).astype(np.float32) / 255.0)
    if float(alpha.max()) <= 0:
        return None
    # The canvas shows the image scaled up: average back down to the model's resolution.
    return torch.nn.functional.interpolate(alpha[None, None], size=(size, size), mode="area")[0, 0]


class Tab:
    """The components and event wiring of one workbench's tab."""

    def __init__(self, bench: Workbench, limits: UploadLimits):
        self.bench = bench
        self.limits = limits
        self.prefix = bench.name

    def session(self, state: Session | None) -> Session:
        return state if state is not None else Session(self.bench, self.limits)

    # ------------------------------------------------------------------ layout
    def build(self) -> None:
        bench, p = self.bench, self.prefix
        encoder = bench.method == "encoder"
        self.state = gr.State(None)
        gr.Markdown(f"**{bench.path}** — {bench.config.description or bench.task}. "
                    f"{'Encoder' if encoder else 'Inverter'}: "
                    f"`{(bench.resolved.get('encoder') if encoder else bench.resolved['inverter'])['type']}`, "
                    f"generator `{bench.resolved['generator']['type']}` ({bench.resolution} px). "
                    f"Uploads: {self.limits.describe()}.")
        with gr.Row():
            with gr.Column(scale=1, min_width=260):
                self.upload = gr.File(label="Upload an image", type="filepath", elem_id=f"{p}-upload")
                self.sample = gr.Dropdown([s.name for s in bench.samples], value=None, label="or pick a sample",
                                          elem_id=f"{p}-sample")
                self.run = gr.Button("Encode" if encoder else "Invert", variant="primary", elem_id=f"{p}-invert")
                self.status = gr.Markdown("Upload an image or pick a sample, then "
                                          f"{'encode' if encoder else 'invert'} it.", elem_id=f"{p}-status")
            with gr.Column(scale=3):
                with gr.Row():
                    kw = dict(type="pil", interactive=False, format="png", elem_classes=["ge-image"], height=SHOW)
                    self.target = gr.Image(label="target", elem_id=f"{p}-target", **kw)
                    self.initial = gr.Image(label="initial", visible=not encoder, elem_id=f"{p}-initial", **kw)
                    self.final = gr.Image(label="reconstruction" if encoder else "final", elem_id=f"{p}-final", **kw)
                self.scores = gr.Markdown(elem_id=f"{p}-scores")
                with gr.Row():
                    self.get_latent = gr.DownloadButton("Download latent", visible=False, elem_id=f"{p}-latent")
                    self.get_generator = gr.DownloadButton("Download tuned generator", visible=False,
                                                           elem_id=f"{p}-generator")
                self.folder = gr.Markdown(elem_id=f"{p}-folder")
        self.panels = [self.build_panel(panel) for panel in bench.panels]
        if not bench.panels:
            gr.Markdown("This config has no editors.")

    def build_panel(self, panel: Panel) -> dict[str, Any]:
        p = f"{self.prefix}-{panel.key}"
        comps: dict[str, Any] = {"panel": panel, "controls": [], "uploads": []}
        with gr.Group():
            gr.Markdown(f"### {panel.title}\n{panel.help}")
            with gr.Row():
                with gr.Column(scale=2):
                    for c in panel.controls:
                        comps["controls"].append(self.control(c, p, comps))
                with gr.Column(scale=1, min_width=SHOW):
                    comps["image"] = gr.Image(label="edited", type="pil", interactive=False, format="png",
                                              elem_classes=["ge-image"], height=SHOW, elem_id=f"{p}-edited")
                    comps["download"] = gr.DownloadButton("Download edited PNG", visible=False,
                                                          elem_id=f"{p}-download")
        return comps

    def control(self, c: Any, p: str, comps: dict[str, Any]) -> Any:
        if isinstance(c, Slider):
            return gr.Slider(c.minimum, c.maximum, value=c.value, step=c.step, label=c.label,
                             elem_id=f"{p}-{c.name}")
        if isinstance(c, Choice):
            return gr.Dropdown(c.choices, value=c.value, label=c.label, elem_id=f"{p}-{c.name}")
        if isinstance(c, Reference):
            dd = gr.Dropdown(c.choices, value=c.value or None, label=c.label, elem_id=f"{p}-{c.name}")
            up = gr.File(label=f"or upload a {c.label}", type="filepath", height=80, elem_id=f"{p}-{c.name}-upload")
            comps["uploads"].append((up, dd, c))
            return dd
        if isinstance(c, Mask):
            return gr.ImageEditor(label=f"{c.label} — without strokes: {c.default}", type="numpy",
                                  sources=(), transforms=(), layers=False, height=SHOW + 80,
                                  canvas_size=(SHOW, SHOW), fixed_canvas=True,
                                  brush=gr.Brush(colors=["#ff0066"], default_size=12, color_mode="fixed"),
                                  elem_id=f"{p}-{c.name}")
        raise TypeError(f"unknown control {c!r}")

    # ------------------------------------------------------------------ events
    def wire(self) -> None:
        outs_view = [self.state, self.status, self.target, self.initial, self.final, self.scores,
                     self.get_latent, self.get_generator, self.folder]
        # The file box is emptied after each upload (the image shows as the target), ready for the next.
        self.upload.upload(self.on_upload, [self.state, self.upload],
                           [self.state, self.status, self.target, self.upload])
        self.sample.input(self.on_sample, [self.state, self.sample], [self.state, self.status, self.target])
        masks = [comp for comps in self.panels for comp, c in zip(comps["controls"], comps["panel"].controls)
                 if isinstance(c, Mask)]
        event = self.run.click(self.on_invert, [self.state], outs_view + masks, concurrency_limit=1,
                               show_progress_on=[self.final])
        for comps in self.panels:
            inputs = [self.state, *comps["controls"]]
            outputs = [comps["image"], comps["download"], self.status]
            fn = self.renderer(comps["panel"])
            event.then(fn, inputs, outputs)
            for comp in comps["controls"]:
                comp.change(fn, inputs, outputs, trigger_mode="always_last", show_progress="minimal")
            for up, dd, c in comps["uploads"]:
                up.upload(self.referencer(c), [self.state, up], [self.state, dd, self.status])

    def on_upload(self, state: Session | None, path: str | None):
        s = self.session(state)
        if not path:
            return s, ok("Upload an image or pick a sample."), None, None
        try:
            s.upload(path, name=Path(path).name)
            return s, ok(f"Loaded {Path(path).name}; press {self.run.value}."), shown(s.preview()), None
        except (UploadError, SessionError) as exc:
            return s, error(f"upload refused: {exc}"), None, None

    def on_sample(self, state: Session | None, name: str | None):
        s = self.session(state)
        if not name:
            return s, ok("Pick a sample."), None
        try:
            s.pick(name)
            return s, ok(f"Sample {name}; press {self.run.value}."), shown(s.preview())
        except SessionError as exc:
            return s, error(str(exc)), None

    def on_invert(self, state: Session | None, progress: gr.Progress = gr.Progress()):
        s = self.session(state)
        hide = gr.update(visible=False)

        def report(desc: str, done: int, total: int | None) -> None:
            progress((done, total) if total else None, desc=desc or "running", unit="steps")

        n_masks = sum(isinstance(c, Mask) for panel in self.bench.panels for c in panel.controls)
        try:
            inv = s.invert(report)
        except SessionError as exc:
            return [s, error(str(exc)), gr.update(), None, None, "", hide, hide, ""] + [gr.update()] * n_masks
        m = inv.metrics
        if self.bench.method == "inversion":
            scores = (f"PSNR initial **{m['psnr_initial']:.2f} dB**, final **{m['psnr_final']:.2f} dB** "
                      f"({m.get('steps', 0)} steps, {m.get('seconds', 0):.1f} s)")
        else:
            scores = f"Reconstruction PSNR **{m['psnr_final']:.2f} dB**"
        gen = inv.files.get("generator")
        background = shown(inv.target)
        masks = [{"background": background, "layers": [], "composite": background}] * n_masks
        return [s, ok(f"Done: {inv.name}. Move the controls below to edit."), shown(inv.target),
                shown(inv.initial), shown(inv.final), scores,
                gr.update(value=str(inv.files["latent"]), visible=True),
                gr.update(value=str(gen), visible=True) if gen else hide,
                f"Run folder: `{inv.folder}` (reproduce: `ganedit run {inv.folder / 'config.yaml'}`)"] + masks

    def renderer(self, panel: Panel):
        def render(state: Session | None, *values: Any):
            if state is None or state.inversion is None:
                return gr.update(), gr.update(), gr.update()
            named: dict[str, Any] = {}
            for c, v in zip(panel.controls, values):
                if isinstance(c, Mask):
                    mask = painted_mask(v, self.bench.resolution)
                    named[c.name] = str(state.save_mask(mask)) if mask is not None else None
                else:
                    named[c.name] = v
            try:
                image, path = state.edit(panel, named)
            except SessionError as exc:
                return gr.update(), gr.update(), error(str(exc))
            return shown(image), gr.update(value=str(path), visible=True), gr.update()

        return render

    def referencer(self, control: Reference):
        def on_reference(state: Session | None, path: str | None):
            s = self.session(state)
            if not path:
                return s, gr.update(), gr.update()
            try:
                ref = s.upload_reference(path, name=Path(path).name)
            except (UploadError, SessionError) as exc:
                return s, gr.update(), error(f"reference refused: {exc}")
            choices = list(control.choices) + [(f"{u.stem} (upload)", str(u)) for u in s.uploads]
            return s, gr.update(choices=choices, value=str(ref)), ok(f"Reference {Path(path).name} added.")

        return on_reference


def build_app(benches: Sequence[Workbench], limits: UploadLimits | None = None) -> gr.Blocks:
    """The page for ``benches`` (one tab each)."""
    limits = limits or UploadLimits()
    with gr.Blocks(title="ganedit editor", analytics_enabled=False) as demo:
        gr.Markdown("# ganedit editor\nInvert an image into a generator, edit it with the config's editors, "
                    "download the result. Every inversion is a normal run folder.", elem_id="ge-header")
        tabs = []
        with gr.Tabs():
            for bench in benches:
                with gr.Tab(bench.title, elem_id=f"tab-{bench.name}"):
                    tab = Tab(bench, limits)
                    tab.build()
                    tabs.append(tab)
        for tab in tabs:
            tab.wire()
    demo.ganedit_tabs = tabs  # type: ignore[attr-defined]
    return demo


def theme() -> gr.themes.Base:
    """The default look with the system's fonts (the stock theme would ask a font CDN)."""
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"])


def launch(benches: Sequence[Workbench], limits: UploadLimits | None = None, host: str = "127.0.0.1",
           port: int | None = None, block: bool = True, quiet: bool = False) -> tuple[gr.Blocks, str]:
    """Start the page; returns ``(app, url)`` (with ``block=False`` the caller must ``app.close()``)."""
    limits = limits or UploadLimits()
    demo = build_app(benches, limits)
    roots = sorted({str(b.root.resolve()) for b in benches})
    demo.queue(default_concurrency_limit=1)
    _, url, _ = demo.launch(server_name=host, server_port=port, prevent_thread_lock=not block, quiet=quiet,
                            max_file_size=limits.max_bytes, allowed_paths=roots, ssr_mode=False, share=False,
                            footer_links=[], theme=theme(), css=CSS, show_error=True, mcp_server=False, pwa=False)
    return demo, url


def serve(configs: Sequence[str] | None = None, overrides: list[str] | None = None, output: str = "runs/serve",
          limits: UploadLimits | None = None, host: str = "127.0.0.1", port: int | None = None) -> int:
    """``ganedit serve``: build a workbench per config (the bundled ones by default) and serve them."""
    paths = list(configs or [c for c in DEFAULT_CONFIGS if Path(c).is_file()])
    if not paths:
        raise ConfigError("no config given and none of the bundled ones found "
                           f"({', '.join(DEFAULT_CONFIGS)}); run from the repository root or name a config")
    benches = []
    for path in paths:
        print(f"loading {path} ...", flush=True)
        benches.append(Workbench(path, overrides=overrides, root=output))
    launch(benches, limits, host=host, port=port, block=True)
    return 0
