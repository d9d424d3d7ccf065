"""The robustness battery of issue 13: bad inputs and faults fail loudly and lose nothing.

Each test reproduces a case that failed before and asserts the clean behaviour: the exit code, one
``error:`` line naming the file or config path, no traceback without ``--debug``, nothing partial
or overwritten. The CLI runs in this process (``ganedit.cli.main``) unless the case needs the real
entry point (tracebacks, exit status, a closed pipe) or another process (a lock held elsewhere).
Sections follow the issue: resume, the output folder, exit codes, bad numbers, convert and plugins.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import ganedit
from ganedit.cli import main
from ganedit.io.checkpoint import CheckpointError, check_finite, load_native, safe_torch_load
from ganedit.io.images import ImageReadError, load_image, save_image
from ganedit.io.output import LOCK_NAME, output_names
from ganedit.registry import set_registry
from ganedit.testing import ToyPlugin, fixtures_dir, make_registry, torch_threads

CHANNELS = {4: 16, 8: 16, 16: 16}
TINY_G = {"type": "stylegan2", "params": {"resolution": 16, "style_dim": 16, "n_mlp": 2,
                                          "channels": CHANNELS, "seed": 1}}
SAMPLE = {"task": "sample", "seed": 0, "device": "cpu", "threads": 1, "generator": TINY_G, "num_images": 2}
RUN_FILES = ("config.yaml", "plugins.json", "metrics.json")


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


# ----------------------------------------------------------------------------- helpers


def invert_config(inputs: Any, **extra: Any) -> dict[str, Any]:
    """The ``invert`` task on a tiny random StyleGAN2 with a 2-step optimisation (fast)."""
    cfg = {"task": "invert", "seed": 0, "device": "cpu", "threads": 1, "generator": TINY_G,
           "inverter": {"type": "optimization", "params": {"steps": 2, "w_avg_samples": 16,
                                                           "optimize_noise": False}},
           "inputs": inputs, "lpips": "off", "locality_samples": 1}
    cfg.update(extra)
    return cfg


def write_config(path: Path, cfg: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def cli(capsys, *args: Any) -> tuple[int, str, str]:
    """``ganedit ARGS`` in this process: ``(exit status, stdout, stderr)``."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli_process(*args: Any, **kw: Any) -> subprocess.CompletedProcess:
    """``python -m ganedit ARGS`` (the real entry point) in a subprocess, one torch thread."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", **kw.pop("env_extra", {}))
    env.pop("GANEDIT_STRICT_PLUGINS", None)
    kw.setdefault("capture_output", True)
    return subprocess.run([sys.executable, "-m", "ganedit", *map(str, args)], env=env, text=True, timeout=300, **kw)


def one_error(err: str, *needles: str) -> str:
    """Exactly one ``error:`` line, no traceback, containing every needle; returns the line."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def png(path: Path, seed: int, size: int = 16) -> Path:
    g = torch.Generator().manual_seed(seed)
    return save_image(path, torch.rand(3, size, size, generator=g) * 2 - 1)


