"""ganedit first-party plugin: swapae."""

#: How the procedural training images of the bundled SwapAE and TCP models are drawn
#: (``ganedit.data.render`` keywords; the ``procedural`` dataset's options of the same names):
#: flat and gradient textures (a CPU-sized problem), shapes labelled by kind, so that every
#: swap has a well-defined ground truth, and per-region palettes (the default). Inputs for those
#: models should be drawn the same way.
BUNDLED_DRAWING: dict = {"patterns": ("flat", "gradient"), "shape_labels": "kind", "palette": "per_region"}
