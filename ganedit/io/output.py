"""Output locations: checked before anything is written, one run at a time per output folder.

* :func:`prepare_folder` turns "the output is a file", "its parent is a file" and "not writable"
  into one :class:`OutputError` line naming the path, before a run writes anything.
* :func:`check_destination` does the same for a single output file (``ganedit convert``): never
  the source itself, never an existing file unless ``force``.
* :class:`FolderLock` holds ``<folder>/.ganedit.lock`` (an ``flock`` on a file holding the pid) for
  the whole run. A second run on the same folder fails naming the holder; a lock left by a process
  that died is taken over (the operating system releases the ``flock`` of a dead process, the file
  only says who it was).
* :func:`output_names` gives input files distinct, safe names for their outputs
  (:func:`former_names`: the names a file may have had in other runs); :func:`file_states` and
  :func:`remove_unchanged` let a task drop an item's files that a redo did not write again.
* :func:`is_disk_full` tells a full disk (exit 1) from other I/O errors.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from ganedit.errors import GanEditError

try:  # POSIX; elsewhere the lock degrades to the pid check alone
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".ganedit.lock"


class OutputError(GanEditError):
    """An output path that cannot be used: a file where a folder must be, not writable, in use."""


def safe_name(text: str, default: str = "item") -> str:
    """``text`` as one safe path component: characters other than letters, digits, ``_-.+=`` become
    ``_``, leading dots become ``_`` (no ``..``, no hidden files), at most 100 characters."""
    name = re.sub(r"[^\w.+=-]+", "_", text, flags=re.UNICODE)
    name = re.sub(r"^\.+", lambda m: "_" * len(m.group()), name)[:100]
    return name or default


def _path_hash(path: Path) -> str:
    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]


def former_names(path: str | os.PathLike) -> list[str]:
    """The names :func:`output_names` gives ``path`` in some run: its safe stem alone (no other input
    shares it) and the stem with its path hash (another one does)."""
    base = safe_name(Path(path).stem, "image")
    return [base, f"{base}_{_path_hash(Path(path))}"]


def file_states(*folders: str | os.PathLike) -> dict[Path, tuple[int, int, int]]:
    """``{file: (inode, mtime_ns, size)}`` of every file under ``folders`` (absent ones: nothing)."""
    states = {}
    for folder in map(Path, folders):
        for p in sorted(folder.rglob("*")) if folder.is_dir() else []:
            with contextlib.suppress(OSError):
                if p.is_file():
                    st = p.stat()
                    states[p] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return states


def remove_unchanged(states: dict[Path, tuple[int, int, int]]) -> list[Path]:
    """Delete the files of ``states`` (from :func:`file_states`) that were not rewritten since (the
    atomic writers replace a file by a new one); returns them."""
    removed = []
    for p, state in states.items():
        with contextlib.suppress(OSError):
            st = p.stat()
            if (st.st_ino, st.st_mtime_ns, st.st_size) == state:
                p.unlink()
                removed.append(p)
    return removed


def output_names(paths: Sequence[str | os.PathLike]) -> list[str]:
    """One output name per input file: its :func:`safe_name`-d stem, and where two inputs would
    share a name (``a.png`` and ``a.jpg``, ``x/a.png`` and ``y/a.png``, names differing only in case),
    the stem plus 8 hex digits of the hash of the file's resolved path. A file keeps its name across
    runs as long as the same names collide."""
    paths = [Path(p) for p in paths]
    bases = [safe_name(p.stem, "image") for p in paths]
    folded = [b.casefold() for b in bases]
    names = []
    for p, base, key in zip(paths, bases, folded):
        if folded.count(key) > 1:
            base = f"{base}_{_path_hash(p)}"
        names.append(base)
    # The hashed names could still meet a plain stem (or the same file listed twice): number them.
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        key = name.casefold()
        if key in seen:
            seen[key] += 1
            names[i] = f"{name}_{seen[key]}"
        else:
            seen[key] = 0
    return names


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _blocking_ancestor(path: Path) -> Path | None:
    """The first existing ancestor of ``path`` that is not a folder (so nothing can be created below it)."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def prepare_folder(folder: str | os.PathLike, what: str = "output") -> tuple[Path, bool]:
    """Create ``folder`` (and its parents) if needed; returns ``(path, created)``.

    Raises :class:`OutputError` naming the path when it is a file, lies below a file, or cannot be
    created or written.
    """
    p = Path(folder)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{what} {p} is a file, not a folder; choose another {what} folder")
    blocker = _blocking_ancestor(p)
    if blocker is not None:
        raise OutputError(f"{what} {p} cannot be created: {blocker} is a file, not a folder")
    created = not p.exists()
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{what} {p} cannot be created: {exc.strerror or exc}") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {p} is not writable ({_not_writable_why(p)})")
    return p, created


