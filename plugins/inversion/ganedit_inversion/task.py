"""The ``invert`` task: invert images one by one, apply editors, write images, latents, tuned
generators and ``metrics.json``.

Images are streamed (one in memory at a time, or one ``batch_size`` batch of targets while a
batched inverter call runs). Every image gets ``inversions/<name>/record.json``
(``<name>``: :func:`ganedit.io.output.output_names`, distinct and safe). A rerun into the same
output folder skips (resumes) an image whose record says ``ok`` for the same item: the same
resolved file path, the same content (SHA-256) and the same configuration fingerprint; anything
else is redone and the new record's ``redone`` says why. A redo replaces the item's files (none
of an earlier result stays beside a new or failed one), and an input's outputs move with it when
its name changes (a same-stem input joined or left the run). A failing image (unreadable file, NaN
during tuning, ...) is recorded with its error, printed even with ``--quiet``, and the others go on;
a full disk stops the run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from pydantic import Field

from ganedit.accel import Accel, unused_run_options
from ganedit.config import Slot, SlotList
from ganedit.interfaces import Generator, InversionResult, Params, Task
from ganedit.io.images import list_images, load_image
from ganedit.io.output import file_states, former_names, is_disk_full, output_names, remove_unchanged
from ganedit.latent import Latent, save_latent
from ganedit.metrics import psnr, ssim

from ganedit_inversion.generator_ops import (
    edit_drift,
    fit_targets,
    local_drift_bound,
    locality_latents,
    locality_mae,
    with_noise,
    ws_of,
)
from ganedit_inversion.losses import lpips_problem
from ganedit_inversion.monitor import Monitor
from ganedit_inversion.results import LATENT_FILE, NOISE_FILE, load_inversion, save_generator, save_noise
from ganedit_inversion.tuning import GeneratorTuningInverter


@dataclass
class Prepared:
    """An image's part of a batched inverter call (``batch_size``): its whole result, or the start
    latent of a tuning method, its share of the call's time; or the error that stopped its loading."""

    target: torch.Tensor | None = None
    result: InversionResult | None = None
    start: InversionResult | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    batch: int = 1
    error: Exception | None = None


def batch_item(result: InversionResult, i: int, n: int) -> InversionResult:
    """Image ``i`` of a result for ``n`` images (its latent, noise maps and initial images; the
    batch's metrics and history, which hold batch means)."""

    def one(t: torch.Tensor | None) -> torch.Tensor | None:
        return t[i:i + 1] if t is not None and t.shape[0] == n else t

    return InversionResult(latent=result.latent[i], generator=result.generator, metrics=dict(result.metrics),
                           history=result.history,
                           initial_latent=result.initial_latent[i] if result.initial_latent is not None else None,
                           initial_images=one(result.initial_images), tuned=result.tuned,
                           noise=[one(m) for m in result.noise] if result.noise is not None else None)


#: ``batch_size: auto``: images per inverter call for generators up to 256 px (fewer above).
AUTO_BATCH = 8

#: Per-image numbers averaged into the summary (when present).
SUMMARY_KEYS = ("psnr_initial", "psnr_final", "psnr_const_noise", "ssim_final", "lpips_final", "locality_mae",
                "locality_mae_const", "edit_drift", "edit_drift_local", "steps", "seconds", "cpu_seconds")


class EditContext:
    """What editors get as ``context``: the run context plus ``invert_images``.

    ``invert_images(paths) -> Latent`` loads the images with the task's resolution and resize
    policy and inverts them with the task's reference inverter (``reference_inverter``, by default
    the nested latent-only inverter of a tuning method, else the main inverter) on the generator
    being edited (the tuned one after PTI / near_perfect). Results are cached per generator.
    Any other attribute is the run context's (``device``, ``progress``, ``writer``, ...).
    """

    def __init__(self, run_context: Any, task: "InvertTask", generator: Generator):
        self._run = run_context
        self._task = task
        self.generator = generator
        self._cache: dict[str, Latent] = {}

    def invert_images(self, paths: list[str | Path] | str | Path) -> Latent:
        if isinstance(paths, (str, Path)):
            paths = [paths]
        latents = []
        for path in paths:
            key = str(Path(path).resolve())
            if key not in self._cache:
                image = self._task.load(Path(path), self.generator)
                result = self._task.reference_inverter.invert(self.generator, image[None])
                self._cache[key] = result.latent.detach()
            latents.append(self._cache[key])
        return Latent.cat(latents)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run, name)


