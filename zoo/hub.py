"""Download, cache and verify published artifacts.

Every file comes from `{base}/{NAME}/{file}` and lands in
`$ZOO_HOME/NAME/VERSION/file` only after its sha256 matches the registry.
The base is, in order: env `ZOO_WEIGHTS_URL` (http, https or file URL, or a
local path), this checkout's own `saved_models/` when it has the entry, else
the installed weights wheel `repr-zoo-weights` (package `repr_zoo_weights`,
built by `python -m zoo.export.weights_wheel`) when it has the entry. Nothing
is hosted by default. Importing this module does not import TensorFlow.

Bounds: each request waits at most `ZOO_TIMEOUT` seconds for the server to
connect or send anything; once that grace period is over, its average rate
must stay at or above `ZOO_MIN_RATE` bytes/s; and it must end within its
deadline, `ZOO_TIMEOUT + size / ZOO_MIN_RATE` seconds. No byte past the size
recorded in `zoo/weights.json` is read. A killed pull leaves a hidden
`.FILE.*.part` temp file only when it dies by SIGKILL; the next pull of the
entry removes those older than `zoo.io.STALE_SECONDS`.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import math
import os
import socket
import stat
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterable

from zoo.io import file_mode, raise_on_signals, sha256_file, sweep_stale

DEFAULT_TIMEOUT = 30.0
DEFAULT_MIN_RATE = 10_000.0  # bytes/s, averaged over a request after its first ZOO_TIMEOUT s
MAX_UNKNOWN_BYTES = 256 << 20  # read limit of a file whose size the registry does not record
LOCAL_WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "saved_models"
WEIGHTS_PACKAGE = "repr_zoo_weights"  # import name of the wheel `repr-zoo-weights`
RETRY_DELAY = 1.0
_CHUNK = 1 << 16

__all__ = [
    "DownloadError",
    "HubError",
    "IntegrityError",
    "NotPublishedError",
    "SettingError",
    "base_url",
    "cache_dir",
    "home",
    "load_pretrained",
    "published_dir",
    "pull",
    "weights_package_dir",
]


class HubError(RuntimeError):
    """Base of every error raised while fetching or checking an artifact."""


class SettingError(HubError):
    """A setting (ZOO_TIMEOUT, ZOO_MIN_RATE, ZOO_WEIGHTS_URL, timeout=) is invalid."""


class NotPublishedError(HubError):
    """The entry (or the requested file) has no published weights."""


class DownloadError(HubError):
    """A file could not be fetched (network, HTTP status, short body)."""

    def __init__(self, message, url=None, status=None):
        super().__init__(message)
        self.url = url
        self.status = status


class IntegrityError(HubError):
    """A file's sha256 differs from the one the registry publishes."""