def _not_writable_why(path: Path) -> str:
    with contextlib.suppress(OSError, AttributeError):
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "read-only file system"
    return "permission denied"


def check_destination(dst: str | os.PathLike, src: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Check that the file ``dst`` may be written: not ``src`` itself (same resolved file), not an
    existing file unless ``force``, not a folder, not below a file, in a writable folder."""
    d = Path(dst)
    if src is not None:
        same = d.resolve() == Path(src).resolve()
        with contextlib.suppress(OSError):
            same = same or (d.exists() and os.path.samefile(d, src))
        if same:
            raise OutputError(f"{d}: the destination is the source file; choose another destination")
    if d.is_dir():
        raise OutputError(f"{d} is a folder; give a file name")
    if d.exists() and not force:
        raise OutputError(f"{d} exists; pass --force to replace it")
    blocker = _blocking_ancestor(d)
    if blocker is not None:
        raise OutputError(f"{d} cannot be written: {blocker} is a file, not a folder")
    parent = next((q for q in d.parents if q.exists()), Path("."))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{d} cannot be written: {parent} is not writable ({_not_writable_why(parent)})")
    return d


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def read_lock(folder: str | os.PathLike) -> dict[str, Any] | None:
    """What the lock file of ``folder`` says (pid, host, started, command), if it can be read."""
    try:
        info = json.loads((Path(folder) / LOCK_NAME).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _describe(info: dict[str, Any] | None) -> str:
    if not info:
        return "another run"
    started = info.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if isinstance(started, (int, float)) else "?"
    cmd = info.get("command")
    return f"run pid {info.get('pid')} on {info.get('host')} (started {when}" + (f": {cmd}" if cmd else "") + ")"


class FolderLock:
    """``with FolderLock(folder):`` one run at a time in ``folder`` (see the module docstring).

    ``took_over`` is what the lock file of a dead run said, when its lock was taken over.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.took_over: dict[str, Any] | None = None
        self._fd: int | None = None

    def acquire(self) -> "FolderLock":
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise OutputError(f"output {self.folder} is not writable ({exc.strerror or exc})") from None
            previous = read_lock(self.folder)
            if not self._lock(fd, previous):
                os.close(fd)
                raise OutputError(f"output {self.folder} is in use by {_describe(previous)}; wait for it to "
                                  f"finish or choose another --output (lock file {self.path})")
            # The previous holder may have removed the file between our open and our lock: then we
            # hold a lock on a deleted file; start again on the current one.
            try:
                current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)
        self._fd = fd
        if previous and previous.get("pid") not in (None, os.getpid()):
            self.took_over = previous
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                "command": " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        return self

    @staticmethod
    def _lock(fd: int, previous: dict[str, Any] | None) -> bool:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False
        # Without flock: the pid in the file decides (a dead or foreign-host pid is stale).
        pid = (previous or {}).get("pid")
        return not (isinstance(pid, int) and previous.get("host") == socket.gethostname() and _pid_alive(pid))

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # before unlocking: a waiting run then re-opens a fresh file
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


@contextlib.contextmanager
def locked_folder(folder: str | os.PathLike, lock: bool = True) -> Iterator[FolderLock | None]:
    """Prepare ``folder`` and hold its lock (``lock=False``: only prepare, e.g. non-zero ranks);
    a folder this call created is removed again if nothing was written into it."""
    path, created = prepare_folder(folder)
    try:
        if not lock:
            yield None
        else:
            with FolderLock(path) as held:
                if held.took_over:
                    print(f"note: took over the stale lock of {_describe(held.took_over)} on {path}",
                          file=sys.stderr)
                yield held
    finally:
        if created:
            with contextlib.suppress(OSError):
                path.rmdir()  # only succeeds when empty: a run that never started leaves nothing


__all__ = ["LOCK_NAME", "FolderLock", "OutputError", "check_destination", "file_states", "former_names",
           "is_disk_full", "locked_folder", "output_names", "prepare_folder", "read_lock", "remove_unchanged",
           "safe_name"]