def results(out: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    metrics = json.loads((out / "metrics.json").read_text())
    return metrics["summary"], {r["name"]: r for r in metrics["images"]}


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Content and mtime of every file under ``folder``."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def poison_native(src: Path, dst: Path, key: str | None = None) -> str:
    """Copy a safetensors file with one NaN in tensor ``key`` (default: the first float tensor)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), "pt") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    key = key or next(k for k, v in tensors.items() if v.is_floating_point() and v.numel())
    tensors[key] = tensors[key].clone()
    tensors[key].view(-1)[0] = float("nan")
    save_file(tensors, str(dst), metadata=meta)
    return key


def poison_nested(obj: Any, inf: bool = False) -> str:
    """Put a NaN (or inf) into the first float tensor of nested dicts; returns its dotted key."""
    for key, value in obj.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and value.numel():
            value.view(-1)[0] = float("inf") if inf else float("nan")
            return str(key)
        if isinstance(value, dict):
            found = poison_nested(value, inf)
            if found:
                return f"{key}.{found}"
    return ""


def fixture(*parts: str) -> Path:
    p = fixtures_dir().joinpath(*parts)
    if not p.is_file():
        pytest.skip(f"fixture {p} is absent")
    return p


# ============================================================================= resume (invert)


def test_resume_redoes_another_file_with_the_same_name(tmp_path):
    """Was: the second run "resumed" x/a.png's result for y/a.png, and metrics.json kept x's path."""
    x, y = png(tmp_path / "x" / "a.png", 1), png(tmp_path / "y" / "a.png", 2)
    out = tmp_path / "run"
    ganedit.run(invert_config(str(x)), output=out, quiet=True)
    summary = ganedit.run(invert_config(str(y)), output=out, quiet=True)
    assert summary["num_resumed"] == 0 and summary["num_ok"] == 1
    _, recs = results(out)
    assert recs["a"]["path"] == str(y) and recs["a"]["source"]["path"] == str(y.resolve())
    assert "another input file has this name now" in recs["a"]["redone"] and str(x.resolve()) in recs["a"]["redone"]
    assert json.loads((out / "inversions" / "a" / "record.json").read_text())["path"] == str(y)
    assert torch.equal(load_image(out / "images" / "a" / "target.png"), load_image(y))


def test_resume_keys_on_content_and_config(tmp_path):
    """Was: a file whose content changed kept its old result. Now content (SHA-256) and config
    fingerprint are part of the key; unchanged items still resume."""
    folder = tmp_path / "in"
    a, _ = png(folder / "a.png", 1), png(folder / "b.png", 2)
    out = tmp_path / "run"
    assert ganedit.run(invert_config(str(folder)), output=out, quiet=True)["num_ok"] == 2
    assert ganedit.run(invert_config(str(folder)), output=out, quiet=True)["num_resumed"] == 2
    png(a, 3)  # same path, new pixels
    summary = ganedit.run(invert_config(str(folder)), output=out, quiet=True)
    _, recs = results(out)
    assert summary["num_resumed"] == 1 and recs["a"]["redone"] == "the input file's content changed"
    assert "redone" not in recs["b"]
    assert torch.equal(load_image(out / "images" / "a" / "target.png"), load_image(a))
    changed = invert_config(str(folder), locality_seed=5)
    assert ganedit.run(changed, output=out, quiet=True)["num_resumed"] == 0
    assert {r["redone"] for r in results(out)[1].values()} == {"the configuration changed"}


def test_same_stems_in_one_run_get_distinct_outputs(tmp_path):
    """Was: a.png / a.jpg and x/a.png / y/a.png in one run could write into one folder."""
    inputs = [png(tmp_path / "a.png", 1), tmp_path / "a.jpg", png(tmp_path / "x" / "a.png", 3),
              png(tmp_path / "y" / "a.png", 4), png(tmp_path / "A.png", 5)]
    Image.open(png(tmp_path / "tmp.png", 2)).save(inputs[1], format="JPEG")
    out = tmp_path / "run"
    summary = ganedit.run(invert_config([str(p) for p in inputs]), output=out, quiet=True)
    assert summary["num_ok"] == 5
    _, recs = results(out)
    names = output_names(inputs)
    assert len({n.casefold() for n in names}) == 5 and set(recs) == set(names)
    for name, path in zip(names, inputs):
        assert recs[name]["source"]["path"] == str(path.resolve())
        assert (out / "inversions" / name / "record.json").is_file()
    # names are stable: a rerun resumes every item
    assert ganedit.run(invert_config([str(p) for p in inputs]), output=out, quiet=True)["num_resumed"] == 5


def item_files(out: Path, name: str) -> list[str]:
    """The files of one invert item (its images and inversions folders), relative to ``out``."""
    return sorted(str(p.relative_to(out)) for sub in ("images", "inversions")
                  for p in (out / sub / name).rglob("*") if p.is_file())


def test_a_failed_redo_leaves_no_earlier_result_behind(tmp_path, capsys):
    """Was: when a redone item failed, its earlier images, latent and generator stayed beside the new
    'failed' record, looking like its result. Now a failed item keeps only its record.json, and a
    redo that succeeds drops the earlier files it did not write again (an edit no longer asked for)."""
    a = png(tmp_path / "in" / "a.png", 1)
    out = tmp_path / "run"
    edit = [{"type": "sefa", "params": {"num_directions": 1, "strengths": [2.0], "samples": 10}}]
    cfg = write_config(tmp_path / "c.yaml", invert_config(str(a), editors=edit))
    assert cli(capsys, "run", cfg, "-o", out, "-q")[0] == 0
    first = item_files(out, "a")
    assert "inversions/a/latent.safetensors" in first and "images/a/final.png" in first
    # the same input and config without the edit: the edit's image goes, the rest is rewritten
    cfg2 = write_config(tmp_path / "c2.yaml", invert_config(str(a)))
    assert cli(capsys, "run", cfg2, "-o", out, "-q")[0] == 0
    fresh = tmp_path / "fresh"
    assert cli(capsys, "run", cfg2, "-o", fresh, "-q")[0] == 0
    assert item_files(out, "a") == item_files(fresh, "a") and len(item_files(out, "a")) < len(first)
    # the input's content changes into something unreadable: the redo fails, nothing of before stays
    a.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    code, _, err = cli(capsys, "run", cfg2, "-o", out, "-q")
    assert code == 3 and "[invert] a: failed: ImageReadError" in err
    assert item_files(out, "a") == ["inversions/a/record.json"]
    record = json.loads((out / "inversions" / "a" / "record.json").read_text())
    assert record["status"] == "failed" and record["redone"] == "the input file's content changed"
    assert results(out)[1]["a"]["status"] == "failed"


def test_outputs_follow_their_input_when_a_same_stem_input_joins_or_leaves(tmp_path):
    """Was: when y/a.png joined a run that had inverted x/a.png as 'a', x/a.png was redone as
    'a_<hash>' and the folder 'a' stayed behind. Now its outputs move to the new name and resume
    there (and move back when y/a.png leaves); no folder stays under the old name."""
    x, y = png(tmp_path / "x" / "a.png", 1), png(tmp_path / "y" / "a.png", 2)
    out = tmp_path / "run"
    ganedit.run(invert_config(str(x)), output=out, quiet=True)
    latent = (out / "inversions" / "a" / "latent.safetensors").read_bytes()
    summary = ganedit.run(invert_config([str(x), str(y)]), output=out, quiet=True)
    assert summary["num_resumed"] == 1 and summary["num_ok"] == 2
    nx, ny = output_names([x, y])
    assert sorted(p.name for p in (out / "inversions").iterdir()) == sorted([nx, ny])
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted([nx, ny])
    _, recs = results(out)
    assert recs[nx]["source"]["path"] == str(x.resolve()) and recs[nx]["latent"] == f"inversions/{nx}/latent.safetensors"
    assert (out / recs[nx]["latent"]).read_bytes() == latent
    # y leaves again: x's outputs go back to 'a', still resumed
    summary = ganedit.run(invert_config(str(x)), output=out, quiet=True)
    assert summary["num_resumed"] == 1
    assert sorted(p.name for p in (out / "inversions").iterdir()) == sorted(["a", ny])  # y's own result stays
    assert json.loads((out / "inversions" / "a" / "record.json").read_text())["name"] == "a"
    assert (out / "inversions" / "a" / "latent.safetensors").read_bytes() == latent


def test_odd_input_names_stay_inside_their_folder_and_literal_paths_are_literal(tmp_path):
    """Was: '...png' (stem '..') wrote its record into the output root; 'a[1].png' was read as a
    glob pattern and not found."""
    dots, brackets = png(tmp_path / "in" / "...png", 1), png(tmp_path / "in" / "a[1].png", 2)
    out = tmp_path / "run"
    summary = ganedit.run(invert_config([str(dots), str(brackets)]), output=out, quiet=True)
    assert summary["num_ok"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "images", "inversions", "metrics.json",
                                                       "plugins.json", "tb"]
    assert sorted(p.name for p in (out / "inversions").iterdir()) == ["__", "a_1_"]
    # a single literal path with glob characters, through validation too
    assert ganedit.run(invert_config(str(brackets)), output=tmp_path / "one", quiet=True)["num_ok"] == 1
    # a real pattern still globs
    assert ganedit.run(invert_config(str(tmp_path / "in" / "a*.png")), output=tmp_path / "g",
                       quiet=True)["num_images"] == 1


# ============================================================================= the output folder

HOLD_LOCK = """
import sys, time
from ganedit.io.output import FolderLock
FolderLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_one_run_per_output_folder_and_a_dead_runs_lock_is_taken_over(tmp_path, capsys):
    cfg = write_config(tmp_path / "s.yaml", SAMPLE)
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = cli(capsys, "run", cfg, "-o", out, "-q")
        assert code == 2
        one_error(err, f"output {out} is in use by run pid {holder.pid}", LOCK_NAME)
        assert [p.name for p in out.iterdir()] == [LOCK_NAME]  # the refused run wrote nothing
    finally:
        holder.kill()
        holder.wait()
    # Killed while holding it: the lock file stays, but its process is gone, so it is taken over.
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == holder.pid
    code, _, err = cli(capsys, "run", cfg, "-o", out, "-q")
    assert code == 0, err
    assert f"took over the stale lock of run pid {holder.pid}" in err
    assert not (out / LOCK_NAME).exists() and (out / "metrics.json").is_file()


def test_failed_validation_or_setup_leaves_a_finished_folder_alone(tmp_path, capsys):
    """Was: a run failing in validation (the overflowing seed) or setup rewrote config.yaml and
    plugins.json of a finished folder."""
    cfg = write_config(tmp_path / "s.yaml", SAMPLE)
    out = tmp_path / "out"
    assert cli(capsys, "run", cfg, "-o", out, "-q")[0] == 0
    before = snapshot(out)
    code, _, err = cli(capsys, "run", cfg, "-o", out, "-q", "--seed", "99999999999999999999")
    assert code == 2
    one_error(err, "seed", "less than or equal to")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    code, _, err = cli(capsys, "run", cfg, "-o", out, "-q", "--set", f"generator.params.checkpoint={junk}")
    assert code == 2
    one_error(err, str(junk))
    assert snapshot(out) == before
    # a folder created for a run that fails in setup is removed again
    code, _, _ = cli(capsys, "run", cfg, "-o", tmp_path / "new", "-q", "--set", f"generator.params.checkpoint={junk}")
    assert code == 2 and not (tmp_path / "new").exists()


@pytest.mark.parametrize("case", ["is_a_file", "parent_is_a_file", "read_only"])
def test_unusable_output_is_one_error_line(tmp_path, capsys, monkeypatch, case):
    cfg = write_config(tmp_path / "s.yaml", SAMPLE)
    (tmp_path / "file").write_text("x")
    if case == "is_a_file":
        out, needle = tmp_path / "file", "is a file, not a folder"
    elif case == "parent_is_a_file":
        out, needle = tmp_path / "file" / "out", f"{tmp_path / 'file'} is a file, not a folder"
    else:
        out, needle = tmp_path / "ro", "is not writable"
        out.mkdir()
        out.chmod(0o555)
        if os.geteuid() == 0:  # root ignores permission bits: answer as a read-only mount would
            real = os.access
            monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == out else real(p, mode, **kw))
    code, _, err = cli(capsys, "run", cfg, "-o", out, "-q")
    assert code == 2
    one_error(err, str(out), needle)
    assert (tmp_path / "file").read_text() == "x"
    if case == "read_only":
        assert list(out.iterdir()) == []