class _Transient(Exception):
    """A failure worth one retry; carries the final error to raise."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


def home() -> Path:
    """The cache root: env `ZOO_HOME`, else `~/.cache/zoo`."""
    return Path(os.environ.get("ZOO_HOME") or "~/.cache/zoo").expanduser()


def cache_dir(spec) -> Path:
    """The cache folder of one entry: `home() / NAME / VERSION`."""
    return home() / spec.name / spec.version


def weights_package_dir() -> Path | None:
    """The folder of the installed weights wheel (`repr_zoo_weights/`), or None.

    Found by import name without importing it; it holds one folder per entry.
    """
    try:
        found = importlib.util.find_spec(WEIGHTS_PACKAGE)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


def published_dir(name: str) -> Path | None:
    """The local folder holding the published files of entry `name`: this
    checkout's `saved_models/NAME/`, else the weights wheel's `NAME/`, else None.
    """
    if (LOCAL_WEIGHTS_DIR / name).is_dir():
        return LOCAL_WEIGHTS_DIR / name
    package = weights_package_dir()
    if package is not None and (package / name).is_dir():
        return package / name
    return None


def base_url(name: str) -> str:
    """The base URL the files of entry `name` are fetched from.

    Args:
        name: a registry name; only used to look for a local `NAME/` folder.

    Raises:
        DownloadError: when no source has the entry (the error says how to
            provide one).
    """
    env = os.environ.get("ZOO_WEIGHTS_URL", "").strip()
    if env:
        if "://" not in env:
            return Path(env).expanduser().resolve().as_uri()
        valid = ("Use http://HOST/PATH, https://HOST/PATH, file:///PATH/saved_models "
                 "or a local folder.")
        try:
            parts = urllib.parse.urlsplit(env)
            parts.port  # noqa: B018 -- raises ValueError on a bad port
        except ValueError as error:
            raise SettingError(f"ZOO_WEIGHTS_URL is not a valid URL ({error}). {valid} "
                               f"Received: ZOO_WEIGHTS_URL={env!r}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https", "file") or (scheme != "file" and not parts.hostname):
            raise SettingError(
                "ZOO_WEIGHTS_URL must be an http://, https:// or file:// URL "
                f"or a local folder. {valid} Received: ZOO_WEIGHTS_URL={env!r}"
            )
        return env.rstrip("/")
    folder = published_dir(name)
    if folder is not None:
        return folder.parent.as_uri()
    raise DownloadError(
        f"No copy of the published files of {name!r} here: install the weights wheel "
        "(pip install repr_zoo_weights-VERSION-py3-none-any.whl, built in a checkout by "
        "`make wheels`), or set ZOO_WEIGHTS_URL to a mirror of saved_models/ "
        "(https://... or file:///path/to/saved_models), or run from a checkout "
        f"that has saved_models/{name}/.")


def pull(spec_or_name, files: Iterable[str] | None = None, *,
         timeout: float | None = None, progress: bool | None = None) -> Path:
    """Fetch the published files of an entry into the cache.

    A cached file whose sha256 matches is reused without any network access.

    Args:
        spec_or_name: a `ModelSpec` or a registry name.
        files: names from `spec.weights` to fetch; None fetches all of them.
        timeout: seconds per network wait, and the grace period before
            the minimum rate applies; default env `ZOO_TIMEOUT` or 30.
        progress: show a progress bar; None shows one when stderr is a TTY.

    A *derived* entry (`spec.derived`) also gets its heavy files built once
    from the installed package (see `zoo.derived`); `files` is then ignored.

    Returns:
        The cache folder `$ZOO_HOME/NAME/VERSION/`.
    """
    spec = _spec(spec_or_name)
    if not spec.weights:
        raise NotPublishedError(_not_published(spec))
    wanted = list(spec.weights) if files is None or spec.derived else list(files)
    for file in wanted:
        if file not in spec.weights:
            raise NotPublishedError(
                f"Model {spec.name!r} publishes no file {file!r}. Published "
                f"files: {sorted(spec.weights)}. Received: files={wanted!r}"
            )
        _check_relative(file)
    timeout = _timeout(timeout)
    min_rate = _min_rate()
    if progress is None:
        progress = sys.stderr is not None and sys.stderr.isatty()
    folder = cache_dir(spec)
    if folder.is_dir():  # temp files of pulls killed by SIGKILL (other signals clean up)
        for sub in {folder, *(p.parent for p in folder.rglob(".*.part"))}:
            sweep_stale(sub, ".*.part")
    base = None
    with raise_on_signals():  # SIGTERM / SIGHUP run the cleanup below, then exit
        for file in wanted:
            dest = folder / file
            expected = spec.weights[file].lower()
            size = spec.sizes.get(file)
            if dest.is_file() and (size is None or dest.stat().st_size == size) \
                    and sha256_file(dest) == expected:
                continue
            base = base or base_url(spec.name)
            url = f"{base}/{urllib.parse.quote(spec.name)}/{urllib.parse.quote(file)}"
            try:
                _download(url, dest, file, expected, size, spec.name,
                          _Limits(timeout, min_rate), progress)
            except IntegrityError as error:
                _prune_empty(dest.parent)
                package = weights_package_dir()
                if package is None or base != package.as_uri():
                    raise
                raise IntegrityError(
                    f"{error} The installed repr-zoo-weights {_version_of(package)} is not the "
                    f"one of this repr-zoo {_zoo_version()}: install the pair built from one "
                    "commit.") from None
            except HubError:
                _prune_empty(dest.parent)
                raise
    if spec.derived:
        from zoo import derived

        derived.ensure_built(spec, folder)
    return folder


def _version_of(package: Path) -> str:
    text = (package / "__init__.py").read_text() if (package / "__init__.py").is_file() else ""
    for line in text.splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    return "(unknown version)"


def _zoo_version() -> str:
    import zoo

    return zoo.__version__


def load_pretrained(spec, *, timeout: float | None = None):
    """The published `keras.Model` of `spec`, sha256-checked, `safe_mode=True`.

    Args:
        spec: a `ModelSpec`.
        timeout: seconds per network operation (see `pull`).
    """
    if not spec.pretrained:
        raise NotPublishedError(_not_published(spec))
    files = [f for f in ("model.keras", "card.json") if f in spec.weights]
    folder = pull(spec, files, timeout=timeout)
    from zoo import saving

    return saving.load_model(folder / "model.keras")


def _spec(spec_or_name):
    if isinstance(spec_or_name, str):
        from zoo import registry

        return registry.get(spec_or_name)
    return spec_or_name


def _not_published(spec) -> str:
    return (
        f"Model {spec.name!r} has no pretrained weights yet. Use "
        f"zoo.create({spec.name!r}) for fresh weights, or `zoo train "
        f"{spec.name}` to train it. Received: weights={dict(spec.weights)!r}"
    )


def _check_relative(file: str):
    parts = Path(file).parts
    if not parts or Path(file).is_absolute() or ".." in parts or "\\" in file:
        raise HubError(
            "A published file must be a relative path inside the artifact "
            f"folder. Received: file={file!r}"
        )


def _timeout(timeout) -> float:
    source = "timeout"
    if timeout is None:
        source = "ZOO_TIMEOUT"
        timeout = os.environ.get("ZOO_TIMEOUT") or DEFAULT_TIMEOUT
    return _positive(timeout, source, "seconds", f"(default {DEFAULT_TIMEOUT:g})")


def _min_rate() -> float:
    value = os.environ.get("ZOO_MIN_RATE") or DEFAULT_MIN_RATE
    return _positive(value, "ZOO_MIN_RATE", "bytes per second", f"(default {DEFAULT_MIN_RATE:g})")


def _positive(raw, source, unit, default) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if not (value > 0 and math.isfinite(value)):
        raise SettingError(
            f"{source} must be a positive, finite number of {unit} {default}. "
            f"Received: {source}={raw!r}"
        )
    return value


class _Limits:
    """The time bounds of one request (see the module docstring)."""

    def __init__(self, timeout, min_rate):
        self.timeout = timeout
        self.min_rate = min_rate

    def start(self, size):
        self.t0 = time.monotonic()
        self.expect(size or 0)

    def expect(self, size):
        self.deadline = self.t0 + self.timeout + size / self.min_rate

    def check(self, received, url, file):
        now = time.monotonic()
        elapsed = now - self.t0
        if elapsed > self.timeout and received < self.min_rate * (elapsed - self.timeout) \
                or now > self.deadline:
            raise DownloadError(
                f"Fetching {file!r} from {url} is too slow: {received} bytes in "
                f"{elapsed:.1f} s, below the minimum rate of {self.min_rate:g} bytes/s "
                f"(deadline {self.deadline - self.t0:.1f} s). Check your network, "
                "set ZOO_WEIGHTS_URL to a mirror, or lower env ZOO_MIN_RATE (bytes/s). "
                f"Received: ZOO_TIMEOUT={self.timeout:g}, ZOO_MIN_RATE={self.min_rate:g}",
                url)


def _download(url, dest, file, expected, size, name, limits, progress):
    """Fetch `url` to `dest` through a verified temp file; one retry."""
    for attempt in (1, 2):
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            _fetch_verified(url, dest, file, expected, size, limits, progress)
            return
        except _Transient as failure:
            if attempt == 2:
                error = failure.error
                if not isinstance(error, HubError):
                    error = _network_error(url, name, error, limits.timeout)
                raise error from None
            time.sleep(RETRY_DELAY)
        except OSError as error:
            raise HubError(
                f"Could not write {dest} ({error}). Set ZOO_HOME to a writable "
                f"folder. Received: ZOO_HOME={str(home())!r}") from None


def _fetch_verified(url, dest, file, expected, size, limits, progress):
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            actual = _stream(url, out, file, size, limits, progress)
            out.flush()
            os.fsync(out.fileno())
        if actual != expected:
            raise IntegrityError(
                f"sha256 mismatch for {file!r} from {url}: expected "
                f"{expected}, got {actual}. The file was deleted; the source "
                "is corrupt or not the published version. Check "
                "ZOO_WEIGHTS_URL or re-publish the artifact."
            )
        os.chmod(tmp, file_mode())  # mkstemp makes it owner-only; a shared cache needs the umask
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _open(url, file, timeout):
    """The response of `url`: urllib for http(s), a plain regular file for file://."""
    if url.startswith("file:"):
        path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
        try:
            info = path.stat()
        except FileNotFoundError:
            raise DownloadError(f"{file!r} not found at {url}. Check ZOO_WEIGHTS_URL and "
                                "the model version.", url) from None
        except OSError as error:
            raise DownloadError(f"Could not read {url} ({error}).", url) from None
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
            raise DownloadError(f"{url} is not a regular file, so it is not read. Check "
                                "ZOO_WEIGHTS_URL.", url)
        try:
            return open(path, "rb", buffering=0), info.st_size
        except OSError as error:
            raise DownloadError(f"Could not read {url} ({error}).", url) from None
    response = urllib.request.urlopen(url, timeout=timeout)
    length = response.headers.get("Content-Length")
    return response, int(length) if length and length.isdigit() else None


