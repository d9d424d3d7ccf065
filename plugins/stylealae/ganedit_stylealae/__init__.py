"""ganedit first-party plugin: stylealae."""
