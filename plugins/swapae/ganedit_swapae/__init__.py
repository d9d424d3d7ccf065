"""ganedit first-party plugin: swapae."""