@pytest.mark.parametrize("task", ["sample", "invert"])
def test_full_disk_is_one_line_exit_1_and_keeps_what_was_written(tmp_path, capsys, monkeypatch, task):
    """A full disk (simulated: the atomic writer's rename raises ENOSPC for new images) fails the run
    with exit 1 naming the file; the previous outputs are intact, no temporary file is left, and
    the invert task does not record it as one image's failure and go on."""
    cfg = SAMPLE if task == "sample" else invert_config(str(png(tmp_path / "in" / "a.png", 1)))
    cfg = write_config(tmp_path / "c.yaml", cfg)
    out = tmp_path / "out"
    assert cli(capsys, "run", cfg, "-o", out, "-q")[0] == 0
    before = snapshot(out)
    real = os.replace

    def full(src, dst, *a, **kw):
        if "images" in Path(dst).parts:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", full)
    extra = ["--set", "resume=false"] if task == "invert" else ["--seed", "1"]
    code, _, err = cli(capsys, "run", cfg, "-o", out, "-q", *extra)
    assert code == 1
    one_error(err, "disk full", str(out / "images"))
    after = snapshot(out)
    for name, (content, _) in before.items():
        if name.startswith("images/"):
            assert after[name][0] == content, name
    assert not [p for p in out.rglob(".*") if p.name != LOCK_NAME], "temporary files left behind"
    assert not (out / LOCK_NAME).exists()


