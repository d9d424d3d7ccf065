"""What the browser editor does, without the browser: a :class:`Workbench` per config (its
components, samples and editor panels, shared by everyone) and a :class:`Session` per visitor
(its uploads, inversions and edits, each inversion a normal run folder).

Inverting runs the config's own task through :func:`ganedit.run` on the uploaded image, so the
folder holds ``config.yaml``, ``metrics.json``, ``images/`` (and for ``invert`` the latent and the
tuned generator) exactly as ``ganedit run`` writes them; the task's progress is reported to the
page. Edits build the config's own editors with the page's values (see :mod:`ganedit.serve.editing`)
and are written to ``edits/`` with ``edits.yaml``: the run config with those edits as its editors,
so ``ganedit run edits.yaml`` renders them again.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import yaml

import ganedit
from ganedit.config import ConfigError, Problem
from ganedit.context import BuildContext, RunContext
from ganedit.io.atomic import atomic_path, atomic_write_json, atomic_write_text
from ganedit.io.images import list_images, load_image, save_image
from ganedit.latent import save_latent
from ganedit.runner import resolve_device
from ganedit.serve.editing import Panel, References, make_panels
from ganedit.serve.uploads import UploadLimits, check_upload

#: The tasks the editor serves, and how they get a latent.
TASKS = {"invert": "inversion", "swapae_swap": "encoder", "tcp_stylize": "encoder"}

#: The configs ``ganedit serve`` opens when none is given (those present under ``configs/``).
DEFAULT_CONFIGS = ("configs/near_inversion.yaml", "configs/swapae_swap.yaml", "configs/tcp_region.yaml")

Report = Callable[[str, int, "int | None"], None]


class SessionError(ValueError):
    """Something the page should show as an error (bad input, a failed inversion, a failed edit)."""


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "image"


def progress_factory(report: Report | None) -> Callable[..., Iterable]:
    """A ``progress(iterable, total=, desc=)`` for :func:`ganedit.run` that calls
    ``report(desc, done, total)`` before the first item and after each."""

    def progress(iterable: Iterable | None = None, total: int | None = None, desc: str = "") -> Iterable:
        items = iterable if iterable is not None else range(total or 0)
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]

        def walk() -> Iterable:
            if report is not None:
                report(desc, 0, total)
            for done, item in enumerate(items, 1):
                yield item
                if report is not None:
                    report(desc, done, total)

        return walk()

    return progress


@dataclass
class Sample:
    name: str
    path: Path


class Workbench:
    """One config served in the page: its validated config, built components, samples and panels.

    Built once at start (bad configs fail there, with the config's own error messages); the
    components are shared by all sessions and only read."""

    def __init__(self, path: str | Path, overrides: list[str] | None = None, root: str | Path = "runs/serve",
                 registry: Any = None):
        self.registry = registry or ganedit.load_registry()
        self.path = Path(path)
        self.config = ganedit.load_config(path, overrides=overrides, registry=self.registry)
        if self.config.task not in TASKS:
            raise ConfigError([Problem("task", self.config.task, "ganedit serve works with "
                                       f"{', '.join(sorted(TASKS))} configs")])
        self.name = _safe(self.path.stem)
        self.task = self.config.task
        self.method = TASKS[self.task]
        self.resolved = self.config.resolved()
        self.resolved.pop("output", None)
        self.root = Path(root)
        self.device = resolve_device(self.config.device)
        # The task itself: the page reaches its results and editing contexts through the Task
        # hooks (load_result, edit_context), never through its plugin's modules.
        self.task_component = BuildContext(self.registry, self.device).create(
            self.registry.get("task", self.task), self.config.params)
        # Editors may hook into a shared generator (SeFa finds its style affines that way): one
        # render at a time per workbench (a render takes about 0.1 s).
        self.render_lock = threading.Lock()
        self.generator = self._build("generator", self.resolved["generator"]).eval()
        self.encoder = self._build("encoder", self.resolved["encoder"]).eval() if self.method == "encoder" else None
        self.resolution = int(self.resolved.get("resolution") or self.generator.img_resolution)
        self.samples, textures = self._samples()
        self.panels = make_panels(list(self.resolved.get("editors") or []),
                                  References(images=[(s.name, str(s.path)) for s in self.samples],
                                             textures=[(s.name, str(s.path)) for s in textures]))

    def _build(self, kind: str, spec: dict[str, Any]) -> Any:
        obj = ganedit.build(kind, spec, registry=self.registry, device=self.device)
        return obj.to(self.device) if isinstance(obj, torch.nn.Module) else obj

    # ------------------------------------------------------------------ samples
    def _samples(self) -> tuple[list[Sample], list[Sample]]:
        """Input samples and texture/style references of the config; procedural ones are drawn
        once into ``<root>/_samples/<config>/``."""
        p = self.config.params
        folder = self.root / "_samples" / self.name
        if self.task == "invert":
            files = list_images([p.inputs] if isinstance(p.inputs, str) else list(p.inputs))
            return [Sample(f.stem, f) for f in files], []

        def drawn(kind: str, drawing: Any, pairs: list[tuple[int, int]]) -> list[Sample]:
            out = []
            for s, t in pairs:
                path = folder / f"{kind}_s{s}_t{t}.png"
                if not path.is_file():
                    save_image(path, drawing.render(s, t, self.resolution))
                out.append(Sample(f"procedural {s}/{t}", path))
            return out

        def files(paths: list[Path]) -> list[Sample]:
            return [Sample(f.stem, f) for f in list_images(paths)] if paths else []

        if self.task == "swapae_swap":
            proc = p.procedural
            inputs = files(p.structure_images) + (drawn("structure", proc, proc.structure) if proc else [])
            refs = files(p.texture_images) + (drawn("texture", proc, proc.texture) if proc else [])
        else:
            inputs = files(p.content_images) + drawn("content", p.procedural_drawing, p.procedural_content)
            refs = files(p.style_images)
        return inputs, refs

    def sample(self, name: str) -> Path:
        for s in self.samples:
            if s.name == name or str(s.path) == name:
                return s.path
        raise SessionError(f"no sample named {name!r}")

    @property
    def title(self) -> str:
        return f"{self.name} ({self.task})"


@dataclass
class Inversion:
    """The current image of a session: its run folder, latent, generator and what the page shows."""

    folder: Path
    name: str
    latent: Any
    generator: Any
    target: torch.Tensor          # [3, H, W] in [-1, 1], as the task loaded it
    initial: torch.Tensor | None  # before the inverter's later stages (None for encoders)
    final: torch.Tensor
    metrics: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)  # latent / generator downloads


class Session:
    """One visitor's work on a workbench: upload or pick an image, invert it, edit it.

    Its inversions go to ``<root>/<config>/<session id>/<NN>_<image>/`` (normal run folders)."""

    _ids = itertools.count()

    def __init__(self, bench: Workbench, limits: UploadLimits | None = None, sid: str | None = None):
        self.bench = bench
        self.limits = limits or UploadLimits()
        self.id = sid or f"{time.strftime('%Y%m%d-%H%M%S')}-{next(Session._ids):03d}"
        self.folder = bench.root / bench.name / self.id
        self.image: Path | None = None       # the chosen input (an upload, saved as PNG, or a sample)
        self.inversion: Inversion | None = None
        self.uploads: list[Path] = []        # reference images uploaded for the panels
        self.edits: dict[str, dict[str, Any]] = {}
        self._count = 0
        self._lock = threading.Lock()
        self._edit_context: Any = None

    # ------------------------------------------------------------------ inputs
    def _save_upload(self, path: str | Path, folder: Path, name: str | None) -> Path:
        img = check_upload(path, self.limits, name)
        stem = _safe(Path(name or str(path)).stem)
        out = folder / f"{stem}.png"
        n = 1
        while out.exists():
            n += 1
            out = folder / f"{stem}_{n}.png"
        with atomic_path(out) as tmp:
            img.save(tmp, format="PNG")
        return out

    def upload(self, path: str | Path, name: str | None = None) -> Path:
        """Check an uploaded file (:class:`~ganedit.serve.uploads.UploadError` if refused) and make
        it the session's image (saved as PNG in the session folder)."""
        self.image = self._save_upload(path, self.folder / "uploads", name)
        return self.image

    def upload_reference(self, path: str | Path, name: str | None = None) -> Path:
        """Check and keep an uploaded reference (style source, texture, style) for the panels."""
        ref = self._save_upload(path, self.folder / "references", name)
        self.uploads.append(ref)
        return ref

    def pick(self, sample: str) -> Path:
        self.image = self.bench.sample(sample)
        return self.image

    def preview(self) -> torch.Tensor:
        """The chosen image as the task will load it (``[3, R, R]``)."""
        if self.image is None:
            raise SessionError("upload an image or pick a sample first")
        policy = self.bench.resolved.get("resize", "center_crop")
        return load_image(self.image, self.bench.resolution, policy)

    # ------------------------------------------------------------------ inversion
    def run_config(self, image: Path) -> dict[str, Any]:
        """The config of one inversion run: the workbench's with this image as the only input."""
        raw = copy.deepcopy(self.bench.resolved)
        path = str(image.resolve())
        if self.bench.task == "invert":
            raw.update(inputs=[path], resume=False, save_latent=True)
            if raw.get("save_generator") == "none":
                raw["save_generator"] = "full"  # the page offers the tuned generator for download
        elif self.bench.task == "swapae_swap":
            raw["structure_images"] = [path]
            if raw.get("procedural"):
                raw["procedural"]["structure"] = []
        else:
            raw.update(content_images=[path], procedural_content=[])
        return raw

    def invert(self, report: Report | None = None) -> Inversion:
        """Run the config's task on the chosen image into a new run folder; keep its latent."""
        if self.image is None:
            raise SessionError("upload an image or pick a sample first")
        with self._lock:
            self._count += 1
            folder = self.folder / f"{self._count:02d}_{_safe(self.image.stem)}"
            raw = self.run_config(self.image)
            try:
                summary = ganedit.run(raw, output=folder, quiet=True, registry=self.bench.registry,
                                      progress=progress_factory(report))
            except (ConfigError, ValueError, RuntimeError, OSError) as exc:
                raise SessionError(f"the run failed: {exc}") from exc
            if self.bench.method == "inversion":
                inv = self._load_inversion(folder, summary)
            else:
                inv = self._encode(folder, summary)
            self.inversion = inv
            self._edit_context = None
            self.edits = {}
            return inv

    def _load_inversion(self, folder: Path, summary: dict[str, Any]) -> Inversion:
        metrics = json.loads((folder / "metrics.json").read_text())
        record = (metrics.get("images") or [{}])[0]
        if record.get("status") != "ok":
            raise SessionError(f"the inversion failed: {record.get('error', 'no result')}")
        name = record["name"]
        generator, latent = self.bench.task_component.load_result(
            folder, record, BuildContext(self.bench.registry, self.bench.device))
        generator = (generator or self.bench.generator).to(self.bench.device).eval()
        images = folder / "images" / name
        files = {"latent": folder / record["latent"]}
        if record.get("generator"):
            files["generator"] = folder / record["generator"]
        return Inversion(folder, name, latent.to(self.bench.device), generator,
                         target=load_image(images / "target.png"), initial=load_image(images / "initial.png"),
                         final=load_image(images / "final.png"), metrics=record, files=files)

    def _encode(self, folder: Path, summary: dict[str, Any]) -> Inversion:
        from ganedit.metrics import psnr

        bench = self.bench
        target = self.preview()
        with torch.no_grad():
            latent = bench.encoder.encode(target[None].to(bench.device))
            final = bench.generator.generate(latent, noise_mode=bench.resolved.get("noise_mode", "const"))[0].cpu()
        metrics = {"psnr_final": float(psnr(final[None], target[None])[0]), **summary}
        path = save_latent(folder / "latent.safetensors", latent.detach().to("cpu"), {"image": str(self.image)})
        return Inversion(folder, _safe(self.image.stem), latent, bench.generator, target=target, initial=None,
                         final=final, metrics=metrics, files={"latent": path})

    # ------------------------------------------------------------------ editing
    def _context(self) -> Any:
        """What the editors get as ``context``, as the config's task would hand it to them."""
        if self._edit_context is None:
            bench, inv = self.bench, self.inversion
            run = RunContext(bench.config, inv.folder, bench.device, bench.registry, quiet=True)
            self._edit_context = bench.task_component.edit_context(
                run, inv.generator, bench.encoder, inv.target[None].to(bench.device))
        return self._edit_context

    def save_mask(self, mask: torch.Tensor) -> Path | None:
        """Store a painted mask (``[H, W]`` in [0, 1]) as a PNG; ``None`` when nothing is painted."""
        if mask is None or float(mask.max()) <= 0:
            return None
        self._count += 1
        path = self.folder / "masks" / f"mask_{self._count:03d}.png"
        save_image(path, (mask.float().clamp(0, 1) * 2 - 1)[None].expand(3, -1, -1))
        return path

    def edit(self, panel: Panel | int, values: dict[str, Any]) -> tuple[torch.Tensor, Path]:
        """Render ``panel``'s editor with ``values``; returns the image and its PNG in ``edits/``."""
        if self.inversion is None:
            raise SessionError("invert an image first")
        if isinstance(panel, int):
            panel = self.bench.panels[panel]
        params, pick = panel.params(values)
        spec = {"type": panel.type, "params": params}
        with self._lock, self.bench.render_lock:
            inv = self.inversion
            try:
                editor = self.bench._build("editor", spec)
                edits = editor.edit(inv.generator, inv.latent, self._context())
            except (ConfigError, ValueError, RuntimeError, OSError, IndexError) as exc:
                raise SessionError(f"{panel.title}: {exc}") from exc
            if not edits or pick >= len(edits):
                raise SessionError(f"{panel.title}: the editor made no image for these settings")
            image = edits[pick].images[0].detach().float().cpu()
            path = save_image(inv.folder / "edits" / f"{panel.key}.png", image)
            self.edits[panel.key] = {"editor": spec, "label": edits[pick].label, "image": str(path.name)}
            self._write_edits(inv)
        return image, path

    def _write_edits(self, inv: Inversion) -> None:
        """``edits.yaml`` (the run config with the page's edits as its editors) and ``edits.json``."""
        raw = yaml.safe_load((inv.folder / "config.yaml").read_text())
        raw["editors"] = [e["editor"] for e in self.edits.values()]
        atomic_write_text(inv.folder / "edits.yaml",
                          "# The page's edits as editors of the run config: `ganedit run edits.yaml -o DIR`\n"
                          "# renders them again (DIR/images/...; see edits.json for which image is which).\n"
                          + yaml.safe_dump(raw, sort_keys=False))
        atomic_write_json(inv.folder / "edits.json", {"edits": self.edits})
