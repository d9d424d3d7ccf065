"""ganedit first-party plugin: swapae."""

#: How the procedural training images of the bundled SwapAE and TCP models are drawn
#: (``ganedit.data.render`` keywords; the ``procedural`` dataset's options of the same names):
#: the ``global`` family (one texture over the whole image: related colours and one flat, gradient
#: or waves pattern field), shapes labelled by kind, so that every crop tells the image's texture
#: and every swap has a well-posed ground truth (docs/concepts.md). Inputs for those models should
#: be drawn the same way.
BUNDLED_DRAWING: dict = {"patterns": ("flat", "gradient", "waves"), "shape_labels": "kind", "palette": "global"}
