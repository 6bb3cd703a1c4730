"""Turn a finished training run into a published, parity-checked artifact.

`publish` builds the whole artifact in a temporary folder next to `out`,
checks parity, and only then swaps it into place: a failed export or check
publishes nothing and keeps the previous artifact.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import zoo
from zoo import backend  # noqa: F401

import numpy as np

from zoo.export.card import build_card, file_entries
from zoo.export.onnx import export_onnx
from zoo.export.parity import (MAX_INDEX_MISMATCH, REFERENCE_ENGINE, EngineTolerance, ParityReport, check,
                           reference_outputs, side_inputs, verify_test_data, write_test_data)
from zoo.export.savedmodel import export_savedmodel
from zoo.training.recipes.common import load_result, load_run_model
from zoo.entries._common import WEIGHTS_JSON
from zoo.io import atomic_write_text, replace_dir, sha256_file, sweep_stale
from zoo.models.graphs import graph_model
from zoo.saving import load_model

MAX_ARTIFACT_BYTES = 5 * 1024 * 1024
REPO = Path(zoo.__file__).resolve().parents[1]  # the checkout (export/ ships as zoo.export)
REAL_BATCH = 8


class PublishError(RuntimeError):
    """The artifact could not be published; the previous one is unchanged."""


def publish(spec, run_dir, out, formats=("onnx", "savedmodel"), force=False,
            keep_model_file=False) -> ParityReport:
    """Export the run in `run_dir` into the artifact folder `out`.

    Args:
        spec: the entry's `ModelSpec`.
        run_dir: a finished run (model.keras + result.json).
        out: the artifact folder, e.g. saved_models/NAME.
        formats: "onnx" (always written: parity needs it) and optionally
            "savedmodel" (written to out/savedmodel, not committed).
        force: replace an existing artifact.
        keep_model_file: publish `run_dir/model.keras` byte for byte instead
            of saving the loaded model again (`republish`).

    Returns:
        The `ParityReport`; when it is not ok, nothing was published.
    """
    out, run_dir = Path(out), Path(run_dir)
    if out.parent.is_dir():
        sweep_stale(out.parent, f".{out.name}.????????")  # staging folders of killed exports
    shipped = out.resolve() == (REPO / "saved_models" / spec.name).resolve()
    if out.exists() and not force:
        what = "the shipped artifact" if shipped else "an artifact folder"
        raise PublishError(f"{out} already exists ({what}); nothing was written. Pass --out DIR "
                           "to export elsewhere, or --force to replace it.")
    result = load_result(run_dir)
    if shipped and not force and result["dataset"].get("source") == "folder":
        raise PublishError(
            f"This run was trained on your folder {result['dataset']['name']!r}; exporting it "
            f"to {out} would replace the zoo's own {spec.name}. Pass --out DIR (or --force).")
    spec = run_spec(spec, result)
    model = _inference_copy(load_run_model(run_dir))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)
    try:
        report = _build(spec, model, result, run_dir, staging, formats, keep_model_file)
        published = out.resolve() == (REPO / "saved_models" / spec.name).resolve()
        if report.ok and published:
            _check_budget(spec, staging)
        if report.ok:
            replace_dir(staging, out)
            if published:
                _record_weights(spec.name, out)
        return report
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_artifact(folder) -> ParityReport:
    """Re-check a published artifact folder.

    Verifies every file's sha256 against the card, re-runs the stored
    test_data through onnxruntime and onnx's `ReferenceEvaluator`, and re-runs
    parity of Keras against both ONNX engines (and against the SavedModel,
    when the folder has one) at batch sizes 1, 3 and 64 with the card's
    tolerances (the reference evaluator on the first rows of each feed; see
    `zoo.export.parity`).
    """
    folder = Path(folder)
    card_path = folder / "card.json"
    if not card_path.exists():
        raise PublishError(f"{folder} is not an artifact folder: it has no card.json.")
    card = json.loads(card_path.read_text())
    for name, entry in card["files"].items():
        actual = sha256_file(folder / name) if (folder / name).exists() else "missing"
        if actual != entry["sha256"]:
            raise PublishError(
                f"{folder / name} does not match its card: expected sha256 "
                f"{entry['sha256']}, found {actual}. Re-download or re-export it."
            )
    missing = [f for f in card.get("derived", {}).get("builds", []) if not (folder / f).is_file()]
    if missing:
        raise PublishError(
            f"{folder} lacks {missing}: they are built from {card['derived']['package']}, not "
            f"published. Run `zoo pull {card['name']}` and check the folder it prints.")
    model = load_model(folder / "model.keras")
    atol = {g: {"value": p["atol"], "reason": p.get("atol_reason"),
                "engines": {e: {"atol": t["atol"], "reason": t["atol_reason"],
                                "max_index_mismatch": t.get("max_index_mismatch", MAX_INDEX_MISMATCH)}
                            for e, t in p.get("engine_tolerances", {}).items()}}
            for g, p in card["parity"].items()}
    for graph in card["graphs"]:
        own = atol[graph]["engines"].get(REFERENCE_ENGINE)
        own = own and EngineTolerance(own["atol"], own["max_index_mismatch"], own["reason"])
        try:
            verify_test_data(folder / f"{graph}.onnx", folder / "test_data" / graph, atol[graph]["value"],
                             reference=own or True)
        except ValueError as error:
            raise PublishError(f"{folder}/test_data/{graph} no longer reproduces: {error}") from error
    savedmodel = folder / "savedmodel" if (folder / "savedmodel").is_dir() else None
    return check(model, list(card["graphs"]), onnx_dir=folder, savedmodel_dir=savedmodel, atol=atol)


def _build(spec, model, result, run_dir, staging, formats, keep_model_file=False) -> ParityReport:
    if keep_model_file:
        shutil.copy2(Path(run_dir) / "model.keras", staging / "model.keras")
    else:
        model.save(staging / "model.keras")
    weights_sha = sha256_file(staging / "model.keras")
    metadata = {"zoo.name": spec.name, "zoo.version": spec.version,
                "zoo.preprocess": dict(spec.preprocess), "zoo.weights_sha256": weights_sha}
    for graph in spec.graphs:
        export_onnx(model, graph, staging / f"{graph}.onnx", metadata)
    savedmodel = None
    if "savedmodel" in formats:
        savedmodel = export_savedmodel(model, spec.graphs, staging / "savedmodel")
    real = real_inputs(spec, model, images=_run_inputs(run_dir, result))
    atol = {g: v if "engines" in v else (v["value"], v["reason"])
            for g, v in result.get("atol", {}).items()}
    report = check(model, spec.graphs, onnx_dir=staging, savedmodel_dir=savedmodel,
                   inputs=real, atol=atol or 1e-5)
    if not report.ok:
        return report
    for graph in spec.graphs:
        write_test_data(staging / f"{graph}.onnx", real[graph],
                        reference_outputs(model, graph, real[graph]),
                        staging / "test_data" / graph)
    for figure in result.get("figures", []):
        shutil.copy2(run_dir / figure, staging / figure)
    if spec.derived and spec.derived.get("trained"):
        from zoo import derived

        derived.save_trained(spec, model, staging / spec.derived["trained"])
    card = build_card(spec, result, staging, report.to_card())
    atomic_write_text(staging / "card.json", json.dumps(card, indent=2) + "\n")
    if spec.derived:  # the build record `zoo.runtime` checks the built files against
        from zoo import derived

        derived.write_stamp(spec, staging, {f: sha256_file(staging / f) for f in spec.derived["builds"]})
    return report


def republish(spec, folder=None, formats=("onnx", "savedmodel")) -> ParityReport:
    """Re-export a published artifact from its own `model.keras`, after a change
    of the exporter or of a layer's graph (not of its outputs).

    The weights file is kept byte for byte and the card's metrics, threshold,
    dataset, training record, notes, figures and reasoned tolerances are carried
    over; the ONNX files, the test data, the parity record and the sha256 of
    every file (card and `zoo/weights.json`) are new. Parity gates it as in
    `publish`: on failure nothing changes.

    Args:
        spec: the entry's `ModelSpec`; a derived entry (built at pull time,
            nothing heavy committed) is refused.
        folder: the artifact folder (default saved_models/NAME).
        formats: as in `publish`.
    """
    folder = Path(folder) if folder else REPO / "saved_models" / spec.name
    if spec.derived:
        raise PublishError(
            f"{spec.name} is a derived artifact: its ONNX files are built by `zoo pull` "
            f"from {spec.derived['package']}, not published. Received: name={spec.name!r}")
    card = json.loads((folder / "card.json").read_text())
    figures = [f for f in card["files"] if f.endswith(".png")]
    with tempfile.TemporaryDirectory(prefix=f"zoo-republish-{spec.name}-") as tmp:
        run_dir = Path(tmp)
        for name in ["model.keras", *figures]:
            shutil.copy2(folder / name, run_dir / name)
        result = {
            "metrics": card["metrics"], "seconds": card["training"]["seconds"],
            "epochs": card["training"]["epochs"], "seed": card["training"]["seed"],
            "dataset": card["dataset"], "threshold": card.get("threshold"),
            "notes": card.get("notes") or {}, "figures": figures,
            "classes": card.get("classes"), "params": card["params"],
            "atol": {g: {"value": p["atol"], "reason": p["atol_reason"]}
                     for g, p in card["parity"].items() if p.get("atol_reason")},
        }
        recipe_atol = getattr(spec.resolve_recipe(), "ATOL", {})  # newer reasoned limits win
        result["atol"].update(recipe_atol)
        atomic_write_text(run_dir / "result.json", json.dumps(result, indent=2))
        return publish(spec, run_dir, folder, formats=formats, force=True, keep_model_file=True)


def _check_budget(spec, staging: Path) -> None:
    """A committed artifact stays under `MAX_ARTIFACT_BYTES` (the SavedModel and a
    derived entry's built files are not committed)."""
    built = spec.derived["builds"] if spec.derived else []
    committed = _size(staging) - _size(staging / "savedmodel") - sum(_size(staging / f) for f in built)
    if committed > MAX_ARTIFACT_BYTES:
        raise PublishError(
            f"The artifact of {spec.name!r} is {committed / 2**20:.1f} MiB; the limit for "
            f"saved_models/ is {MAX_ARTIFACT_BYTES / 2**20:.0f} MiB. Use a smaller configuration."
        )


def run_spec(spec, result):
    """`spec` with the input size and preprocessing a run recorded, if any (a run
    of `zoo train NAME --data DIR` may take another size than the entry's)."""
    import dataclasses

    if not result.get("preprocess"):
        return spec
    preprocess = {**spec.preprocess, **result["preprocess"]}
    return dataclasses.replace(spec, input_shape=tuple(result["input_shape"]),
                               preprocess=preprocess)


def _run_inputs(run_dir, result):
    """The held-out model inputs a run saved for the test data, or None."""
    if not result.get("inputs"):
        return None
    with np.load(Path(run_dir) / result["inputs"], allow_pickle=False) as stored:
        return stored["image"].astype(np.float32)


def real_inputs(spec, model, batch=REAL_BATCH, images=None) -> dict:
    """{graph: {input: array}}: `2 * batch` test images of the entry's dataset,
    spread evenly over it (pairs for `verify`; for `decode`, the `encode`
    outputs of the images: the code, plus extra inputs such as `argmax_K`).

    Args:
        spec: the entry's `ModelSpec` (dataset, input shape, graphs).
        model: the entry's Keras model, which encodes the `decode` inputs.
        batch: rows of every input.
        images: float32 model inputs to use instead (a run's held-out images).
    """
    from zoo.training.datasets import sample_images

    if images is not None:  # the run's own held-out images (zoo train --data)
        pass
    elif spec.graphs == ("score_map",):
        from zoo.training.datasets.face_scenes import detector_tiles

        return {"score_map": {"image": detector_tiles(2)}}
    elif spec.preprocess.get("align"):  # a model of aligned chips: real faces, aligned
        from zoo.faces.align import align_faces

        faces = sample_images(spec.dataset, batch * 2, None)
        images = align_faces(faces).astype(np.float32) / 255.0
    else:
        images = sample_images(spec.dataset, batch * 2, spec.input_shape)
    a, b = images[:batch], images[batch:]
    feeds = {}
    for graph in spec.graphs:
        if graph == "verify":
            feeds[graph] = {"image_a": a, "image_b": b}
        elif graph == "decode":
            code = graph_model(model, "encode")(a, training=False)
            code = code[0] if isinstance(code, (list, tuple)) else code
            feeds[graph] = {"code": np.asarray(code, np.float32), **side_inputs(model, graph, a)}
        else:
            feeds[graph] = {"image": a}
    return feeds


def _inference_copy(model):
    # The published model.keras carries weights only, no optimizer state: it
    # halves the file. Compile the loaded model again to fine-tune it.
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def _record_weights(name, folder: Path):
    card = json.loads((folder / "card.json").read_text())
    files = {n: {"sha256": e["sha256"], "bytes": e["bytes"]} for n, e in card["files"].items()}
    # The stored test data too, so that a cache filled by `zoo pull` passes `zoo check`.
    tests = [p.relative_to(folder).as_posix() for p in sorted(folder.glob("test_data/*/*.pb"))]
    files.update(file_entries(folder, ["card.json", *tests]))
    weights = json.loads(WEIGHTS_JSON.read_text())
    weights[name] = dict(sorted(files.items()))
    atomic_write_text(WEIGHTS_JSON, json.dumps(dict(sorted(weights.items())), indent=2) + "\n")


def _size(path: Path) -> int:
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv=None):
    """`python -m zoo.export.publish NAME ...`: `republish` each artifact."""
    import argparse

    import zoo

    parser = argparse.ArgumentParser(description=" ".join(republish.__doc__.split("\n\n")[0].split()))
    parser.add_argument("names", nargs="+", metavar="NAME")
    parser.add_argument("--format", nargs="+", choices=("onnx", "savedmodel"),
                        default=["onnx", "savedmodel"])
    args = parser.parse_args(argv)
    failed = []
    for name in args.names:
        report = republish(zoo.info(name), formats=args.format)
        print(f"{name}\n{report.table()}\n{report.summary()}", flush=True)
        if not report.ok:
            failed.append(name)
    if failed:
        raise SystemExit(f"parity check failed, nothing republished: {', '.join(failed)}")


if __name__ == "__main__":
    main()
