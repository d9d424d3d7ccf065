"""Throughput of the trainers and inverters at their shipped configs (issue 14). Not a test.

Every measurement is a whole ``ganedit run`` process started from a checkout's own venv, so a
checkout of an older commit (with its own ``.venv``) is compared with this one on the same
machine, in the same session, with the same config file. Runs of the compared variants are
interleaved (A B A B ...) and medians are reported, because a shared machine's load drifts.

On a machine shared with other jobs the process's CPU time (``getrusage`` of the child) is the
steadier measure; the wall time is what the acceptance asks for. Both are reported.

Subcommands::

    # before/after: whole process, `--set steps=150 --set threads=1 --set num_workers=0`
    python benchmarks/throughput.py compare --base /path/to/old/checkout \\
        --tasks swapae_train,stylegan2_train,alae_train,tcp_train,near_perfect,pti --reps 3

    # run options of this checkout: images/s (training loop) or s/image (inversion)
    python benchmarks/throughput.py options --tasks swapae_train \\
        --variants fp32,bf16,compile,channels_last=false --threads 1,2 --reps 3

    # where one step's time goes (torch.profiler, CPU): a table per task
    python benchmarks/throughput.py profile --tasks swapae_train --steps 6

    # procedural rendering: one image at a time against batches (and a base checkout, bit for bit)
    python benchmarks/throughput.py render --base /path/to/old/checkout

    # does a bf16 loss curve follow fp32's? (runs made with `--set log_every=1`)
    python benchmarks/throughput.py curves --ref runs/fp32_s0 --seed runs/fp32_s1 --test runs/bf16_s0

``--json FILE`` writes the raw runs. Trainers report the training loop's images/s (``metrics.json``
``summary.images_per_sec``) and the whole process's wall time; inversions report seconds per image
and PSNR (``metrics.json`` ``images``). Results are in docs/benchmarks.md ("Throughput").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: task -> (config, overrides that make one benchmark run of it)
TRAIN = {
    "swapae_train": "configs/swapae_train.yaml",
    "stylegan2_train": "configs/stylegan2_train.yaml",
    "alae_train": "configs/alae_train.yaml",
    "tcp_train": "configs/tcp_train.yaml",
}
INVERT = {"near_perfect", "pti"}
#: one off-manifold photo and one sample of the bundled generator
INVERT_INPUTS = ["assets/images/real/chelsea.png", "assets/images/generated/sample_1.png"]
#: option variants: name -> ``--set`` overrides
VARIANTS = {
    "default": [],
    "fp32": ["precision=fp32"],
    "bf16": ["precision=bf16"],
    "compile": ["compile=true"],
    "bf16+compile": ["precision=bf16", "compile=true"],
    "channels_last=false": ["channels_last=false"],
    "channels_last=true": ["channels_last=true"],
}


def _invert_config(task: str, root: Path, tmp: Path) -> Path:
    """``root``'s near_inversion.yaml (near_perfect), or with the inverter swapped for PTI's defaults."""
    src = root / "configs" / "near_inversion.yaml"
    if task == "near_perfect":
        return src
    import yaml

    cfg = yaml.safe_load(src.read_text())
    cfg["inverter"] = {"type": "pti", "params": {}}
    out = tmp / f"pti_{abs(hash(str(root)))}.yaml"
    out.write_text(yaml.safe_dump(cfg))
    return out


def run_once(root: Path, task: str, overrides: list[str], steps: int, threads: int, out: Path,
             tmp: Path, config_root: Path | None = None) -> dict[str, Any]:
    """One whole ``ganedit run`` of ``task`` in checkout ``root``; its wall/CPU time and numbers.

    The config file is ``config_root``'s (default: ``root``'s own): a before/after comparison runs the
    old checkout's file in both checkouts, so only the code and its defaults differ."""
    exe = root / ".venv" / "bin" / "ganedit"
    config_root = config_root or root
    if task in TRAIN:
        cfg = config_root / TRAIN[task]
        sets = [f"steps={steps}", f"threads={threads}", "num_workers=0", "resume=false"]
    elif task in INVERT:
        cfg = _invert_config(task, config_root, tmp)
        sets = [f"threads={threads}", "resume=false", "editors=[]", "inputs=[" + ",".join(INVERT_INPUTS) + "]"]
    else:
        raise SystemExit(f"unknown task {task!r}; choose from {', '.join([*TRAIN, *sorted(INVERT)])}")
    out = out.resolve()  # the run's working directory is its checkout
    cmd = [str(exe), "run", str(cfg), "--quiet", "--output", str(out)]
    for s in sets + overrides:
        cmd += ["--set", s]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    row: dict[str, Any] = {"wall_s": wall, "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
                           "load1": os.getloadavg()[0]}
    if task in TRAIN:
        s = metrics["summary"]
        row.update(loop_s=s.get("elapsed_s"), images_per_sec=s.get("images_per_sec"),
                   final_losses=s.get("final_losses"))
    else:
        imgs = metrics["images"]
        row.update(s_per_image=statistics.mean(r["seconds"] for r in imgs),
                   psnr=statistics.mean(r["psnr_final"] for r in imgs),
                   per_image={r["name"]: {"seconds": r["seconds"], "psnr": r["psnr_final"], "steps": r["steps"]}
                              for r in imgs})
    return row