class InvertTask(Task, name="invert"):
    """Invert images (file, list, glob or folder) into a generator, then apply editors."""

    class Params(Params):
        generator: Slot("generator") = Field(description="the generator to invert into")
        inverter: Slot("inverter") = Field(description="the inversion method")
        editors: SlotList("editor") = Field(default_factory=list, description="edits applied after inversion")
        inputs: str | list[str] = Field(description="an image file, a folder (recursive), a glob, or a list of those")
        resolution: int | None = Field(None, ge=8, le=4096, description="load size of the images (default: "
                                       "the generator's output size; other sizes are resampled to it)")
        resize: Literal["center_crop", "resize", "pad"] = Field(
            "center_crop", description="how files of another size/aspect are brought to the resolution")
        reference_inverter: Slot("inverter") | None = Field(
            None, description="inverter of extra images editors ask for (context.invert_images)")
        save_generator: Literal["full", "delta", "none"] = Field(
            "full", description="how tuned generators are saved: full native checkpoint, weight delta, or not")
        save_latent: bool = Field(True, description="write inversions/<name>/latent.safetensors")
        locality_samples: int = Field(16, ge=1, le=4096, description="random latents of the locality_mae check")
        locality_seed: int = Field(0, ge=0, description="seed of those latents (fixed across images and runs)")
        lpips: Literal["auto", "on", "off"] = Field("auto", description="report lpips_final: when the weights "
                                                    "exist (auto), always (on: error if missing), never")
        resume: bool = Field(True, description="skip images already done in this output folder")
        batch_size: Annotated[int, Field(ge=1, le=1024)] | Literal["auto"] = Field(
            "auto", description="images per inverter call, for inverters that invert images independently "
            "(optimization, encoder) and for the start latents of tuning inverters (pti, near_perfect; each "
            "image still gets its own tweak); results differ from one image per call in the random draws only. "
            "auto: 8 for generators up to 256 px, fewer above (batch x resolution^2 <= 8 x 256^2: the memory "
            "of a W+ step grows with the image area, about 0.5 GiB per 256 px image on CPU)")

    def __init__(self, params: "InvertTask.Params"):
        super().__init__(params)
        self.reference_inverter: Any = None
        self.resolution: int | None = None
        self.accel = Accel()  # fp32; run() applies the run's options
        self.batch_size = 1  # images per inverter call (run() resolves `batch_size`)

    # ------------------------------------------------------------------ validation
    @classmethod
    def check_params(cls, params: "InvertTask.Params") -> list[str]:
        problems = []
        inputs = [params.inputs] if isinstance(params.inputs, str) else list(params.inputs)
        if not inputs:
            problems.append("inputs: empty list")
        else:
            try:
                paths = list_images(inputs)
            except OSError as exc:
                paths = []
                problems.append(f"inputs: {exc}")
            missing = [str(p) for p in paths if not p.is_file()]
            if missing:
                problems.append(f"inputs: file not found: {missing[0]}" + (f" (+{len(missing) - 1} more)"
                                                                             if len(missing) > 1 else ""))
            elif not paths:
                problems.append(f"inputs: no image matches {inputs}")
        if params.lpips == "on":
            why = lpips_problem("alex")
            if why:
                problems.append(f"lpips: on, but {why}")
        return problems

    @classmethod
    def check_compatibility(cls, params: "InvertTask.Params", registry: Any) -> list[tuple[str, str]]:
        gen = params.generator
        spaces = set(gen.cls.latent_spaces(gen.params))
        problems: list[tuple[str, str]] = []

        def inverter_problem(path: str, spec: Any) -> str | None:
            need = tuple(spec.cls.required_generator_spaces(spec.params))
            if not set(need) & spaces:
                return (f"inverter {spec.type!r} needs a generator accepting {list(need)} latents, generator "
                        f"{gen.type!r} accepts {sorted(spaces)}")
            return None

        msg = inverter_problem("inverter", params.inverter)
        if msg:
            problems.append(("inverter.type", msg))
        if params.reference_inverter is not None:
            msg = inverter_problem("reference_inverter", params.reference_inverter)
            if msg:
                problems.append(("reference_inverter.type", msg))
        out_space = params.inverter.cls.output_space(params.inverter.params)
        for i, ed in enumerate(params.editors):
            ok = tuple(ed.cls.supported_spaces(ed.params))
            if out_space not in ok:
                problems.append((f"editors.{i}.type", f"editor {ed.type!r} edits {list(ok)} latents, inverter "
                                                       f"{params.inverter.type!r} produces {out_space!r}"))
                continue
            outs = getattr(ed.cls, "output_spaces", None)
            made = set(outs(ed.params, out_space)) if callable(outs) else {out_space}
            if not made <= spaces:
                problems.append((f"editors.{i}.type", f"editor {ed.type!r} produces {sorted(made)} latents, "
                                                       f"generator {gen.type!r} accepts {sorted(spaces)}"))
        return problems

    # ------------------------------------------------------------------ helpers
    def load(self, path: Path, generator: Generator) -> torch.Tensor:
        """One target image ``[3, R, R]`` (documented resize policy, then the generator's size)."""
        res = self.resolution or int(generator.img_resolution)
        image = load_image(path, res, self.params.resize)
        return fit_targets(image, generator, "invert")[0]

    @staticmethod
    def image_names(paths: list[Path]) -> list[str]:
        """Output names: the sanitised file stem, disambiguated by a short path hash when stems repeat."""
        return output_names(paths)

    @staticmethod
    def source_of(path: Path) -> dict[str, Any]:
        """What identifies an input for resume: its resolved path and the SHA-256 of its bytes."""
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            return {"path": str(path.resolve()), "sha256": None}  # unreadable: the image fails below
        return {"path": str(path.resolve()), "sha256": digest.hexdigest()}

    def fingerprint(self, context: Any) -> str:
        """Hash of everything that changes an image's result (not the inputs list or resume flags)."""
        cfg = context.config.resolved() if hasattr(context.config, "resolved") else {}
        keep = {k: v for k, v in cfg.items() if k not in ("inputs", "resume", "output", "description", "device")}
        return hashlib.sha1(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def _reference(self, context: Any, inverter: Any = None) -> Any:
        """The inverter of extra images: ``reference_inverter``, else the latent-only inverter nested
        in a tuning method (``initial``), else the main ``inverter`` (built here when not given)."""
        if self.params.reference_inverter is not None:
            return context.build("inverter", self.params.reference_inverter)
        inverter = inverter if inverter is not None else context.build("inverter", self.params.inverter)
        return getattr(inverter, "initial", None) or inverter

    # ------------------------------------------------------------------ editing again (ganedit serve)
    def load_result(self, folder: Path, record: dict[str, Any], context: Any) -> tuple[Generator | None, Latent]:
        """The tuned generator (``None`` when the run saved none) and latent of one image."""
        return load_inversion(Path(folder) / "inversions" / record["name"], base=self.params.generator.resolved(),
                              registry=context.registry)

    def edit_context(self, context: Any, generator: Generator, encoder: Any = None, images: Any = None) -> Any:
        """An :class:`EditContext` (editors may invert extra images) for ``generator``."""
        if self.reference_inverter is None:
            self.reference_inverter = self._reference(context)
        self.resolution = self.params.resolution
        return EditContext(context, self, generator)

    # ------------------------------------------------------------------ run
    def run(self, context: Any) -> dict[str, Any]:
        p = self.params
        generator = context.build("generator", p.generator).eval()
        inverter = context.build("inverter", p.inverter)
        editors = [context.build("editor", e) for e in p.editors]
        self.reference_inverter = self._reference(context, inverter)
        self.resolution = p.resolution
        discriminator = generator.discriminator() if callable(getattr(generator, "discriminator", None)) else None
        # Run options: precision (the inversion's forward passes under autocast, default fp32) and
        # channels_last (default on a CPU: the batch-1 to batch-4 passes of the generator and the
        # discriminator run 1.1-1.6x faster with NHWC kernels, docs/benchmarks.md).
        device = next(iter(generator.parameters()), torch.zeros(())).device
        self.accel = Accel.from_context(context, device, channels_last=device.type == "cpu")
        generator = self.accel.module(generator)
        if discriminator is not None:
            discriminator = self.accel.module(discriminator)
        ignored = [o for o in unused_run_options(context.config) if o.startswith("compile")]
        if ignored:
            context.log(f"invert: {', '.join(ignored)} had no effect (this task uses the run options precision "
                        "and channels_last)")
        check = getattr(inverter, "check_generator", None)
        if callable(check):
            check(generator, discriminator)  # config-level problems stop the run before any image
        for editor in editors:  # e.g. a direction file of another generator's w_dim / num_ws
            check = getattr(editor, "check_generator", None)
            if callable(check):
                check(generator)

        entries = [p.inputs] if isinstance(p.inputs, str) else list(p.inputs)
        groups = [entry for entry in entries for _ in list_images(entry)]  # the inputs entry of each path
        paths = list_images(entries)
        # A file reached twice (listed twice, or by a folder and by name) is inverted once, in the
        # group of the first entry that reaches it.
        first: dict[Path, int] = {}
        for k, path in enumerate(paths):
            first.setdefault(path.resolve(), k)
        if len(first) < len(paths):
            keep = set(first.values())
            again = [path for k, path in enumerate(paths) if k not in keep]
            context.warn(f"[invert] {len(again)} input(s) reached more than once (e.g. {again[0]}): each file "
                         f"is inverted once")
            paths, groups = [paths[k] for k in sorted(keep)], [groups[k] for k in sorted(keep)]
        names = self.image_names(paths)
        fingerprint = self.fingerprint(context)
        z_locality = locality_latents(generator, p.locality_samples, p.locality_seed)
        lpips = self._lpips_metric(context)
        base_spec = p.generator.resolved()

        # What is done already (resume), before any work: a batch is made of the images still to do.
        items = []
        for path, name in zip(paths, names):
            folder = context.output_dir / "inversions" / name
            source = self.source_of(path)
            self._follow(context, name, path, source["path"], names)
            record, why = self._previous(folder, fingerprint, source) if p.resume else (None, None)
            items.append((path, name, folder, source, record, why))
        todo = [k for k, item in enumerate(items) if item[4] is None]
        self.batch_size = self.images_per_call(generator)
        batching = self._batching(inverter)
        prepared: dict[int, Prepared] = {}
        batched: set[int] = set()  # the images a batched call was tried for (it is tried once)

        records: list[dict[str, Any]] = []
        counts = {"ok": 0, "failed": 0, "resumed": 0}
        for index, (path, name, folder, source, record, why) in enumerate(
                context.progress(items, total=len(items), desc="images")):
            if record is not None:
                counts["resumed"] += 1
                record["path"] = str(path)
            else:
                # The item's previous files: its record goes first (a redo stopped half-way, e.g. by
                # a full disk, must not look finished); the others once the redo has written its own.
                (folder / "record.json").unlink(missing_ok=True)
                before = file_states(folder, context.output_dir / "images" / name)
                if batching and index not in batched:
                    chunk = [k for k in todo if k >= index][:self.batch_size]
                    batched.update(chunk)
                    prepared.update(self._prepare(context, generator, inverter, discriminator, batching,
                                                  {k: items[k][:2] for k in chunk}))
                torch.manual_seed(context.seed + zlib.crc32(name.encode()))
                try:
                    record = self._one(context, generator, inverter, editors, discriminator, path, name, folder,
                                       z_locality, lpips, base_spec, prepared.pop(index, None))
                    remove_unchanged(before)  # e.g. an edit or a tuned generator this config no longer makes
                except Exception as exc:  # noqa: BLE001 - one bad image must not stop the batch
                    if is_disk_full(exc):
                        raise  # not this image's fault: every next one would fail the same way
                    # A failed item keeps only its record: no earlier result, no partial one.
                    for tree in (folder, context.output_dir / "images" / name):
                        shutil.rmtree(tree, ignore_errors=True)
                    record = {"name": name, "path": str(path), "status": "failed",
                              "error": f"{type(exc).__name__}: {exc}"}
                    context.warn(f"[invert] {name}: failed: {record['error']}")
                record["fingerprint"] = fingerprint
                record["source"] = source
                if why:
                    record["redone"] = why
                context.write_json(Path("inversions") / name / "record.json", record)
            counts["ok" if record.get("status") == "ok" else "failed"] += 1
            records.append(record)
            context.write_metrics(self._summary(records, counts, groups), records)
        summary = self._summary(records, counts, groups)
        context.write_metrics(summary, records)
        return summary

    def images_per_call(self, generator: Generator) -> int:
        """``batch_size``, with ``auto`` resolved for ``generator``'s output size."""
        if self.params.batch_size != "auto":
            return int(self.params.batch_size)
        res = int(getattr(generator, "img_resolution", 256) or 256)
        return max(1, min(AUTO_BATCH, AUTO_BATCH * 256 * 256 // (res * res)))

    def _batching(self, inverter: Any) -> Literal["images", "start"] | None:
        """How ``batch_size`` > 1 is used with ``inverter``: whole inversions, only the start latents of
        a tuning method, or not at all (one image per call)."""
        if self.batch_size <= 1:
            return None
        if inverter.independent_images():
            return "images"
        initial = getattr(inverter, "initial", None)
        if isinstance(inverter, GeneratorTuningInverter) and initial is not None and initial.independent_images():
            return "start"
        return None

    def _prepare(self, context: Any, generator: Generator, inverter: Any, discriminator: Any,
                 batching: str, chunk: dict[int, tuple[Path, str]]) -> dict[int, "Prepared"]:
        """One inverter call on the images of ``chunk`` (index -> (path, name)): each image's part of
        the result (``batching == 'images'``) or of the start latents (``'start'``), with an equal
        share of the time. An image that does not load fails alone (in :meth:`_one`); when the batched
        call itself fails, the images are inverted one by one."""
        out: dict[int, Prepared] = {}
        loaded: dict[int, torch.Tensor] = {}
        for k, (path, _) in chunk.items():
            try:
                loaded[k] = self.load(path, generator)[None]
            except Exception as exc:  # noqa: BLE001 - reported as this image's failure
                out[k] = Prepared(error=exc)
        if len(loaded) < 2:
            return out
        keys = list(loaded)
        first = chunk[keys[0]][1]
        torch.manual_seed(context.seed + zlib.crc32(first.encode()))
        targets = torch.cat([loaded[k] for k in keys])
        method = inverter if batching == "images" else inverter.initial
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            with self.accel.autocast():
                result = method.invert(generator, targets, discriminator=discriminator,
                                       callback=self._monitor(context, f"batch_{first}"))
        except Exception as exc:  # noqa: BLE001 - e.g. out of memory: the images go one by one
            if is_disk_full(exc):
                raise
            context.warn(f"[invert] a batch of {len(keys)} images failed ({type(exc).__name__}: {exc}); "
                         f"inverting them one at a time")
            return out
        share = (time.perf_counter() - t0) / len(keys), (time.process_time() - c0) / len(keys)
        for i, k in enumerate(keys):
            part = batch_item(result, i, len(keys))
            out[k] = Prepared(target=loaded[k], seconds=share[0], cpu_seconds=share[1], batch=len(keys),
                              **({"result": part} if batching == "images" else {"start": part}))
        return out

    def _lpips_metric(self, context: Any) -> Any:
        if self.params.lpips == "off" or lpips_problem("alex"):
            return None
        from ganedit.metrics import LPIPS

        return LPIPS("alex").to(context.device)

    @staticmethod
    def _follow(context: Any, name: str, path: Path, source_path: str, names: list[str]) -> None:
        """Move an input's outputs written under another of its names (before or after another input
        with the same stem joined the run: ``a`` <-> ``a_<hash>``) to ``name``, so that they resume
        there and no folder is left under the old name."""
        root = context.output_dir
        if (root / "inversions" / name / "record.json").is_file():
            return
        taken = {n.casefold() for n in names}
        for old in former_names(path):
            if old.casefold() in taken:
                continue
            try:
                record = json.loads((root / "inversions" / old / "record.json").read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(record, dict) or (record.get("source") or {}).get("path") != source_path:
                continue
            for sub in ("inversions", "images"):
                shutil.rmtree(root / sub / name, ignore_errors=True)  # leftovers without a record
                if (root / sub / old).is_dir():
                    (root / sub / old).rename(root / sub / name)
            record["name"] = name
            for key in ("latent", "noise", "generator"):
                if isinstance(record.get(key), str):
                    record[key] = str(Path("inversions") / name / Path(record[key]).name)
            context.write_json(Path("inversions") / name / "record.json", record)
            context.log(f"[invert] {name}: outputs moved from {old} (the input's name in the earlier run)")
            return

    @staticmethod
    def _previous(folder: Path, fingerprint: str, source: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        """``(record, None)`` when ``folder`` holds this item's finished result, else ``(None, why it
        is redone)`` (``why`` is ``None`` for a new item or one that failed before)."""
        try:
            record = json.loads((folder / "record.json").read_text())
        except (OSError, ValueError):
            return None, None
        if not isinstance(record, dict) or record.get("status") != "ok":
            return None, None
        before = record.get("source") or {}
        if not before:
            return None, "the previous record has no content hash (written by an older ganedit)"
        if before.get("path") != source["path"]:
            return None, f"another input file has this name now (was {before.get('path') or record.get('path')})"
        if source["sha256"] is None or before.get("sha256") != source["sha256"]:
            return None, "the input file's content changed"
        if record.get("fingerprint") != fingerprint:
            return None, "the configuration changed"
        if not (folder / LATENT_FILE).is_file() and record.get("latent"):
            return None, "the saved latent is missing"
        return record, None

    @staticmethod
    def _means(records: list[dict[str, Any]]) -> dict[str, Any]:
        """Image counts and the mean of every :data:`SUMMARY_KEYS` number over the successful images."""
        ok = [r for r in records if r.get("status") == "ok"]
        out: dict[str, Any] = {"num_images": len(records), "num_ok": len(ok), "num_failed": len(records) - len(ok)}
        for key in SUMMARY_KEYS:
            values = [float(r[key]) for r in ok if r.get(key) is not None]
            if values:
                out[key] = sum(values) / len(values)
        return out

    @classmethod
    def _summary(cls, records: list[dict[str, Any]], counts: dict[str, int],
                 groups: list[str] | None = None) -> dict[str, Any]:
        """Means over all images, and per ``inputs`` entry (as written in the config) in ``groups``."""
        summary: dict[str, Any] = {"num_images": len(records), "num_ok": counts["ok"],
                                   "num_failed": counts["failed"], "num_resumed": counts["resumed"]}
        summary.update({k: v for k, v in cls._means(records).items() if k not in summary})
        if groups is not None:
            by_group: dict[str, list[dict[str, Any]]] = {}
            for record, group in zip(records, groups):
                by_group.setdefault(group, []).append(record)
            summary["groups"] = {group: cls._means(rs) for group, rs in by_group.items()}
        return summary

    def _monitor(self, context: Any, name: str) -> Monitor:
        writer = context.writer

        def log(step: int, scalars: dict[str, float]) -> None:
            for key, value in scalars.items():
                writer.add_scalar(f"{name}/{key}", value, step)

        return Monitor(log=log, progress=context.progress, prefix="")

    def _one(self, context: Any, generator: Generator, inverter: Any, editors: list[Any], discriminator: Any,
             path: Path, name: str, folder: Path, z_locality: torch.Tensor, lpips: Any,
             base_spec: dict[str, Any], prepared: "Prepared | None" = None) -> dict[str, Any]:
        p = self.params
        start = time.perf_counter()
        prepared = prepared or Prepared()
        if prepared.error is not None:
            raise prepared.error
        target = prepared.target if prepared.target is not None else self.load(path, generator)[None]
        t0, c0 = time.perf_counter(), time.process_time()
        if prepared.result is not None:  # inverted in a batch (its share of the batch's time below)
            result = prepared.result
        else:
            more = {"start": prepared.start} if prepared.start is not None else {}
            with self.accel.autocast():
                result = inverter.invert(generator, target, discriminator=discriminator,
                                         callback=self._monitor(context, name), **more)
        seconds = time.perf_counter() - t0 + prepared.seconds
        cpu_seconds = time.process_time() - c0 + prepared.cpu_seconds
        tuned = result.generator
        shown = with_noise(tuned, result.noise)  # the image's own noise maps, if the inverter fitted them
        with torch.no_grad():
            final = shown.generate(result.latent).detach()
            initial = result.initial_images if result.initial_images is not None else final
            if not torch.isfinite(final).all():
                raise FloatingPointError("the final reconstruction contains NaN/inf")
            record: dict[str, Any] = {
                "name": name, "path": str(path), "status": "ok", "space": result.latent.space,
                "psnr_initial": float(psnr(initial, target).mean()),
                "psnr_final": float(psnr(final, target).mean()),
                "ssim_final": float(ssim(final, target).mean()),
                "steps": int(result.metrics.get("steps", 0)),
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,  # this process's CPU time: the wall time on an idle core
            }
            if lpips is not None:
                record["lpips_final"] = float(lpips(final, target).mean())
            if result.noise is not None:
                # the same weights with the generator's constant noise: how much the image's maps carry
                record["psnr_const_noise"] = float(psnr(tuned.generate(result.latent), target).mean())
            if result.tuned:
                record["locality_mae"] = locality_mae(generator, tuned, z_locality, noise="seeded")
                record["locality_mae_const"] = locality_mae(generator, tuned, z_locality, noise="const")
            for key in ("stopped_early", "initial_steps"):
                if key in result.metrics:
                    record[key] = result.metrics[key]
            if prepared.batch > 1:
                record["batch"] = prepared.batch  # inverted (or started) with this many images per call

        rel = f"{name}"
        context.save_image(f"{rel}/target.png", target[0])
        context.save_image(f"{rel}/initial.png", initial[0])
        context.save_image(f"{rel}/final.png", final[0])
        row = [target[0].cpu(), initial[0].cpu(), final[0].cpu()]
        edit_context = EditContext(context, self, shown)
        labels, drifts, bounds = [], {}, []
        ws = ws_of(generator, result.latent, "invert").detach() if result.latent.space in ("w", "w+") else None
        for editor in editors:
            for edit in editor.edit(shown, result.latent, edit_context):
                context.save_image(f"{rel}/{edit.label}.png", edit.images[0])
                row.append(edit.images[0].detach().cpu())
                labels.append(edit.label)
                if ws is not None and edit.latent is not None and edit.latent.space in ("w", "w+"):
                    drifts[edit.label] = edit_drift(generator, tuned, ws, edit.latent.ws, result.noise)
                    bounds.append(local_drift_bound(generator, target, ws, edit.latent.ws, result.noise))
        context.save_grid(f"{rel}/grid.png", torch.stack(row), nrow=len(row))
        record["edits"] = labels
        if drifts:
            # how much the tweak changed each edit's effect (0: not at all); None: the edit is a no-op
            record["edit_drifts"] = drifts
            measured = [v for v in drifts.values() if v is not None]
            record["edit_drift"] = sum(measured) / len(measured) if measured else None
            # what a perfectly local tweak would score: the inversion residual over each edit's effect
            bounds = [b for b in bounds if b is not None]
            record["edit_drift_local"] = sum(bounds) / len(bounds) if bounds else None
            for label, value in drifts.items():
                if value is not None:
                    context.writer.add_scalar(f"{name}/edit_drift/{label}", value, 0)
            if record["edit_drift"] is not None:
                context.writer.add_scalar(f"{name}/edit_drift", record["edit_drift"], 0)

        folder.mkdir(parents=True, exist_ok=True)
        if p.save_latent:
            save_latent(folder / LATENT_FILE, result.latent.detach().to("cpu"), {"image": str(path)})
            record["latent"] = str((folder / LATENT_FILE).relative_to(context.output_dir))
        if p.save_latent and result.noise is not None:
            save_noise(folder / NOISE_FILE, result.noise)
            record["noise"] = str((folder / NOISE_FILE).relative_to(context.output_dir))
        if result.tuned:
            saved = save_generator(folder, generator, tuned, p.save_generator, base_spec)
            if saved is not None:
                record["generator"] = str(saved.relative_to(context.output_dir))
        for step, value in enumerate(result.history.get("psnr", [])):
            context.writer.add_scalar(f"{name}/psnr_curve", value, step)
        record["seconds_total"] = time.perf_counter() - start
        return record
