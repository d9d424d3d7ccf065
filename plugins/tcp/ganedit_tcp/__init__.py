"""ganedit first-party plugin: tcp."""
