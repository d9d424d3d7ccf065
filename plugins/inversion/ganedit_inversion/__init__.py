"""ganedit first-party plugin: inversion."""
