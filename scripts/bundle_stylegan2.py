"""Copy a trained StyleGAN2 native checkpoint into assets/, keeping only what the demos use.

The EMA generator (``g_ema.``) is what every config loads and the discriminator (``d.``) is needed
by near_perfect inversion; the non-EMA training generator (``g.``) is dropped to keep the file small.

    python scripts/bundle_stylegan2.py runs/sg2_small/stylegan2.safetensors assets/models/stylegan2_64.safetensors
"""

import sys

from ganedit.io.checkpoint import load_native, save_native

if __name__ == "__main__":
    src, dst = sys.argv[1], sys.argv[2]
    tensors, config = load_native(src, expect={"type": "stylegan2"})
    kept = {k: v for k, v in tensors.items() if not k.startswith("g.")}
    config.pop("format_version", None)
    config.get("architecture", {}).pop("g", None)
    save_native(dst, kept, config)
    print(f"{dst}: {len(kept)} tensors ({sum(v.numel() for v in kept.values()):,} values)")
