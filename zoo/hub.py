"""Download, cache and verify published artifacts.

Every file comes from `{base}/{NAME}/{file}` and lands in
`$ZOO_HOME/NAME/VERSION/file` only after its sha256 matches the registry.
The base is, in order: env `ZOO_WEIGHTS_URL` (http, https or file URL, or a
local path), this checkout's own `saved_models/` when it has the entry, else
the installed weights wheel `repr-zoo-weights` (package `repr_zoo_weights`,
built by `python -m zoo.export.weights_wheel`) when it has the entry. Nothing
is hosted by default. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import os
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterable

from zoo.io import sha256_file

DEFAULT_TIMEOUT = 30.0
LOCAL_WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "saved_models"
WEIGHTS_PACKAGE = "repr_zoo_weights"  # import name of the wheel `repr-zoo-weights`
RETRY_DELAY = 1.0
_CHUNK = 1 << 16

__all__ = [
    "DownloadError",
    "HubError",
    "IntegrityError",
    "NotPublishedError",
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
        scheme = urllib.parse.urlsplit(env).scheme.lower()
        if scheme not in ("http", "https", "file"):
            raise HubError(
                "ZOO_WEIGHTS_URL must be an http://, https:// or file:// URL "
                f"or a local folder. Received: ZOO_WEIGHTS_URL={env!r}"
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
        timeout: seconds per network operation; default env `ZOO_TIMEOUT`
            or 30.
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
    if progress is None:
        progress = sys.stderr is not None and sys.stderr.isatty()
    folder = cache_dir(spec)
    base = None
    for file in wanted:
        dest = folder / file
        expected = spec.weights[file].lower()
        if dest.is_file() and sha256_file(dest) == expected:
            continue
        base = base or base_url(spec.name)
        url = f"{base}/{urllib.parse.quote(spec.name)}/{urllib.parse.quote(file)}"
        try:
            _download(url, dest, file, expected, spec.name, timeout, progress)
        except IntegrityError as error:
            _prune_empty(dest.parent)
            package = weights_package_dir()
            if package is None or base != package.as_uri():
                raise
            raise IntegrityError(
                f"{error} The installed repr-zoo-weights {_version_of(package)} is not the one "
                f"of this repr-zoo {_zoo_version()}: install the pair built from one commit."
            ) from None
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
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        value = -1.0
    if not value > 0:
        raise HubError(
            f"The download timeout must be a positive number of seconds. "
            f"Received: {source}={timeout!r}"
        )
    return value


def _download(url, dest, file, expected, name, timeout, progress):
    """Fetch `url` to `dest` through a verified temp file; one retry."""
    for attempt in (1, 2):
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            _fetch_verified(url, dest, file, expected, timeout, progress)
            return
        except _Transient as failure:
            if attempt == 2:
                error = failure.error
                if not isinstance(error, HubError):
                    error = _network_error(url, name, error, timeout)
                raise error from None
            time.sleep(RETRY_DELAY)
        except OSError as error:
            raise HubError(
                f"Could not write {dest} ({error}). Set ZOO_HOME to a writable "
                f"folder. Received: ZOO_HOME={str(home())!r}") from None


def _fetch_verified(url, dest, file, expected, timeout, progress):
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            actual = _stream(url, out, file, timeout, progress)
            out.flush()
            os.fsync(out.fileno())
        if actual != expected:
            raise IntegrityError(
                f"sha256 mismatch for {file!r} from {url}: expected "
                f"{expected}, got {actual}. The file was deleted; the source "
                "is corrupt or not the published version. Check "
                "ZOO_WEIGHTS_URL or re-publish the artifact."
            )
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _stream(url, out, file, timeout, progress) -> str:
    """Copy the body of `url` to `out`; return its sha256."""
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        message = (
            f"HTTP {error.code} {error.reason} while fetching {file!r} from "
            f"{url}."
        )
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
    digest = hashlib.sha256()
    received = 0
    with response:
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        bar = _bar(length, file, progress)
        try:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except http.client.IncompleteRead as error:
                    received += len(error.partial)
                    raise _Transient(_short_error(url, file, received, length)) from None
                except (OSError, http.client.HTTPException) as error:
                    raise _Transient(error) from None
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    if length is not None and received != length:
        raise _Transient(_short_error(url, file, received, length))
    return digest.hexdigest()


def _bar(length, file, progress):
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=length, desc=file, unit="B", unit_scale=True,
                unit_divisor=1024, file=sys.stderr, leave=False)


def _short_error(url, file, received, length):
    return DownloadError(
        f"Received {received} of {length} bytes (Content-Length) for {file!r} "
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