def _stream(url, out, file, size, limits, progress) -> str:
    """Copy the body of `url` to `out`, at most `size` bytes; return its sha256."""
    limits.start(size)
    try:
        response, length = _open(url, file, limits.timeout)
    except urllib.error.HTTPError as error:
        error.close()
        reason = str(error.reason).splitlines()[0] if error.reason else ""
        message = f"HTTP {error.code} {reason} while fetching {file!r} from {url}."
        if 300 <= error.code < 400:
            raise DownloadError(
                f"HTTP {error.code}: {url} redirects in a loop (or more than "
                f"{urllib.request.HTTPRedirectHandler.max_redirections} times) while "
                f"fetching {file!r}. Fix the mirror or set ZOO_WEIGHTS_URL to another one.",
                url, error.code) from None
        if error.code >= 500:
            raise _Transient(DownloadError(
                message + " The server failed twice; try again later or set "
                "ZOO_WEIGHTS_URL to a mirror.", url, error.code)) from None
        raise DownloadError(
            message + " The file is not published at this address; check "
            "ZOO_WEIGHTS_URL and the model version.", url, error.code) from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, FileNotFoundError):
            raise DownloadError(
                f"{file!r} not found at {url}. Check ZOO_WEIGHTS_URL and the "
                "model version.", url) from None
        raise _Transient(error) from None
    except (OSError, http.client.HTTPException) as error:
        raise _Transient(error) from None
    if size is not None and length is not None and length != size:
        response.close()
        raise DownloadError(_size_message(url, file, size, f"announces {length} bytes "
                                          "(Content-Length)"), url)
    limit = size if size is not None else min(length or MAX_UNKNOWN_BYTES, MAX_UNKNOWN_BYTES)
    limits.expect(limit)
    digest = hashlib.sha256()
    received = 0
    with response:
        bar = _bar(size or length, file, progress)
        try:
            while True:
                try:
                    # read1: what has arrived, so a trickle cannot hold one call for long
                    chunk = _read_some(response, min(_CHUNK, limit + 1 - received))
                except http.client.IncompleteRead as error:
                    received += len(error.partial)
                    raise _Transient(_short_error(url, file, received, length, size)) from None
                except (OSError, http.client.HTTPException) as error:
                    raise _Transient(error) from None
                if not chunk:
                    break
                received += len(chunk)
                if received > limit:
                    what = ("zoo/weights.json records" if size is not None else
                            "its Content-Length announces" if length is not None else
                            "a file of unknown size may have at most")
                    raise DownloadError(
                        f"{url} sends at least {received} bytes for {file!r}, but {what} "
                        f"{limit} bytes; nothing past that was read and the file was "
                        "deleted. The mirror is broken or hostile; check ZOO_WEIGHTS_URL.",
                        url)
                out.write(chunk)
                digest.update(chunk)
                if bar is not None:
                    bar.update(len(chunk))
                limits.check(received, url, file)
        finally:
            if bar is not None:
                bar.close()
    if (length is not None and received != length) or (size is not None and received != size):
        raise _Transient(_short_error(url, file, received, length, size))
    return digest.hexdigest()