# ============================================================================= exit codes


def test_failed_items_exit_3_and_quiet_still_reports_them(tmp_path, capsys):
    folder = tmp_path / "in"
    png(folder / "a.png", 1), png(folder / "b.png", 2)
    (folder / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (folder / "d.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"
    code, stdout, err = cli(capsys, "run", write_config(tmp_path / "c.yaml", invert_config(str(folder))), "-o", out,
                            "-q")
    assert code == 3 and stdout == ""
    assert "Traceback" not in err
    assert f"error: 2 of 4 images failed; see {out / 'metrics.json'}" in err.splitlines()
    assert any(ln.startswith("[invert] c: failed: ImageReadError:") and "c.png" in ln for ln in err.splitlines())
    assert any(ln.startswith("[invert] d: failed: ImageReadError:") and "d.jpg" in ln for ln in err.splitlines())
    assert results(out)[0]["num_failed"] == 2


def test_closed_stdout_is_not_a_traceback(tmp_path):
    """Was: ``ganedit describe --all | head`` and ``schema | head`` ended in a BrokenPipeError
    traceback. Now they stop with one ``error:`` line on stderr and status 2."""
    for args in (["describe", "--all"], ["schema"]):
        read, write = os.pipe()
        os.close(read)  # the reader (head) has gone
        try:
            res = cli_process(*args, stdout=write, stderr=subprocess.PIPE, capture_output=False)
        finally:
            os.close(write)
        assert res.returncode == 2, (args, res.returncode, res.stderr)
        assert res.stderr.splitlines() == ["error: stdout was closed by its reader (broken pipe); "
                                           "the output was cut short"], (args, res.stderr)


@pytest.mark.parametrize("override, needles", [
    ("editors.5.params.x=1", ["--set editors.5.params.x", "index 5 is out of range: editors has 1 item"]),
    ("editors.x=1", ["--set editors.x", "editors is a list: expected an index 0..0, got 'x'"]),
    ("editors.0.params.psis.7=1", ["index 7 is out of range: editors.0.params.psis has 2 items"]),
    ("seed.x=1", ["--set seed.x: seed is 0 (int), not a mapping or list, so it has no key 'x'"]),
    ("num_images.0=1", ["--set num_images.0: num_images is 2 (int), not a mapping or list"]),
])
def test_bad_set_paths_are_one_line(tmp_path, capsys, override, needles):
    cfg = write_config(tmp_path / "s.yaml", {**SAMPLE, "editors": [{"type": "truncation",
                                                                      "params": {"psis": [0.5, 1.0]}}]})
    code, _, err = cli(capsys, "validate", cfg, "--set", override)
    assert code == 2
    one_error(err, *needles)


def test_non_utf8_config_and_duplicate_keys(tmp_path, capsys):
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes(b"task: sample\n# caf\xe9\nseed: 0\n")
    code, _, err = cli(capsys, "validate", latin)
    assert code == 2
    one_error(err, str(latin), "not UTF-8", "0xe9", "line 2")
    code, _, err = cli(capsys, "validate", tmp_path)
    assert code == 2
    one_error(err, f"{tmp_path}: is a folder, not a config file")
    dup = tmp_path / "dup.yaml"
    dup.write_text("task: sample\ngenerator:\n  type: stylegan2\n  params: {resolution: 16}\n  type: toy\n")
    code, _, err = cli(capsys, "validate", dup)
    assert code == 2
    one_error(err, str(dup), "duplicate key 'type'", "line 5", "first at line 3")
    code, _, err = cli(capsys, "validate", write_config(tmp_path / "s.yaml", SAMPLE), "--set", "generator={a: 1, a: 2}")
    assert code == 2
    one_error(err, "--set generator", "duplicate key 'a'")


def test_huge_seed_is_refused_before_anything_is_written(tmp_path, capsys):
    """Was: OverflowError traceback, and a config.yaml left behind."""
    out = tmp_path / "out"
    code, _, err = cli(capsys, "run", write_config(tmp_path / "s.yaml", SAMPLE), "-o", out, "--seed",
                       "99999999999999999999")
    assert code == 2
    one_error(err, "seed: Input should be less than or equal to 4294967295")
    assert not out.exists()
    # the largest accepted seed runs (per-image offsets included)
    inputs = png(tmp_path / "a.png", 1)
    cfg = write_config(tmp_path / "i.yaml", invert_config(str(inputs), seed=2**32 - 1))
    assert cli(capsys, "run", cfg, "-o", out, "-q")[0] == 0


def test_near_perfect_without_discriminator_is_one_line(tmp_path, capsys):
    """Was: a traceback and exit 1 for a checkpoint without a discriminator."""
    cfg = invert_config(str(png(tmp_path / "a.png", 1)), inverter={"type": "near_perfect", "params": {
        "steps": 2, "initial": {"type": "optimization", "params": {"steps": 1, "w_avg_samples": 16}}}})
    out = tmp_path / "out"
    code, _, err = cli(capsys, "run", write_config(tmp_path / "n.yaml", cfg), "-o", out, "-q")
    assert code == 2
    one_error(err, "near_perfect needs a discriminator")
    assert not out.exists()


def test_real_entry_point_prints_no_traceback(tmp_path):
    cfg = write_config(tmp_path / "s.yaml", SAMPLE)
    res = cli_process("run", cfg, "-o", tmp_path / "out", "--seed", "99999999999999999999")
    assert res.returncode == 2
    one_error(res.stderr, "seed")
    res = cli_process("--debug", "validate", cfg, "--set", "generator.params.resolution=3")
    assert res.returncode == 1 and "Traceback" in res.stderr  # --debug shows it


# ============================================================================= bad numbers


def test_check_finite_names_the_tensor_and_the_file():
    check_finite({"a": {"b": torch.ones(3)}, "steps": torch.tensor([1, 2])}, "f.pt")
    with pytest.raises(CheckpointError, match=r"^f\.pt: tensor 'a\.1\.w' holds 2 non-finite value\(s\) \(NaN/inf\) of 3"):
        check_finite({"a": [torch.ones(1), {"w": torch.tensor([1.0, float("nan"), float("-inf")])}]}, "f.pt")


def test_nan_native_checkpoint_is_refused_when_loaded(tmp_path, capsys):
    """Was: a NaN generator loaded and validated, and every image then failed with "lower the
    learning rate"."""
    good = tmp_path / "g.safetensors"
    ganedit.build("generator", TINY_G).save(good)
    bad = tmp_path / "bad.safetensors"
    key = poison_native(good, bad)
    with pytest.raises(CheckpointError, match=f"{bad}: tensor '{key}' holds 1 non-finite value"):
        load_native(bad)
    cfg = write_config(tmp_path / "i.yaml", invert_config(str(png(tmp_path / "a.png", 1)), generator={
        "type": "stylegan2", "params": {"checkpoint": str(bad)}}))
    code, _, err = cli(capsys, "run", cfg, "-o", tmp_path / "out", "-q")
    assert code == 2
    one_error(err, str(bad), f"tensor '{key}'", "non-finite")
    # convert: was "not a checkpoint of any installed format" for a native file, damaged or not
    code, _, err = cli(capsys, "convert", bad, tmp_path / "c.safetensors")
    assert code == 2 and not (tmp_path / "c.safetensors").exists()
    one_error(err, f"{bad}: tensor '{key}' holds 1 non-finite value")
    code, _, err = cli(capsys, "convert", good, tmp_path / "c.safetensors")
    assert code == 2 and not (tmp_path / "c.safetensors").exists()
    one_error(err, f"{good}: already a ganedit native checkpoint (generator 'stylegan2')", "nothing to convert")
    # an inverted latent file is checked the same way
    from ganedit_inversion import load_latent, save_latent

    save_latent(tmp_path / "l.safetensors", ganedit.Latent.w(torch.tensor([[[0.0, float("inf")]]])))
    with pytest.raises(CheckpointError, match="tensor 'ws' holds 1 non-finite value"):
        load_latent(tmp_path / "l.safetensors")


def test_nan_torch_checkpoint_is_refused_by_convert_and_run(tmp_path, capsys):
    g = ganedit.build("generator", TINY_G)
    state = {"g_ema": {k: v.clone() for k, v in g.net.state_dict().items()}}
    key = poison_nested(state, inf=True)
    src = tmp_path / "ros.pt"
    torch.save(state, src)
    with pytest.raises(CheckpointError, match=f"tensor '{key}' holds 1 non-finite value\\(s\\) \\(inf\\)"):
        safe_torch_load(src)
    code, _, err = cli(capsys, "convert", src, tmp_path / "out.safetensors")
    assert code == 2
    one_error(err, str(src), f"tensor '{key}'")
    assert not (tmp_path / "out.safetensors").exists()
    code, _, err = cli(capsys, "validate", write_config(tmp_path / "s.yaml", SAMPLE), "--set",
                       f"generator.params.checkpoint={src}")
    assert code == 2  # was 0: validate read no weights
    one_error(err, "generator.params.checkpoint (stylegan2)", str(src), f"tensor '{key}'", "non-finite")
    code, _, err = cli(capsys, "run", write_config(tmp_path / "s.yaml", SAMPLE), "-o", tmp_path / "o", "-q",
                       "--set", f"generator.params.checkpoint={src}")
    assert code == 2
    one_error(err, f"tensor '{key}'")


def test_validate_reads_the_weights_of_every_file_a_config_names(tmp_path, capsys):
    """Was: ``ganedit validate`` read no weights, so a NaN checkpoint passed it. Now every file a
    config names in a path parameter (nested components included) is read, and a NaN/inf tensor
    is one error line naming the config path, the file and the tensor; nothing is built."""
    good = tmp_path / "g.safetensors"
    ganedit.build("generator", TINY_G).save(good)
    bad = tmp_path / "bad.safetensors"
    key = poison_native(good, bad)
    cfg = write_config(tmp_path / "s.yaml", {**SAMPLE, "generator": {"type": "stylegan2",
                                                                   "params": {"checkpoint": str(good)}}})
    code, out, err = cli(capsys, "validate", cfg)
    assert code == 0 and out.strip() == f"{cfg}: ok (task sample)", err
    code, out, err = cli(capsys, "validate", cfg, "--set", f"generator.params.checkpoint={bad}")
    assert code == 2 and "ok" not in out
    one_error(err, "generator.params.checkpoint (stylegan2):", f"{bad}: tensor '{key}' holds 1 non-finite value(s) (NaN)")
    # an editor's direction file, through an invert config (numpy and torch files)
    w_dim = TINY_G["params"]["style_dim"]
    direction = np.ones(w_dim, dtype=np.float32)
    direction[3] = np.inf
    np.save(tmp_path / "d.npy", direction)
    torch.save({"direction": torch.from_numpy(direction)}, tmp_path / "d.pt")
    for path, tensor in ((tmp_path / "d.npy", "its tensor"), (tmp_path / "d.pt", "tensor 'direction'")):
        cfg = write_config(tmp_path / "i.yaml", invert_config(str(png(tmp_path / "a.png", 1)), generator={
            "type": "stylegan2", "params": {"checkpoint": str(good)}}, editors=[
            {"type": "direction", "params": {"path": str(path)}}]))
        code, _, err = cli(capsys, "validate", cfg)
        assert code == 2
        one_error(err, "editors.0.params.path (direction):", f"{path}: {tensor} holds 1 non-finite", "(inf)")
        code, _, err = cli(capsys, "run", cfg, "-o", tmp_path / "out", "-q")  # the editor's own loader
        assert code == 2 and not (tmp_path / "out").exists()
        one_error(err, f"{path}: ", "holds 1 non-finite value(s) (inf)")


@pytest.mark.parametrize("which", ["stylegan2_rosinality/checkpoint.pt", "swapae_official/latest_checkpoint.pth",
                                   "alae_official/checkpoint.pth", "e4e_psp/e4e/checkpoint.pt", "ganspace.npz",
                                   "alae_official/foreign_class", "assets/models/swapae_64.safetensors",
                                   "assets/models/stylealae_32.safetensors", "assets/models/tcp_64.safetensors"])
def test_weights_check_reads_every_format(tmp_path, which):
    """What ``validate`` uses: each plugin's formats (official torch files, bundled native models,
    numpy archives, a file only its plugin's converter reads) are read and a NaN is named; a clean
    file passes. The NVIDIA pickle: plugins/stylegan2/tests/test_nvidia_networks.py."""
    from ganedit.io.checkpoint import DamagedWeightsError, check_weights_file
    from ganedit.registry import load_registry

    registry = load_registry()
    bad = tmp_path / Path(which).name
    if which == "ganspace.npz":
        comp = np.ones((3, 1, 16), dtype=np.float32)
        np.savez(tmp_path / "clean.npz", lat_comp=comp, lat_mean=np.zeros((1, 16), np.float32),
                 lat_stdev=np.ones(3, np.float32))
        assert check_weights_file(tmp_path / "clean.npz", registry) == "numpy"
        comp[1, 0, 2] = np.nan
        np.savez(bad, lat_comp=comp, lat_mean=np.zeros((1, 16), np.float32), lat_stdev=np.ones(3, np.float32))
        key = "lat_comp"
    elif which.startswith("assets/"):
        src = Path(ganedit.__file__).parents[1] / which
        assert check_weights_file(src, registry) == "safetensors"
        key = poison_native(src, bad)
    else:
        src = fixture(*(which if "." in Path(which).name else "alae_official/checkpoint.pth").split("/"))
        assert check_weights_file(src, registry) == "torch"
        state = torch.load(src, map_location="cpu", weights_only=True)
        if which == "alae_official/foreign_class":
            # a class torch's safe loader refuses (as in real ALAE files): read by the plugin's converter
            state["tracker"] = argparse.ArgumentParser
            bad = tmp_path / "checkpoint.pth"
            torch.save(state, bad)
            assert check_weights_file(bad, registry) == "alae_official"
        key = poison_nested(state)
        for extra in src.parent.glob("opt.txt"):  # SwapAE reads its options beside the checkpoint
            (tmp_path / extra.name).write_text(extra.read_text())
        torch.save(state, bad)
    with pytest.raises(DamagedWeightsError, match=f"^{bad}: tensor '{key}' holds 1 non-finite value"):
        check_weights_file(bad, registry)
    assert check_weights_file(png(tmp_path / "image.png", 1), registry) is None  # not a weights file


@pytest.mark.parametrize("which", ["stylegan2_rosinality/checkpoint.pt", "swapae_official/latest_checkpoint.pth",
                                   "alae_official/checkpoint.pth"])
def test_nan_official_checkpoints_are_refused_by_convert(tmp_path, capsys, which):
    """Every plugin's foreign format (the NVIDIA pickle: plugins/stylegan2/tests)."""
    src = fixture(*which.split("/"))
    state = torch.load(src, map_location="cpu", weights_only=True)
    key = poison_nested(state)
    folder = tmp_path / "ckpt"
    folder.mkdir()
    for extra in src.parent.glob("opt.txt"):  # SwapAE reads its options beside the checkpoint
        (folder / extra.name).write_text(extra.read_text())
    bad = folder / src.name
    torch.save(state, bad)
    code, _, err = cli(capsys, "convert", bad, tmp_path / "out.safetensors")
    assert code == 2
    one_error(err, str(bad), f"tensor '{key}'", "non-finite")
    assert not (tmp_path / "out.safetensors").exists()


JUNK = {"struct_error": b"junk", "empty": b"", "zip_head": b"PK\x03\x04junk", "pickle_head": b"\x80\x02junk"}


@pytest.mark.parametrize("junk", sorted(JUNK))
@pytest.mark.parametrize("slot", ["stylegan2", "swapae_swap", "alae_reconstruct", "tcp_region", "direction",
                                  "ganspace"])
def test_junk_checkpoints_are_one_error_line(tmp_path, capsys, monkeypatch, slot, junk):
    """Was: junk bytes in a checkpoint parameter could end in a traceback (struct.error from the
    unpickler, EOFError / BadZipFile from numpy). Now every plugin's loader answers with one line
    naming the file, exit 2, and the run leaves no output folder."""
    root = Path(ganedit.__file__).parents[1]
    monkeypatch.chdir(root)  # the shipped configs name bundled files relative to the repository
    suffix = {"direction": ".npy", "ganspace": ".npz"}.get(slot, ".pt")
    bad = tmp_path / f"junk{suffix}"
    bad.write_bytes(JUNK[junk])
    if slot in ("direction", "ganspace"):
        editor = {"type": slot, "params": {"path": str(bad)}}
        cfg = write_config(tmp_path / "c.yaml", invert_config(str(png(tmp_path / "a.png", 1)), editors=[editor]))
        override = []
    elif slot == "stylegan2":
        cfg, override = write_config(tmp_path / "c.yaml", SAMPLE), ["--set", f"generator.params.checkpoint={bad}"]
    else:
        key = "encoder" if slot == "tcp_region" else "generator"
        cfg, override = root / "configs" / f"{slot}.yaml", ["--set", f"{key}.params.checkpoint={bad}"]
    out = tmp_path / "out"
    code, _, err = cli(capsys, "run", cfg, "-o", out, "-q", *override)
    assert code == 2
    one_error(err, str(bad))
    assert not out.exists()


@pytest.mark.parametrize("config, slot, which, needles", [
    ("swapae_swap", "encoder", "swapae_official/latest_checkpoint.pth",
     ["makes codes of (structure, texture) channels (8, 64)", "takes (4, 128)"]),
    ("swapae_swap", "generator", "swapae_official/latest_checkpoint.pth", ["makes codes", "(4, 128)", "takes (8, 64)"]),
    ("tcp_region", "encoder", "swapae_official/latest_checkpoint.pth", ["makes codes", "(8, 64)", "takes (4, 128)"]),
    ("alae_reconstruct", "generator", "alae_official/checkpoint.pth", ["makes latents (num_ws, w_dim) (8, 64)",
                                                                        "takes (12, 32)"]),
    ("alae_reconstruct", "encoder", "alae_official/checkpoint.pth", ["makes latents (num_ws, w_dim) (12, 32)",
                                                                      "takes (8, 64)"]),
    ("alae_reconstruct", "generator", "lod=2", ["inputs are loaded at 16 px, the encoder reads 32 px images; set "
                                                "resolution: 32"]),
])
def test_an_encoder_and_a_generator_of_two_models_is_one_error_line(tmp_path, capsys, monkeypatch, config, slot, which,
                                                                     needles):
    """Was: a ValueError traceback from deep in the forward pass (``codes of 4/128 channels,
    generator expects 8/64``, ``encoder works at 128x128; got smaller images``). Now the task checks
    the pair after building it, before writing anything, naming both checkpoints."""
    root = Path(ganedit.__file__).parents[1]
    monkeypatch.chdir(root)
    src = fixture(*which.split("/")) if "/" in which else None
    change = f"{slot}.params.checkpoint={src}" if src else f"{slot}.params.{which}"  # lod=2: the same model at 16 px
    out = tmp_path / "out"
    code, _, err = cli(capsys, "run", root / "configs" / f"{config}.yaml", "-o", out, "-q", "--set", "device=cpu",
                       "--set", change)
    assert code == 2
    line = one_error(err, *needles)
    assert src is None or str(src) in line
    assert not out.exists()


def test_nan_pixels_refuse_the_image_on_its_own_line(tmp_path, capsys):
    """Was: a float TIFF with NaN pixels became a black target reported "ok"."""
    arr = np.full((16, 16), 0.5, dtype=np.float32)
    arr[3, 4] = np.nan
    arr[5, 6] = np.inf
    tif = tmp_path / "in" / "nan.tif"
    tif.parent.mkdir()
    Image.fromarray(arr).save(tif)
    with pytest.raises(ImageReadError, match=f"{tif}: 2 of 256 pixels are NaN or inf"):
        load_image(tif)
    png(tmp_path / "in" / "ok.png", 1)
    code, _, err = cli(capsys, "run", write_config(tmp_path / "c.yaml", invert_config(str(tmp_path / "in"))),
                       "-o", tmp_path / "out", "-q")
    assert code == 3
    assert any(ln.startswith("[invert] nan: failed:") and "NaN or inf" in ln for ln in err.splitlines())
    assert results(tmp_path / "out")[1]["ok"]["status"] == "ok"


@pytest.mark.parametrize("orientation, size", [(1, (4, 2)), (3, (4, 2)), (6, (2, 4)), (8, (2, 4))])
def test_exif_orientation_is_applied(tmp_path, orientation, size):
    img = Image.new("RGB", (4, 2), (255, 0, 0))
    img.putpixel((3, 0), (0, 0, 255))  # a blue top-right corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(tmp_path / "o.png", exif=exif)
    t = load_image(tmp_path / "o.png")
    assert tuple(t.shape[1:][::-1]) == size
    blue = {1: (3, 0), 3: (0, 1), 6: (1, 3), 8: (0, 0)}[orientation]  # where viewers show the corner
    assert t[2, blue[1], blue[0]] == 1.0 and t[0, blue[1], blue[0]] == -1.0


# ============================================================================= convert and plugins


@pytest.fixture
def rosinality_file(tmp_path) -> Path:
    g = ganedit.build("generator", TINY_G)
    path = tmp_path / "ros.pt"
    torch.save({"g_ema": g.net.state_dict()}, path)
    return path


def test_convert_never_overwrites_its_source_or_an_existing_file(tmp_path, capsys, rosinality_file):
    src = rosinality_file
    original = src.read_bytes()
    for dst in (src, tmp_path / "." / "ros.pt"):
        code, _, err = cli(capsys, "convert", src, dst)
        assert code == 2
        one_error(err, "the destination is the source file")
        assert src.read_bytes() == original
    os.link(src, tmp_path / "hard.pt")  # another name of the same file
    code, _, err = cli(capsys, "convert", src, tmp_path / "hard.pt", "--force")
    assert code == 2 and src.read_bytes() == original
    dst = tmp_path / "out.safetensors"
    dst.write_text("keep me")
    code, _, err = cli(capsys, "convert", src, dst)
    assert code == 2
    one_error(err, str(dst), "exists; pass --force")
    assert dst.read_text() == "keep me"
    assert cli(capsys, "convert", src, dst, "--force")[0] == 0
    assert load_native(dst)[1]["type"] == "stylegan2"
    code, _, err = cli(capsys, "convert", src, tmp_path / "out.safetensors" / "x.safetensors")
    assert code == 2
    one_error(err, f"{dst} is a file, not a folder")


class _BrokenPlugin:
    __name__ = "broken"
    DIST = "ganedit-broken"

    @ganedit.hookimpl
    def register_components(self, register):
        raise ImportError("missing dependency foo")


class _NoHooks:
    """A plugin object with no hook implementation (an entry point aimed at the wrong module)."""

    __name__ = "nohooks"
    DIST = "ganedit-nohooks"


@pytest.fixture
def odd_plugins():
    reg = make_registry(ToyPlugin(), _BrokenPlugin(), _NoHooks(), strict=False)
    set_registry(reg)
    yield reg
    set_registry(None)


def test_unknown_type_mentions_broken_plugins(tmp_path, capsys, odd_plugins):
    cfg = write_config(tmp_path / "s.yaml", {**SAMPLE, "generator": {"type": "fancygan"}})
    for cmd in (["validate", cfg], ["run", cfg, "-o", tmp_path / "out", "-q"]):
        code, _, err = cli(capsys, *cmd)
        assert code == 2
        one_error(err, "generator.type: unknown generator type 'fancygan'",
                  "plugin 'broken' (ganedit-broken) failed to load: register failed: ImportError: missing "
                  "dependency foo; it may provide this component")


def test_broken_and_hookless_plugins_installed_as_a_user_would(tmp_path):
    """The same through real entry points (distributions on PYTHONPATH), the installed CLI in a
    subprocess: a plugin whose import fails and one whose module implements no hook."""
    site = tmp_path / "site"
    for dist, module, code in (("broken", "ganedit_broken_mod", "import not_installed_dependency_xyz\n"),
                               ("nohooks", "ganedit_nohooks_mod", "X = 1\n")):
        info = site / f"ganedit_{dist}-0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: ganedit-{dist}\nVersion: 0\n")
        (info / "entry_points.txt").write_text(f"[ganedit]\n{dist} = {module}\n")
        (site / f"{module}.py").write_text(code)
    env = {"PYTHONPATH": str(site)}
    cfg = write_config(tmp_path / "f.yaml", {**SAMPLE, "generator": {"type": "fancygan"}})
    res = cli_process("validate", cfg, env_extra=env)
    assert res.returncode == 2
    one_error(res.stderr, "generator.type: unknown generator type 'fancygan'",
              "plugin 'broken' (ganedit-broken) failed to load: import failed: ModuleNotFoundError: No module named "
              "'not_installed_dependency_xyz'; it may provide this component")
    res = cli_process("plugins", env_extra=env)
    assert res.returncode == 0, res.stderr
    assert "ganedit-broken 0  [broken]" in res.stdout and "ganedit-nohooks 0  [warning]" in res.stdout
    assert "implements no ganedit hook" in res.stdout


def test_plugin_without_hooks_is_listed_with_a_warning(capsys, odd_plugins):
    statuses = {p.name: p.status for p in odd_plugins.plugins}
    assert statuses == {"core": "ok", "toy": "ok", "broken": "broken", "nohooks": "warning"}
    code, out, _ = cli(capsys, "plugins")
    assert code == 0
    assert "ganedit-nohooks 0  [warning]" in out and "implements no ganedit hook" in out
    code, out, _ = cli(capsys, "plugins", "--json")
    row = next(r for r in json.loads(out) if r["name"] == "nohooks")
    assert row["status"] == "warning" and "registers nothing" in row["warning"]