def _median(rows: list[dict[str, Any]], key: str) -> float:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else float("nan")


def _interleave(arms: list[tuple[str, Path, list[str], int]], tasks: list[str], steps: int, reps: int,
                workdir: Path, tmp: Path, config_root: Path | None = None) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every task: ``reps`` rounds of one run of each arm (label, root, overrides, threads); config files
    from ``config_root`` when given, else each arm's own."""
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for task in tasks:
        results[task] = {label: [] for label, *_ in arms}
        for rep in range(reps):
            for label, root, overrides, threads in arms:
                row = run_once(root, task, overrides, steps, threads, workdir / f"{task}_{label.split()[0]}", tmp,
                               config_root)
                results[task][label].append(row)
                show = (f"{row['images_per_sec']:.1f} img/s (loop {row['loop_s']:.1f} s)" if task in TRAIN
                        else f"{row['s_per_image']:.1f} s/img, PSNR {row['psnr']:.2f} dB")
                print(f"[{task} rep {rep}] {label:22s} process {row['wall_s']:6.1f} s (CPU {row['cpu_s']:6.1f} s)  {show}  "
                      f"load {row['load1']:.1f}", flush=True)
    return results


def _table(results: dict[str, dict[str, list[dict[str, Any]]]], ref: str | None) -> str:
    lines = ["| task | variant | runs | process s | process CPU s | loop images/s or s/image | PSNR dB | "
             "speed-up (process wall) | speed-up (process CPU) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for task, arms in results.items():
        base_wall = _median(arms[ref], "wall_s") if ref in arms else None
        base_cpu = _median(arms[ref], "cpu_s") if ref in arms else None
        for label, rows in arms.items():
            wall, cpu = _median(rows, "wall_s"), _median(rows, "cpu_s")
            if task in TRAIN:
                rate, psnr = f"{_median(rows, 'images_per_sec'):.1f}", "-"
            else:
                rate, psnr = f"{_median(rows, 's_per_image'):.1f}", f"{_median(rows, 'psnr'):.2f}"
            up = f"{base_wall / wall:.2f}x" if base_wall else "-"
            up_cpu = f"{base_cpu / cpu:.2f}x" if base_cpu else "-"
            lines.append(f"| {task} | {label} | {len(rows)} | {wall:.1f} | {cpu:.1f} | {rate} | {psnr} | {up} | {up_cpu} |")
    return "\n".join(lines)


def _commit(root: Path) -> str:
    """Short commit of a checkout, ``+changes`` when its tracked files differ from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                           text=True)
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def _header(extra: str) -> str:
    import torch

    return (f"commit {_commit(ROOT)}, torch {torch.__version__}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, load at start {os.getloadavg()[0]:.1f}; {extra}")


def cmd_compare(a: argparse.Namespace) -> dict[str, Any]:
    base = Path(a.base).resolve()
    if not (base / ".venv" / "bin" / "ganedit").exists():
        raise SystemExit(f"--base {base}: no .venv/bin/ganedit there (create the old checkout's own venv)")
    base_commit = _commit(base)
    after = Path(a.after).resolve()
    after_commit = _commit(after)
    arms = [(f"before {base_commit}", base, [], 1), (f"after {after_commit}", after, [], 1)]
    # Both checkouts run the BASE's config files (issue 14: the same file is compared, so the gain
    # comes from the code and its defaults, not from a re-tuned config).
    config_root = base if a.configs == "base" else None
    with tempfile.TemporaryDirectory() as tmp:
        res = _interleave(arms, a.tasks, a.steps, a.reps, Path(a.workdir), Path(tmp), config_root)
    which = f"the config files of {base_commit}" if config_root else "each checkout's own config files"
    print(_header(f"{which}, steps={a.steps}, threads=1, num_workers=0, medians of {a.reps}"))
    print(_table(res, arms[0][0]))
    return res


def cmd_options(a: argparse.Namespace) -> dict[str, Any]:
    arms = []
    for v in a.variants:
        if v not in VARIANTS and "=" not in v:
            raise SystemExit(f"unknown variant {v!r}; choose from {', '.join(VARIANTS)} or give KEY=VALUE")
        for t in a.threads:  # KEY=VALUE: any config override, e.g. batch_size=2 for the inversions
            arms.append((f"{v}, {t} thread{'s' if t > 1 else ''}", ROOT, VARIANTS.get(v, [v]), t))
    with tempfile.TemporaryDirectory() as tmp:
        res = _interleave(arms, a.tasks, a.steps, a.reps, Path(a.workdir), Path(tmp))
    print(_header(f"steps={a.steps}, medians of {a.reps}"))
    print(_table(res, arms[0][0]))
    return res


#: profiled steps per task: one full lazy-regularisation cycle after step 0 (SwapAE/TCP: R1 on every
#: 16th D step = every 32nd step; StyleGAN2: R1 every 16, path length every 4 steps; StyleALAE: R1
#: inside every D step)
PROFILE_STEPS = {"swapae_train": 32, "tcp_train": 32, "stylegan2_train": 16, "alae_train": 16}
#: where a step's time goes: label -> (module, class, method) wrapped in a profiler range
CATEGORIES = {
    "data (render + batch)": ("ganedit.training.data", "DataStream", "__next__"),
    "backward + optimizer step": ("ganedit.accel", "Accel", "backward"),
    "regularizer forward (R1, path length)": ("ganedit.training.loop", "Trainer", "regularizer"),
    "EMA": ("ganedit.training.loop", "Trainer", "update_ema"),
    "whole step": ("ganedit.training.loop", "Trainer", "_profiled_step"),
}


def cmd_profile(a: argparse.Namespace) -> dict[str, Any]:
    """torch.profiler over one lazy-regularisation cycle of each training task (after step 0): the
    time of each part of a step (:data:`CATEGORIES`), then the costliest operators."""
    import contextlib
    import functools
    import importlib

    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    import ganedit
    from ganedit.training.data import DataStream

    torch.set_num_threads(1)
    out: dict[str, Any] = {}
    originals = []
    for label, (mod, cls, meth) in CATEGORIES.items():
        if meth == "_profiled_step":
            continue
        klass = getattr(importlib.import_module(mod), cls)
        fn = getattr(klass, meth)
        originals.append((klass, meth, fn))
        if meth == "regularizer":  # a context manager: the range spans its block
            def wrapped(self, _fn=fn, _label=label):  # noqa: ANN001
                stack = contextlib.ExitStack()
                stack.enter_context(record_function(f"## {_label}"))
                stack.enter_context(_fn(self))
                return stack
        else:
            def wrapped(self, *args, _fn=fn, _label=label, **kwargs):  # noqa: ANN001
                with record_function(f"## {_label}"):
                    return _fn(self, *args, **kwargs)
        setattr(klass, meth, functools.wraps(fn)(wrapped))
    try:
        for task in a.tasks:
            if task in INVERT:
                out[task] = _profile_invert(task, a)
                continue
            if task not in TRAIN:
                raise SystemExit(f"profile: unknown task {task!r}")
            steps = a.steps or PROFILE_STEPS[task]
            state: dict[str, Any] = {"n": 0, "prof": None, "step": None}
            fetch = DataStream.__next__

            def nxt(self, _fetch=fetch):  # noqa: ANN001
                # Each step starts with its batch: close the previous step's range, open the next.
                state["n"] += 1
                if state["step"] is not None:
                    state["step"].__exit__(None, None, None)
                    state["step"] = None
                if state["n"] == 2:
                    state["prof"] = profile(activities=[ProfilerActivity.CPU])
                    state["prof"].__enter__()
                if state["prof"] is not None and state["n"] == 2 + steps:
                    state["prof"].__exit__(None, None, None)
                    state["done"], state["prof"] = state["prof"], None
                if state["prof"] is not None:
                    state["step"] = record_function("## whole step")
                    state["step"].__enter__()
                return _fetch(self)

            DataStream.__next__ = nxt
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    ganedit.run(str(ROOT / TRAIN[task]), output=tmp, quiet=True,
                                overrides=[f"steps={steps + 2}", "threads=1", "num_workers=0", "resume=false",
                                           "sample_every=0", "checkpoint_every=0", "log_every=1000000"] + a.set)
            finally:
                DataStream.__next__ = fetch
            prof = state.get("done")
            if prof is None:
                raise SystemExit(f"profile {task}: the loop ended before the profiled steps")
            events = {e.key: e for e in prof.key_averages()}
            whole = events["## whole step"].cpu_time_total / steps / 1e3
            lines = [f"#### {task}: steps 1-{steps}, one thread, {whole:.0f} ms per step",
                     "| part of a step | ms per step | share |", "|---|---|---|"]
            for label in CATEGORIES:
                if label == "whole step" or f"## {label}" not in events:
                    continue
                ms = events[f"## {label}"].cpu_time_total / steps / 1e3
                lines.append(f"| {label} | {ms:.0f} | {100 * ms / whole:.0f}% |")
            conv = sum(e.self_cpu_time_total for k, e in events.items()
                       if "convolution" in k and not k.startswith("##")) / steps / 1e3
            lines.append(f"| (of all: convolution forward + backward operators) | {conv:.0f} | {100 * conv / whole:.0f}% |")
            summary = "\n".join(lines)
            table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.rows)
            print(f"\n{summary}\n\n{table}", flush=True)
            out[task] = {"summary": summary, "table": table}
    finally:
        for klass, meth, fn in originals:
            setattr(klass, meth, fn)
    return out


def _profile_invert(task: str, a: argparse.Namespace) -> dict[str, Any]:
    """torch.profiler over one whole inversion (one photo, shipped near_inversion.yaml or PTI):
    the initial (pivot) inverter, then the tuning steps split into their parts."""
    import functools

    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    import ganedit
    from ganedit_inversion import common, near_perfect, optimization, tuning

    torch.set_num_threads(1)
    patched = []

    def wrap(owner: Any, name: str, label: str) -> None:
        fn = getattr(owner, name)
        patched.append((owner, name, fn))

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with record_function(f"## {label}"):
                return fn(*args, **kwargs)

        setattr(owner, name, inner)

    labels = ["whole inversion", "initial inverter (pivot)", "method losses (forward)",
              "local discriminator update", "backward", "optimizer step"]
    wrap(tuning.GeneratorTuningInverter, "invert", labels[0])
    for mod in (tuning, optimization):
        wrap(mod, "run_initial", labels[1])
    wrap(near_perfect.NearPerfectInverter, "step_loss", labels[2])
    wrap(near_perfect.NearPerfectInverter, "_d_step", labels[3])
    wrap(torch.Tensor, "backward", labels[4])
    wrap(torch.optim.Adam, "step", labels[5])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = _invert_config(task, ROOT, Path(tmp))
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                ganedit.run(str(cfg), output=Path(tmp) / "out", quiet=True,
                            overrides=["threads=1", "resume=false", "editors=[]", f"inputs=[{INVERT_INPUTS[0]}]"]
                            + a.set)
            record = json.loads((Path(tmp) / "out" / "metrics.json").read_text())["images"][0]
    finally:
        for owner, name, fn in reversed(patched):
            setattr(owner, name, fn)
    events = {e.key: e for e in prof.key_averages()}
    whole = events["## " + labels[0]].cpu_time_total / 1e3
    lines = [f"#### {task}: one photo (chelsea), one thread: {whole / 1e3:.1f} s, {record['steps']} tuning steps "
             f"after {record.get('initial_steps')} pivot steps, PSNR {record['psnr_final']:.2f} dB",
             "| part | s | share |", "|---|---|---|"]
    for label in labels[1:]:
        e = events.get(f"## {label}")
        if e is not None:
            lines.append(f"| {label} | {e.cpu_time_total / 1e6:.1f} | {100 * e.cpu_time_total / 1e3 / whole:.0f}% |")
    summary = "\n".join(lines)
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.rows)
    print(f"\n{summary}\n\n{table}", flush=True)
    return {"summary": summary, "table": table}


#: the procedural datasets of the shipped training configs: name -> (resolution, drawing options, batch)
RENDER_DATASETS = {
    "alae_train (32 px, per-region)": (32, {}, 32),
    "stylegan2_train (64 px, per-region)": (64, {}, 16),
    "swapae/tcp_train (64 px, global)": (64, {"patterns": ("flat", "gradient", "waves"), "shape_labels": "kind",
                                               "palette": "global"}, 16),
}


def cmd_render(a: argparse.Namespace) -> dict[str, Any]:
    """CPU seconds per procedural image: one at a time (``dataset[i]``) against whole batches
    (``dataset.__getitems__``, what the training stream uses), interleaved, medians of ``--reps``
    batches. With ``--base``, that checkout's ``ganedit/data.py`` draws one image at a time too,
    and every image of this checkout must equal its image bit for bit (SHA-256 of the bytes)."""
    import hashlib
    import importlib.util

    import torch

    from ganedit.data import ProceduralDataset

    torch.set_num_threads(1)
    old = None
    if a.base:
        spec = importlib.util.spec_from_file_location("base_data", Path(a.base) / "ganedit" / "data.py")
        old = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(old)  # type: ignore[union-attr]
    digest = lambda xs: hashlib.sha256(b"".join(x.contiguous().numpy().tobytes() for x in xs)).hexdigest()  # noqa: E731
    lines = ["| dataset | batch | one at a time ms/image | batched ms/image | speed-up | "
             + ("base one at a time ms/image | speed-up against base | same pixels as base |" if old else ""),
             "|---|---|---|---|---|" + ("---|---|---|" if old else "")]
    out: dict[str, Any] = {}
    for name, (res, kw, batch) in RENDER_DATASETS.items():
        ds = ProceduralDataset(res, 50000, 0, **kw)
        arms: dict[str, Any] = {"single": lambda idx: [ds[i] for i in idx], "batched": ds.__getitems__}
        if old is not None:
            ods = old.ProceduralDataset(res, 50000, 0, **kw)
            arms["base"] = lambda idx, ods=ods: [ods[i] for i in idx]
        times: dict[str, list[float]] = {k: [] for k in arms}
        same = True
        for rep in range(a.reps):
            idx = list(range(rep * batch, (rep + 1) * batch))
            got = {}
            for k, fn in arms.items():
                t0 = time.process_time()
                got[k] = fn(idx)
                times[k].append((time.process_time() - t0) / batch * 1e3)
            if old is not None:
                same &= digest(got["batched"]) == digest(got["base"]) == digest(got["single"])
        med = {k: statistics.median(v) for k, v in times.items()}
        row = f"| {name} | {batch} | {med['single']:.3f} | {med['batched']:.3f} | {med['single'] / med['batched']:.1f}x |"
        if old is not None:
            row += f" {med['base']:.3f} | {med['base'] / med['batched']:.1f}x | {'yes' if same else 'NO'} ({a.reps * batch} images) |"
        lines.append(row)
        out[name] = {"ms_per_image": med, "same_pixels_as_base": same if old is not None else None}
    print(_header(f"one thread, CPU time, medians of {a.reps} batches"))
    print("\n".join(lines))
    return out


def _windows(run: Path, steps: int, window: int) -> dict[str, list[float]]:
    """Mean of each logged loss over consecutive ``window``-step windows up to ``steps``."""
    rows = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["step"] <= steps]
    if not rows or rows[-1]["step"] < steps:
        raise SystemExit(f"{run}: the log stops before step {steps}")
    out: dict[str, list[float]] = {}
    # every logged key, including the lazy regularisers' (logged only on the steps they run)
    for k in dict.fromkeys(k for r in rows for k in r):
        if k == "step":
            continue
        out[k] = [statistics.mean(vals) if vals else float("nan") for vals in
                  ([r[k] for r in rows if lo < r["step"] <= lo + window and k in r] for lo in range(0, steps, window))]
    return out


def cmd_curves(a: argparse.Namespace) -> dict[str, Any]:
    """Does ``--test`` (e.g. bf16) follow ``--ref`` (fp32, same seed)? Tolerance: the distance between
    ``--ref`` and ``--seed`` (fp32, another seed), loss by loss, window by window."""
    ref, other, test = (_windows(Path(r), a.steps, a.window) for r in (a.ref, a.seed, a.test))
    lines = [f"windows of {a.window} steps up to step {a.steps}; |d| = mean over windows of |run - ref|",
             "| loss | ref (last window) | test (last window) | mean abs d(test, ref) | mean abs d(seed, ref) | within |",
             "|---|---|---|---|---|---|"]
    res: dict[str, Any] = {}
    for k in ref:
        if k not in test or k not in other:
            raise SystemExit(f"{k}: logged by --ref only")
        # a window without the loss (a lazy regulariser that did not run in it) is left out
        d_test = statistics.mean(abs(x - y) for x, y in zip(test[k], ref[k]) if x == x and y == y)
        d_seed = statistics.mean(abs(x - y) for x, y in zip(other[k], ref[k]) if x == x and y == y)
        ok = d_test <= a.factor * d_seed
        res[k] = {"ref": ref[k], "test": test[k], "seed": other[k], "d_test": d_test, "d_seed": d_seed, "ok": ok}
        lines.append(f"| {k} | {ref[k][-1]:.4f} | {test[k][-1]:.4f} | {d_test:.4f} | {d_seed:.4f} | "
                     f"{'yes' if ok else 'NO'} |")
    print("\n".join(lines))
    print(f"test within {a.factor} x the seed-to-seed distance on {sum(r['ok'] for r in res.values())} of "
          f"{len(res)} losses")
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    split = lambda s: [x for x in s.split(",") if x]  # noqa: E731
    c = sub.add_parser("compare", help="before/after: an old checkout against this one")
    c.add_argument("--base", required=True, help="the old checkout (with its own .venv)")
    c.add_argument("--after", default=str(ROOT), help="the new checkout (default: this one)")
    c.add_argument("--steps", type=int, default=150)
    c.add_argument("--configs", choices=["base", "own"], default="base",
                   help="config files: the base checkout's in both (default, the acceptance), or each its own")
    o = sub.add_parser("options", help="this checkout's run options")
    o.add_argument("--variants", type=split, default=["fp32", "bf16", "compile"])
    o.add_argument("--threads", type=lambda s: [int(x) for x in split(s)], default=[1, 2])
    o.add_argument("--steps", type=int, default=40)
    for p in (c, o):
        p.add_argument("--tasks", type=split, default=[*TRAIN, "near_perfect", "pti"])
        p.add_argument("--reps", type=int, default=3)
        p.add_argument("--workdir", default=str(ROOT / "runs" / "throughput"))
    pr = sub.add_parser("profile", help="torch.profiler table of a few training steps")
    pr.add_argument("--tasks", type=split, default=[*TRAIN, "near_perfect", "pti"])
    pr.add_argument("--steps", type=int, default=0, help="profiled steps (default: one regularisation cycle)")
    pr.add_argument("--rows", type=int, default=25)
    pr.add_argument("--set", action="append", default=[], help="extra config override")
    rd = sub.add_parser("render", help="procedural images: one at a time against batched (and a base checkout)")
    rd.add_argument("--base", help="a checkout whose ganedit/data.py draws the reference images")
    rd.add_argument("--reps", type=int, default=8)
    cu = sub.add_parser("curves", help="does a bf16 loss curve follow fp32's (tolerance: seed-to-seed)?")
    cu.add_argument("--ref", required=True, help="run folder: fp32, seed 0")
    cu.add_argument("--seed", required=True, help="run folder: fp32, another seed")
    cu.add_argument("--test", required=True, help="run folder: the option (bf16), seed 0")
    cu.add_argument("--steps", type=int, default=300)
    cu.add_argument("--window", type=int, default=50)
    cu.add_argument("--factor", type=float, default=1.0, help="allowed multiple of the seed-to-seed distance")
    for p in (c, o, pr, rd, cu):
        p.add_argument("--json", help="write the raw results here")
    a = ap.parse_args(argv)
    res = {"compare": cmd_compare, "options": cmd_options, "profile": cmd_profile, "render": cmd_render,
           "curves": cmd_curves}[a.cmd](a)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    main()
