"""Build `repr-zoo-weights`, the wheel of the published artifacts.

    python -m zoo.export.weights_wheel [--source saved_models] [--out dist] [NAME ...]

The wheel holds the package `repr_zoo_weights` with one folder per entry,
`repr_zoo_weights/NAME/FILE`, for exactly the files `zoo/weights.json` lists
(cards, ONNX graphs, `.keras` models, test data, PNGs; a derived entry's card,
test data and plots only). Each file is checked against its sha256 before it
is packed, so a stale `saved_models/` cannot be shipped. An installed zoo finds
the package by import name (`zoo.hub.weights_package_dir`), copies the files it
needs into its cache and checks their sha256 again there. The wheel's version
is the zoo's: install the pair built from one commit.

The archive is reproducible: sorted entries, fixed timestamps and modes.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import zipfile
from pathlib import Path

import zoo
from zoo.entries._common import WEIGHTS_JSON
from zoo.io import sha256_file

DISTRIBUTION = "repr-zoo-weights"
PACKAGE = "repr_zoo_weights"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _weights() -> dict:
    return json.loads(WEIGHTS_JSON.read_text())


def wheel_files(source, names=None) -> dict[str, Path]:
    """The archive path -> source file of every published file of `names`
    (default: all of `zoo/weights.json`), each checked against its sha256.

    Args:
        source: a `saved_models/` folder (a checkout's or a mirror's).
        names: entry names; None takes every entry with published files.
    """
    weights, source = _weights(), Path(source)
    unknown = sorted(set(names or ()) - set(weights))
    if unknown:
        raise ValueError(f"No published files for {unknown} in zoo/weights.json. "
                         f"Published: {sorted(weights)}. Received: names={list(names)}")
    files = {}
    for name in sorted(names or weights):
        for file, entry in sorted(weights[name].items()):
            expected = entry["sha256"]  # weights.json: {file: {"sha256", "bytes"}}
            path = source / name / file
            if not path.is_file():
                raise FileNotFoundError(f"{path} is listed in zoo/weights.json but missing. Run "
                                        f"from a complete checkout. Received: source={str(source)!r}")
            actual = sha256_file(path)
            if actual != expected:
                raise ValueError(f"{path} has sha256 {actual}; zoo/weights.json publishes {expected}. "
                                 "Re-export the entry or check out the matching saved_models/.")
            files[f"{PACKAGE}/{name}/{file}"] = path
    return files


def build(source, out, names=None, version=None) -> Path:
    """Write `repr_zoo_weights-VERSION-py3-none-any.whl` into `out`; return its path.

    Args:
        source: the `saved_models/` folder to pack.
        out: the folder to write the wheel into (created if missing).
        names: entry names to pack; None packs every published entry.
        version: the wheel's version; default the zoo's `__version__`.
    """
    version = version or zoo.__version__
    files = wheel_files(source, names)
    entries = {f"{PACKAGE}/__init__.py": _init_text(version).encode()}
    dist_info = f"{PACKAGE}-{version}.dist-info"
    entries[f"{dist_info}/METADATA"] = _metadata(version).encode()
    entries[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: zoo.export.weights_wheel\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n").encode()
    entries[f"{dist_info}/top_level.txt"] = f"{PACKAGE}\n".encode()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{PACKAGE}-{version}-py3-none-any.whl"
    record = []
    partial = wheel.with_name(f".{wheel.name}.part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for arcname in sorted(entries) + sorted(files):
            data = entries[arcname] if arcname in entries else files[arcname].read_bytes()
            info = zipfile.ZipInfo(arcname, _EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arcname},sha256={digest},{len(data)}")
        record.append(f"{dist_info}/RECORD,,")
        info = zipfile.ZipInfo(f"{dist_info}/RECORD", _EPOCH)
        info.external_attr = 0o644 << 16
        archive.writestr(info, "\n".join(record) + "\n")
    partial.replace(wheel)
    return wheel


def _init_text(version) -> str:
    return (f'"""The published artifacts of repr-zoo {version}: one folder per entry,\n'
            'read by `zoo.hub` (which checks every file against `zoo/weights.json`)."""\n\n'
            f'__version__ = "{version}"\n')


def _metadata(version) -> str:
    return (f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: {version}\n"
            f"Summary: The published artifacts (cards, ONNX graphs, .keras models, test data) "
            f"of repr-zoo {version}\nLicense: MIT\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.export.weights_wheel",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="entries to pack (default: all published)")
    parser.add_argument("--source", type=Path, default=Path(zoo.__file__).resolve().parents[1] / "saved_models",
                        help="the saved_models/ folder (default: this checkout's)")
    parser.add_argument("--out", type=Path, default=Path("dist"), help="default: dist")
    args = parser.parse_args(argv)
    try:
        print(build(args.source, args.out, args.names or None))
    except (OSError, ValueError) as error:
        print(f"weights_wheel: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