def _read_some(response, n):
    read1 = getattr(response, "read1", None)
    return read1(n) if read1 is not None else response.read(n)


def _size_message(url, file, size, what):
    return (f"{url} {what} for {file!r}, but zoo/weights.json records {size} bytes. "
            "The mirror holds another version or is broken; check ZOO_WEIGHTS_URL.")


def _bar(length, file, progress):
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=length, desc=file, unit="B", unit_scale=True,
                unit_divisor=1024, file=sys.stderr, leave=False)


def _short_error(url, file, received, length, size=None):
    expected = (f"{length} bytes (Content-Length)" if length is not None
                else f"{size} bytes (recorded in zoo/weights.json)")
    if length is not None and size is not None and length == size:
        expected = f"{size} bytes (Content-Length and zoo/weights.json)"
    return DownloadError(
        f"Received {received} of {expected} for {file!r} "
        f"from {url}, twice. The connection dropped or the server is "
        "misconfigured; try again or set ZOO_WEIGHTS_URL to a mirror.", url)


def _timeout_error(url, timeout):
    return DownloadError(
        f"Timed out after {timeout:g} s fetching {url}, twice. Check your "
        "network, or raise the timeout with env ZOO_TIMEOUT (seconds). "
        f"Received: timeout={timeout!r}", url)


def _network_error(url, name, error, timeout):
    if isinstance(error, urllib.error.URLError):
        error = error.reason
    if isinstance(error, (TimeoutError, socket.timeout)):
        return _timeout_error(url, timeout)
    if isinstance(error, (PermissionError, IsADirectoryError)):
        return DownloadError(f"Could not read {url} ({error}).", url)
    return DownloadError(
        f"Could not fetch {url} ({error}). Check your network connection, "
        "or set ZOO_WEIGHTS_URL to a mirror (https://...) or to "
        "file:///path/to/saved_models, or run from a repository checkout "
        f"that has saved_models/{name}/.", url)


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _prune_empty(folder: Path):
    """Remove `folder` and its parents up to `home()` while they are empty."""
    root = home().resolve()
    folder = folder.resolve()
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
