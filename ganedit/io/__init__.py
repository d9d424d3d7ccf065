"""File I/O shared by every plugin: atomic writes, images, native checkpoints."""

from ganedit.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text, atomic_write_json

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "atomic_write_json"]
