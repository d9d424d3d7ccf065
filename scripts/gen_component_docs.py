"""Regenerate docs/components.md from the installed first-party plugins."""

from pathlib import Path

from ganedit.cli import components_markdown
from ganedit.registry import Registry

FIRST_PARTY = ["ganedit", "ganedit-stylegan2", "ganedit-swapae", "ganedit-tcp", "ganedit-stylealae",
               "ganedit-inversion", "ganedit-encoders"]

if __name__ == "__main__":
    reg = Registry(strict=True).load_entry_points()
    out = Path(__file__).resolve().parents[1] / "docs" / "components.md"
    out.write_text(components_markdown(reg, dists=FIRST_PARTY))
    print(f"wrote {out}")
