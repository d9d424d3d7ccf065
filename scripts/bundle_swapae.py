"""Copy a trained SwapAE or TCP native checkpoint into assets/, optionally without some parts.

The demos (``swapae_swap``, ``tcp_stylize``) need only the encoder and generator; the bundled
SwapAE keeps both discriminators because ``configs/tcp_train.yaml`` fine-tunes from it. The source
may also be a ``swapae_train`` training checkpoint (``OUTPUT/checkpoints/last.pt`` or a
``step-NNNNNNN.pt`` snapshot): its networks are exported as the trainer's final export would
(the architecture from ``OUTPUT/config.yaml``). Several sources of one run are averaged weight by
weight (a Polyak average of snapshots, ours: the bundled SwapAE is the mean of its last three
snapshots, docs/models.md).

    python scripts/bundle_swapae.py runs/swapae_64/swapae.safetensors assets/models/swapae_64.safetensors
    python scripts/bundle_swapae.py runs/swapae_64/checkpoints/step-0010000.pt runs/swapae_64_10k.safetensors
    python scripts/bundle_swapae.py runs/swapae_64/checkpoints/step-00{10,11,12}000.pt assets/models/swapae_64.safetensors
    python scripts/bundle_swapae.py runs/tcp_64/tcp.safetensors assets/models/tcp_64.safetensors \\
        --drop discriminator patch_discriminator
"""

import argparse
import tempfile
from pathlib import Path

import torch

from ganedit.io.checkpoint import load_native, safe_torch_load, save_native


def export_training_checkpoint(ckpt: Path, dst: Path) -> None:
    """The networks of a ``swapae_train`` checkpoint as a native SwapAE file (no EMA runs)."""
    from ganedit.config import load_config
    from ganedit_swapae.checkpoint import PARTS, new_model, save_swapae
    from ganedit_swapae.train import resolve_model_options

    run = ckpt.parent.parent
    params = load_config(run / "config.yaml").params
    if params.ema_decay > 0:
        raise SystemExit(f"{ckpt}: a run with EMA; export its EMA networks with the trainer instead")
    state = safe_torch_load(ckpt)
    model = new_model(resolve_model_options(params.model, params.dataset.params.resolution))
    for part in PARTS:
        getattr(model, part).load_state_dict(state["modules"][part])
    model.meta = {"format": "ganedit.swapae_train", "steps": state["step"]}
    save_swapae(dst, model, extra={"trainer": "SwapAETrainer", "steps": state["step"]})


def load_source(src: Path, tmp: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """The tensors and config of a native file or of a training checkpoint (exported into ``tmp``)."""
    if src.suffix == ".pt":
        native = tmp / f"{src.stem}.safetensors"
        export_training_checkpoint(src, native)
        src = native
    tensors, config = load_native(src)
    if config.get("kind") != "autoencoder" or "parts" not in config:
        raise SystemExit(f"{src}: not a SwapAE/TCP native checkpoint (kind {config.get('kind')!r})")
    return tensors, config


def average(sources: list[tuple[dict[str, torch.Tensor], dict]]) -> dict[str, torch.Tensor]:
    """The weight-by-weight mean of several files of one architecture (float64 sums)."""
    first = sources[0][0]
    for tensors, _ in sources[1:]:
        if tensors.keys() != first.keys() or any(tensors[k].shape != first[k].shape for k in first):
            raise SystemExit("cannot average files of different architectures")
    return {k: (sum(t[k].double() for t, _ in sources) / len(sources)).to(v.dtype) if v.is_floating_point() else v
            for k, v in first.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", nargs="+", help="one file, or several of one run to average")
    parser.add_argument("dst")
    parser.add_argument("--drop", nargs="*", default=[], choices=["discriminator", "patch_discriminator"],
                        help="parts to leave out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sources = [load_source(Path(s), Path(tmp)) for s in args.src]
        tensors, config = average(sources) if len(sources) > 1 else sources[0][0], sources[-1][1]
        kept = {k: v for k, v in tensors.items() if k.split(".", 1)[0] not in args.drop}
        for part in args.drop:
            config["parts"].pop(part, None)
        config.pop("format_version", None)
        if len(sources) > 1:
            config.setdefault("extra", {})["averaged_from"] = [Path(s).name for s in args.src]
        save_native(args.dst, kept, config)
    print(f"{args.dst}: parts {', '.join(config['parts'])}; {sum(v.numel() for v in kept.values()):,} values"
          + (f"; mean of {len(sources)} files" if len(sources) > 1 else ""))
