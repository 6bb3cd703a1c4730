"""The model card (`card.json`, schema 1 of the artifact contract)."""

from __future__ import annotations

from pathlib import Path

import onnx

from zoo.io import sha256_file

SCHEMA = 1


def onnx_io(path) -> dict:
    """{"inputs": {name: shape}, "outputs": {name: shape}} of an ONNX file;
    a symbolic (dynamic) dimension is -1."""
    graph = onnx.load(str(path), load_external_data=False).graph

    def shapes(values):
        return {
            v.name: [d.dim_value if d.HasField("dim_value") else -1
                     for d in v.type.tensor_type.shape.dim]
            for v in values
        }

    return {"inputs": shapes(graph.input), "outputs": shapes(graph.output)}


def file_entries(folder, names) -> dict:
    """{name: {"sha256", "bytes"}} for files in `folder`."""
    folder = Path(folder)
    return {n: {"sha256": sha256_file(folder / n), "bytes": (folder / n).stat().st_size}
            for n in sorted(names)}


def build_card(spec, result, folder, parity) -> dict:
    """The card of the artifact in `folder`.

    Args:
        spec: the entry's `ModelSpec`.
        result: the run's result.json (metrics, threshold, timings, dataset).
        folder: the artifact folder holding model.keras, the ONNX files and PNGs.
        parity: `ParityReport.to_card()` output.
    """
    folder = Path(folder)
    graphs = {g: {"file": f"{g}.onnx", **onnx_io(folder / f"{g}.onnx")} for g in spec.graphs}
    shipped = ["model.keras", *(f"{g}.onnx" for g in spec.graphs), *result.get("figures", [])]
    if spec.derived:  # built from the package by `zoo pull`, so not published nor hashed here
        shipped = [f for f in shipped if f not in spec.derived["builds"]]
        shipped += [spec.derived["trained"]] if spec.derived.get("trained") else []
    card = {
        "schema": SCHEMA,
        "name": spec.name,
        "version": spec.version,
        "summary": spec.summary,
        "covers": spec.covers,
        "task": spec.task,
        "dataset": result["dataset"],
        "preprocess": dict(spec.preprocess),
        "graphs": graphs,
        "distance": spec.distance,
        "threshold": result.get("threshold"),
        "metrics": result["metrics"],
        "params": result["params"],
        "files": file_entries(folder, shipped),
        "parity": parity,
        "training": {"command": result.get("command", f"zoo train {spec.name}"), "seconds": result["seconds"],
                     "epochs": result["epochs"], "seed": result["seed"]},
    }
    if spec.derived:
        card["derived"] = dict(spec.derived)
    if result.get("classes"):
        card["classes"] = result["classes"]
    if result.get("notes"):
        card["notes"] = result["notes"]
    return card
