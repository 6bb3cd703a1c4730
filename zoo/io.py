"""Atomic file writes: a temp file in the same folder, fsync, then rename.

A reader never sees a half-written file, and a failed write leaves the
previous file as it was.
"""

import hashlib
import os
import shutil
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

# A hidden temp file or folder older than this was left by a killed process: no
# pull (bounded by its deadline), gallery save or export runs that long.
STALE_SECONDS = 6 * 3600
TEMP_FILES = ".*.????????.tmp"  # the names `atomic_write_bytes` gives its temp files


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived (`raise_on_signals`); unwinds like Ctrl-C."""

    def __init__(self, signum):
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


@contextmanager
def raise_on_signals(signums=("SIGTERM", "SIGHUP")):
    """Turn SIGTERM and SIGHUP into `Terminated` while the block runs, so its
    `finally` / `except BaseException` clean-ups (temp files, staging folders)
    run before the process exits. Only in the main thread, and only for signals
    whose handler is still the default; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    installed = {}

    def handler(signum, frame):
        raise Terminated(signum)

    for name in signums:
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) is signal.SIG_DFL:
            installed[number] = signal.signal(number, handler)
    try:
        yield
    finally:
        for number, previous in installed.items():
            signal.signal(number, previous)


def sweep_stale(folder, pattern, older_than=None) -> list:
    """Remove the entries of `folder` matching the glob `pattern` (files or
    folders) last modified more than `older_than` seconds ago (default
    `STALE_SECONDS`): temp files of killed processes. Returns what was removed."""
    older_than = STALE_SECONDS if older_than is None else older_than
    cutoff = time.time() - older_than
    removed = []
    try:
        candidates = list(Path(folder).glob(pattern))
    except OSError:
        return removed
    for path in candidates:
        try:
            if path.lstat().st_mtime >= cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


def file_mode() -> int:
    """The mode a new file gets under the current umask (0o666 & ~umask), as
    pip and Keras leave files; `mkstemp` alone makes them owner-only."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write `data` to `path` atomically.

    Args:
        path: destination file; its folder is created if missing.
        data: the bytes to write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path.parent, TEMP_FILES)  # left by killed writers
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode())  # mkstemp makes it owner-only
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path, chunk=1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def replace_dir(staging, out) -> Path:
    """Move the finished folder `staging` to `out`, replacing any old `out`.

    Two renames; between them the old folder is kept under a hidden name, so
    a crash never leaves `out` missing without a copy.

    Args:
        staging: a complete folder on the same file system as `out`.
        out: the destination folder.
    """
    staging, out = Path(staging), Path(out)
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    return out


@contextmanager
def exclusive_lock(path):
    """Hold an exclusive `flock` on the file `path` (created if needed), where the
    OS has flock; elsewhere, no lock.

    Args:
        path: the lock file, e.g. `folder / ".build.lock"`.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
