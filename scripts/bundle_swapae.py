"""Copy a trained SwapAE or TCP native checkpoint into assets/, optionally without some parts.

The demos (``swapae_swap``, ``tcp_stylize``) need only the encoder and generator; the bundled
SwapAE keeps both discriminators because ``configs/tcp_train.yaml`` fine-tunes from it. The source
may also be a ``swapae_train`` training checkpoint (``OUTPUT/checkpoints/last.pt`` or a
``step-NNNNNNN.pt`` snapshot): its networks are exported as the trainer's final export would
(the architecture from ``OUTPUT/config.yaml``).

    python scripts/bundle_swapae.py runs/swapae_64/swapae.safetensors assets/models/swapae_64.safetensors
    python scripts/bundle_swapae.py runs/swapae_64/checkpoints/step-0010000.pt runs/swapae_64_10k.safetensors
    python scripts/bundle_swapae.py runs/tcp_64/tcp.safetensors assets/models/tcp_64.safetensors \\
        --drop discriminator patch_discriminator
"""

import argparse
import tempfile
from pathlib import Path

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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--drop", nargs="*", default=[], choices=["discriminator", "patch_discriminator"],
                        help="parts to leave out")
    args = parser.parse_args()
    src = Path(args.src)
    tmp = None
    if src.suffix == ".pt":
        tmp = tempfile.TemporaryDirectory()
        src = Path(tmp.name) / "export.safetensors"
        export_training_checkpoint(Path(args.src), src)
    tensors, config = load_native(src)
    if config.get("kind") != "autoencoder" or "parts" not in config:
        raise SystemExit(f"{args.src}: not a SwapAE/TCP native checkpoint (kind {config.get('kind')!r})")
    kept = {k: v for k, v in tensors.items() if k.split(".", 1)[0] not in args.drop}
    for part in args.drop:
        config["parts"].pop(part, None)
    config.pop("format_version", None)
    save_native(args.dst, kept, config)
    print(f"{args.dst}: parts {', '.join(config['parts'])}; {sum(v.numel() for v in kept.values()):,} values")
