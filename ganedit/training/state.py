"""Training state: seeding and the RNG states of a process (exact resume needs them), and the
checkpoint of a trainer (``checkpoints/last.pt``: modules, EMA copies, optimizers, step, data
position, RNG states of every process, extra state); tensors and plain containers only, so it
loads with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import contextlib
import json
import random
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ganedit.distributed import all_gather_object
from ganedit.io.checkpoint import CheckpointError, load_state, safe_torch_load

CHECKPOINT_FORMAT = "ganedit.training"
CHECKPOINT_VERSION = 1


def seed_everything(seed: int) -> None:
    """Seed torch (all devices), numpy's global RNG and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    random.seed(seed)


def capture_rng_state() -> dict[str, Any]:
    """The RNG states of this process as tensors / plain values (``weights_only``-loadable)."""
    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
        "python": {"version": int(py_version), "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss": py_gauss},
        "cuda": [],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"].to(torch.uint8).cpu())
    npst = state["numpy"]
    np.random.set_state(("MT19937", npst["keys"].numpy().astype(np.uint32), int(npst["pos"]),
                         int(npst["has_gauss"]), float(npst["gauss"])))
    py = state["python"]
    random.setstate((int(py["version"]), tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.to(torch.uint8) for s in cuda])


@contextlib.contextmanager
def preserved_rng(device: torch.device) -> Iterator[None]:
    """Run a block without advancing any RNG (torch CPU/CUDA, numpy, Python)."""
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


def trainer_state(trainer: Any) -> dict[str, Any]:
    """Everything exact resume of ``trainer`` needs. Collective under DDP (gathers every process's RNG)."""
    rng = all_gather_object(capture_rng_state(), trainer.dist)
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "trainer": type(trainer).__name__,
        "step": trainer.step,
        "world_size": trainer.dist.world_size,
        "modules": {n: m.state_dict() for n, m in trainer.modules.items()},
        "ema": {n: m.state_dict() for n, m in trainer.ema_modules.items()},
        "optimizers": {n: o.state_dict() for n, o in trainer.optimizers.items()},
        "data": trainer.data.state_dict() if trainer.data is not None else {},
        "rng": rng,
        "extra": trainer.extra_state(),
        "losses": dict(trainer.last_losses),
        "params": json.loads(json.dumps(trainer.params.model_dump(mode="json"))),
        # the precision the run trained in: a resumed `precision: auto` run keeps it on any machine
        "precision": trainer.accel.precision if getattr(trainer, "accel", None) is not None else None,
    }


def is_trainer_checkpoint(path: str | Path, trainer: str) -> bool:
    """Cheap test for a checkpoint of the trainer class named ``trainer`` (``checkpoints/*.pt``): a
    torch zip file whose pickle names this format and the trainer; nothing is unpickled. For the
    ``sniff`` of a ``ganedit convert`` format that exports a run's snapshot."""
    import zipfile

    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as zf:
            pkl = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
            blob = zf.read(pkl) if pkl else b""
    except (OSError, zipfile.BadZipFile):
        return False
    return CHECKPOINT_FORMAT.encode() in blob and trainer.encode() in blob


def load_trainer_checkpoint(path: str | Path, trainer: str) -> dict[str, Any]:
    """A checkpoint of the trainer class named ``trainer``, loaded without executing pickled code;
    :class:`CheckpointError` naming what it is otherwise."""
    state = safe_torch_load(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a ganedit training checkpoint")
    if state.get("trainer") != trainer:
        raise CheckpointError(f"{path}: a checkpoint of trainer {state.get('trainer')!r}, not {trainer!r}")
    return state


def load_trainer_state(trainer: Any, state: dict[str, Any], source: str = "checkpoint") -> None:
    """Restore :func:`trainer_state` output into ``trainer``; mismatches raise :class:`CheckpointError`."""
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{source}: not a ganedit training checkpoint (expected a dict with "
                              f"format={CHECKPOINT_FORMAT!r})")
    for group, mine in (("modules", trainer.modules), ("ema", trainer.ema_modules)):
        theirs = state.get(group, {})
        if set(theirs) != set(mine):
            raise CheckpointError(f"{source}: {group} {sorted(theirs)} do not match this trainer's "
                                  f"{sorted(mine)}")
        for name, module in mine.items():
            load_state(module, theirs[name], source, f"{group[:-1] if group == 'modules' else group} {name!r}",
                       arch="this run's architecture", shape_message="{source}: {what} does not match {arch}: "
                                                                     "{details}")
    theirs = state.get("optimizers", {})
    if set(theirs) != set(trainer.optimizers):
        raise CheckpointError(f"{source}: optimizers {sorted(theirs)} do not match this trainer's "
                              f"{sorted(trainer.optimizers)}")
    for name, opt in trainer.optimizers.items():
        # The moments come from the checkpoint; the hyperparameters (lr, betas, ...) stay the ones
        # this run's settings built, so a run resumed with a changed `lr` uses the new rate
        # (load_state_dict would silently bring back the old one). Unchanged settings: identical.
        built = [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]
        try:
            opt.load_state_dict(theirs[name])
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"{source}: optimizer {name!r} state does not fit: {exc}") from None
        for group, settings in zip(opt.param_groups, built):
            group.update(settings)
    if trainer.data is not None and state.get("data"):
        trainer.data.load_state_dict(state["data"])
    trainer.load_extra_state(state.get("extra", {}))
    trainer.step = int(state["step"])
    trainer.last_losses = {k: float(v) for k, v in state.get("losses", {}).items()}
    rng = state.get("rng") or []
    if len(rng) == trainer.dist.world_size:
        restore_rng_state(rng[trainer.dist.rank])
    else:
        # Another process count: the data shards differ anyway, so exactness is impossible;
        # continue with fresh, still deterministic, per-process streams.
        trainer._say(f"note: {source} was written by {len(rng)} process(es), this run has "
                     f"{trainer.dist.world_size}: RNG streams are reseeded (resume is not bit-exact)")
        seed_everything(trainer.context.seed + 1_000_003 * trainer.step + trainer.dist.rank)


def resume_path(resume: bool | str, last: Path) -> Path | None:
    """The checkpoint a run resumes from: ``last`` when ``resume`` is true and it exists, none when
    false, else the given file or folder (its ``checkpoints/last.pt``)."""
    if resume is False:
        return None
    if resume is True:
        return last if last.is_file() else None
    p = Path(str(resume)).expanduser()
    if p.is_dir():
        for cand in (p / "checkpoints" / "last.pt", p / "last.pt"):
            if cand.is_file():
                return cand
        raise CheckpointError(f"{p}: resume folder has no checkpoints/last.pt")
    if not p.is_file():
        raise CheckpointError(f"{p}: resume checkpoint not found")
    return p

