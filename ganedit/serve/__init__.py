"""``ganedit serve``: an interactive editor in the browser (upload, invert with progress, edit with
sliders, download) on the components of an ``invert`` / ``swapae_swap`` / ``tcp_stylize`` config.

:mod:`ganedit.serve.session` holds the logic (no web library needed, tested without a browser);
:mod:`ganedit.serve.app` builds the page with gradio (the optional extra ``ganedit[serve]``).
"""

from ganedit.serve.session import DEFAULT_CONFIGS, Session, SessionError, Workbench
from ganedit.serve.uploads import UploadError, UploadLimits, check_upload

__all__ = ["DEFAULT_CONFIGS", "Session", "SessionError", "UploadError", "UploadLimits", "Workbench", "check_upload"]
