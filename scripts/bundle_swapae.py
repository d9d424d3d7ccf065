"""Copy a trained SwapAE or TCP native checkpoint into assets/, optionally without some parts.

The demos (``swapae_swap``, ``tcp_stylize``) need only the encoder and generator; the bundled
SwapAE keeps both discriminators because ``configs/tcp_train.yaml`` fine-tunes from it.

    python scripts/bundle_swapae.py runs/swapae_easy_ft/swapae.safetensors assets/models/swapae_64.safetensors
    python scripts/bundle_swapae.py runs/tcp_64/tcp.safetensors assets/models/tcp_64.safetensors \\
        --drop discriminator patch_discriminator
"""

import argparse

from ganedit.io.checkpoint import load_native, save_native

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--drop", nargs="*", default=[], choices=["discriminator", "patch_discriminator"],
                        help="parts to leave out")
    args = parser.parse_args()
    tensors, config = load_native(args.src)
    if config.get("kind") != "autoencoder" or "parts" not in config:
        raise SystemExit(f"{args.src}: not a SwapAE/TCP native checkpoint (kind {config.get('kind')!r})")
    kept = {k: v for k, v in tensors.items() if k.split(".", 1)[0] not in args.drop}
    for part in args.drop:
        config["parts"].pop(part, None)
    config.pop("format_version", None)
    save_native(args.dst, kept, config)
    print(f"{args.dst}: parts {', '.join(config['parts'])}; {sum(v.numel() for v in kept.values()):,} values")
