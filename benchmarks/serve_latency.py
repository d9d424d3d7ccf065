"""How fast ``ganedit serve`` re-renders an edit when a control moves (the page's promise: well under
a second on a CPU at 64 px).

Not a test. For each bundled config (``configs/near_inversion.yaml`` cut to a few inversion steps,
``configs/swapae_swap.yaml``, ``configs/tcp_region.yaml``) a session inverts one sample, then every
editor panel is rendered ``--repeats`` times with changing control values through
:meth:`ganedit.serve.Session.edit` (build the config's editor with the values, ``edit()``, write the
PNG and ``edits.yaml``), exactly what one slider move costs the server, with the reference image
(style source, texture, style) fixed. Picking a reference the session has not used yet costs more
once (style mixing inverts it with the config's reference inverter; SwapAE/TCP encode it): the last
column times that first use. Reported: median and maximum seconds per render, one torch thread. Run
from the repository root::

    python benchmarks/serve_latency.py [--repeats 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time

import torch

from ganedit.serve import Session, Workbench
from ganedit.serve.editing import Choice, Reference, Slider

CONFIGS = [
    ("configs/near_inversion.yaml", ["inverter.params.initial.params.steps=20", "inverter.params.steps=20"]),
    ("configs/swapae_swap.yaml", []),
    ("configs/tcp_region.yaml", []),
]


def values(panel, i: int, reference: int = 0) -> dict:
    """Control values of the ``i``-th render: the slider swept, choices cycled, the reference fixed."""
    out = {}
    for c in panel.controls:
        if isinstance(c, Slider):
            out[c.name] = c.minimum + (c.maximum - c.minimum) * ((i % 5) / 4)
        elif isinstance(c, Choice) and c.choices:
            out[c.name] = c.choices[i % len(c.choices)][1]
        elif isinstance(c, Reference) and c.choices:
            out[c.name] = c.choices[reference % len(c.choices)][1]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for path, overrides in CONFIGS:
            bench = Workbench(path, overrides=overrides, root=root)
            s = Session(bench)
            s.pick(bench.samples[0].name)
            s.invert()
            for panel in bench.panels:
                s.edit(panel, values(panel, 0))  # warm-up (style mixing inverts its source here, once)
                times = []
                for i in range(1, args.repeats + 1):
                    t0 = time.perf_counter()
                    s.edit(panel, values(panel, i))
                    times.append(time.perf_counter() - t0)
                first = None
                refs = [c for c in panel.controls if isinstance(c, Reference) and len(c.choices) > 1]
                if refs:
                    t0 = time.perf_counter()
                    s.edit(panel, values(panel, 0, reference=1))
                    first = time.perf_counter() - t0
                rows.append({"config": path, "panel": panel.key, "median_s": statistics.median(times),
                             "max_s": max(times), "renders": len(times), "new_reference_s": first})
    print(f"CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread\n")
    print("| config | editor panel | median s / render | max s | first use of a new reference, s |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        new = "-" if r["new_reference_s"] is None else f"{r['new_reference_s']:.2f}"
        print(f"| {r['config']} | {r['panel']} | {r['median_s']:.3f} | {r['max_s']:.3f} | {new} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
