"""Throughput of the trainers and inverters at their shipped configs (issue 14). Not a test.

Every measurement is a whole ``ganedit run`` process started from a checkout's own venv, so a
checkout of an older commit (with its own ``.venv``) is compared with this one on the same
machine, in the same session, with the same config file. Runs of the compared variants are
interleaved (A B A B ...) and medians are reported, because a shared machine's load drifts.

Subcommands::

    # before/after: whole process, `--set steps=150 --set threads=1 --set num_workers=0`
    python benchmarks/throughput.py compare --base /path/to/old/checkout \\
        --tasks swapae_train,stylegan2_train,alae_train,tcp_train,near_perfect,pti --reps 3

    # run options of this checkout: images/s (training loop) or s/image (inversion)
    python benchmarks/throughput.py options --tasks swapae_train \\
        --variants fp32,bf16,compile,channels_last=false --threads 1,2 --reps 3

    # where one step's time goes (torch.profiler, CPU): a table per task
    python benchmarks/throughput.py profile --tasks swapae_train --steps 6

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
    """near_inversion.yaml as shipped (near_perfect), or with the inverter swapped for PTI's defaults."""
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
             tmp: Path) -> dict[str, Any]:
    """One whole ``ganedit run`` of ``task`` in checkout ``root``; its wall/CPU time and numbers."""
    exe = root / ".venv" / "bin" / "ganedit"
    if task in TRAIN:
        cfg = root / TRAIN[task]
        sets = [f"steps={steps}", f"threads={threads}", "num_workers=0", "resume=false"]
    elif task in INVERT:
        cfg = _invert_config(task, root, tmp)
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
                workdir: Path, tmp: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every task: ``reps`` rounds of one run of each arm (label, root, overrides, threads)."""
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for task in tasks:
        results[task] = {label: [] for label, *_ in arms}
        for rep in range(reps):
            for label, root, overrides, threads in arms:
                row = run_once(root, task, overrides, steps, threads, workdir / f"{task}_{label.split()[0]}", tmp)
                results[task][label].append(row)
                show = (f"{row['images_per_sec']:.1f} img/s (loop {row['loop_s']:.1f} s)" if task in TRAIN
                        else f"{row['s_per_image']:.1f} s/img, PSNR {row['psnr']:.2f} dB")
                print(f"[{task} rep {rep}] {label:22s} process {row['wall_s']:6.1f} s  {show}  "
                      f"load {row['load1']:.1f}", flush=True)
    return results


def _table(results: dict[str, dict[str, list[dict[str, Any]]]], ref: str | None) -> str:
    lines = ["| task | variant | runs | process s | loop images/s or s/image | PSNR dB | speed-up (process) |",
             "|---|---|---|---|---|---|---|"]
    for task, arms in results.items():
        base_wall = _median(arms[ref], "wall_s") if ref in arms else None
        for label, rows in arms.items():
            wall = _median(rows, "wall_s")
            if task in TRAIN:
                rate, psnr = f"{_median(rows, 'images_per_sec'):.1f}", "-"
            else:
                rate, psnr = f"{_median(rows, 's_per_image'):.1f}", f"{_median(rows, 'psnr'):.2f}"
            up = f"{base_wall / wall:.2f}x" if base_wall else "-"
            lines.append(f"| {task} | {label} | {len(rows)} | {wall:.1f} | {rate} | {psnr} | {up} |")
    return "\n".join(lines)


def _header(extra: str) -> str:
    import torch

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return (f"commit {commit.stdout.strip()}, torch {torch.__version__}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, load at start {os.getloadavg()[0]:.1f}; {extra}")


def cmd_compare(a: argparse.Namespace) -> dict[str, Any]:
    base = Path(a.base).resolve()
    if not (base / ".venv" / "bin" / "ganedit").exists():
        raise SystemExit(f"--base {base}: no .venv/bin/ganedit there (create the old checkout's own venv)")
    base_commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=base, capture_output=True,
                                 text=True).stdout.strip()
    after = Path(a.after).resolve()
    after_commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=after, capture_output=True,
                                  text=True).stdout.strip()
    arms = [(f"before {base_commit}", base, [], 1), (f"after {after_commit}", after, [], 1)]
    with tempfile.TemporaryDirectory() as tmp:
        res = _interleave(arms, a.tasks, a.steps, a.reps, Path(a.workdir), Path(tmp))
    print(_header(f"same config files, steps={a.steps}, threads=1, num_workers=0, medians of {a.reps}"))
    print(_table(res, arms[0][0]))
    return res


def cmd_options(a: argparse.Namespace) -> dict[str, Any]:
    arms = []
    for v in a.variants:
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r}; choose from {', '.join(VARIANTS)}")
        for t in a.threads:
            arms.append((f"{v}, {t} thread{'s' if t > 1 else ''}", ROOT, VARIANTS[v], t))
    with tempfile.TemporaryDirectory() as tmp:
        res = _interleave(arms, a.tasks, a.steps, a.reps, Path(a.workdir), Path(tmp))
    print(_header(f"steps={a.steps}, medians of {a.reps}"))
    print(_table(res, arms[0][0]))
    return res


def cmd_profile(a: argparse.Namespace) -> dict[str, Any]:
    """Profile ``--steps`` training steps (after 2 warm-up steps) of each task in this process."""
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    import ganedit
    from ganedit import training

    torch.set_num_threads(1)
    out: dict[str, Any] = {}
    for task in a.tasks:
        if task not in TRAIN:
            raise SystemExit(f"profile: training tasks only ({', '.join(TRAIN)})")
        state: dict[str, Any] = {"n": 0, "prof": None}
        # Profile steps 2 .. 2+steps of the loop: wrap the loop's data fetch (which starts each step).
        orig_next = training.DataStream.__next__

        def nxt(self, _orig=orig_next):  # noqa: ANN001
            state["n"] += 1
            if state["n"] == 3:
                state["prof"] = profile(activities=[ProfilerActivity.CPU], record_shapes=False)
                state["prof"].__enter__()
            if state["prof"] is not None and state["n"] == 3 + a.steps:
                state["prof"].__exit__(None, None, None)
                state["done"], state["prof"] = state["prof"], None
            with record_function("## data"):
                return _orig(self)

        training.DataStream.__next__ = nxt
        try:
            with tempfile.TemporaryDirectory() as tmp:
                ganedit.run(str(ROOT / TRAIN[task]), output=tmp, quiet=True,
                            overrides=[f"steps={a.steps + 3}", "threads=1", "num_workers=0", "resume=false",
                                       "sample_every=0", "checkpoint_every=0", "log_every=1000000"]
                            + a.set)
        finally:
            training.DataStream.__next__ = orig_next
        prof = state.get("done")
        if prof is None:
            raise SystemExit(f"profile {task}: the loop ended before the profiled steps")
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.rows)
        print(f"\n### {task} ({a.steps} steps, one thread)\n{table}")
        out[task] = {"table": table}
    return out


def _windows(run: Path, steps: int, window: int) -> dict[str, list[float]]:
    """Mean of each logged loss over consecutive ``window``-step windows up to ``steps``."""
    rows = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["step"] <= steps]
    if not rows or rows[-1]["step"] < steps:
        raise SystemExit(f"{run}: the log stops before step {steps}")
    out: dict[str, list[float]] = {}
    for k in rows[-1]:
        if k == "step":
            continue
        out[k] = [statistics.mean(r[k] for r in rows if lo < r["step"] <= lo + window and k in r)
                  for lo in range(0, steps, window)]
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
        d_test = statistics.mean(abs(x - y) for x, y in zip(test[k], ref[k]))
        d_seed = statistics.mean(abs(x - y) for x, y in zip(other[k], ref[k]))
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
    o = sub.add_parser("options", help="this checkout's run options")
    o.add_argument("--variants", type=split, default=["fp32", "bf16", "compile"])
    o.add_argument("--threads", type=lambda s: [int(x) for x in split(s)], default=[1, 2])
    o.add_argument("--steps", type=int, default=40)
    for p in (c, o):
        p.add_argument("--tasks", type=split, default=[*TRAIN, "near_perfect", "pti"])
        p.add_argument("--reps", type=int, default=3)
        p.add_argument("--workdir", default=str(ROOT / "runs" / "throughput"))
    pr = sub.add_parser("profile", help="torch.profiler table of a few training steps")
    pr.add_argument("--tasks", type=split, default=list(TRAIN))
    pr.add_argument("--steps", type=int, default=6)
    pr.add_argument("--rows", type=int, default=25)
    pr.add_argument("--set", action="append", default=[], help="extra config override")
    cu = sub.add_parser("curves", help="does a bf16 loss curve follow fp32's (tolerance: seed-to-seed)?")
    cu.add_argument("--ref", required=True, help="run folder: fp32, seed 0")
    cu.add_argument("--seed", required=True, help="run folder: fp32, another seed")
    cu.add_argument("--test", required=True, help="run folder: the option (bf16), seed 0")
    cu.add_argument("--steps", type=int, default=300)
    cu.add_argument("--window", type=int, default=50)
    cu.add_argument("--factor", type=float, default=1.0, help="allowed multiple of the seed-to-seed distance")
    for p in (c, o, pr, cu):
        p.add_argument("--json", help="write the raw results here")
    a = ap.parse_args(argv)
    res = {"compare": cmd_compare, "options": cmd_options, "profile": cmd_profile, "curves": cmd_curves}[a.cmd](a)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    main()
