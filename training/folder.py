"""`zoo train NAME --data DIR`: train a zoo entry on your own folder of images.

One function, `train_folder`, for every family that can learn from labelled
images:

| family | entries | split | measured on the held-out split |
| --- | --- | --- | --- |
| pair designs | siamese_contrastive, siamese_cosine, verify_mlp, verify_tied, two_channel, omniglot_siamese | by class | pair accuracy, ROC AUC, EER, TAR@FAR 1e-2, threshold; Recall@1, MAP@R of the tower |
| embeddings | triplet_embed, margin_embed, ranking_embed, face_embed | by class | Recall@1, MAP@R, and cosine verification as above |
| classifier | fmnist_cnn | by image | accuracy |
| autoencoders | ae_dense, ae_linear, cae_unpool, vae | by image | MSE and PCA's MSE at the same code size |
| face transfer | face_id_head (frozen face_resnet), face_id_finetune | by image | accuracy |

The folder is scanned first (`zoo.training.datasets.load_folder`); nothing is
written to the run folder until the scan and the split succeed. The run's
`result.json` records the folder (base name, content hash, counts), the
split, the input size and preprocessing, so `zoo export` writes a card for
the user's data and its test data from the held-out images.
"""

from __future__ import annotations

import shlex
import sys
import warnings
from pathlib import Path

import numpy as np

PAIR_BUILDERS = ("build_siamese", "build_verify_mlp", "build_verify_tied", "build_two_channel")
FAMILIES = {
    **{f"zoo.models.siamese:{b}": "pair" for b in PAIR_BUILDERS},
    "zoo.models.siamese:build_embedder": "embedding",
    "zoo.models.classifiers:build_cnn_classifier": "classifier",
    "zoo.models.autoencoders:build_dense_ae": "autoencoder",
    "zoo.models.autoencoders:build_linear_ae": "autoencoder",
    "zoo.models.autoencoders:build_cae_unpool": "autoencoder",
    "zoo.models.vae:build_vae": "autoencoder",
    "zoo.models.face_resnet:build_face_resnet_classifier": "face",
}
SPLIT_BY = {"pair": "class", "embedding": "class", "classifier": "image",
            "autoencoder": "image", "face": "image"}
EPOCHS = {"pair": 10, "embedding": 10, "classifier": 10, "autoencoder": 30, "face": 30}
BATCH_SIZE = {"pair": 64, "embedding": 64, "classifier": 32, "autoencoder": 64, "face": 10}
INPUTS_FILE = "inputs.npz"  # held-out model inputs that `zoo export` writes as test data


def supported() -> list:
    """The entries `zoo train NAME --data DIR` takes."""
    import zoo

    return [n for n in zoo.list_models() if zoo.info(n).builder in FAMILIES]


def family(spec) -> str:
    """The family of `spec` ("pair", "embedding", ...), or raise naming the supported ones."""
    if spec.builder not in FAMILIES:
        raise ValueError(f"{spec.name!r} cannot train on a folder (it is {spec.task}, built by "
                         f"{spec.builder.split(':')[1]}). `--data` works for: "
                         f"{', '.join(supported())}. Received: name={spec.name!r}")
    return FAMILIES[spec.builder]


def train_folder(name, data_dir, run_dir, *, image_size=None, channels=None, val_split=0.2,
                 epochs=None,
                 batch_size=None, augment=False, from_name=None, freeze=False, seed=0,
                 quick=False, strict=False, photos=False, progress=sys.stderr) -> dict:
    """Train entry `name` on the images of `data_dir/CLASS/IMAGE`, measure it on the
    held-out split and write the run folder (`model.keras`, `result.json`, ...).

    Args:
        name: the registry entry (see `supported()`).
        data_dir: the folder of class sub-folders.
        run_dir: the run folder.
        image_size: (H, W) of the network input; default: the entry's. Face
            entries align every face to the 150x150 chip instead.
        channels: 1 (grey) or 3 (RGB) network input; default: the entry's.
        val_split: the held-out share, in (0, 0.5): that share for validation
            (threshold, checkpoint choice) and as much again for the test.
        epochs, batch_size: default: the family's (`EPOCHS`, `BATCH_SIZE`).
        augment: random horizontal flips, shifts (10%) and brightness (+-20%)
            of the training batches.
        from_name: start from this published entry's weights: every layer with
            the same name and weight shapes is copied.
        freeze: keep the copied layers frozen (approach 1); without it they
            are fine-tuned (approach 2).
        seed: seeds the split, batches, augmentation and weights.
        quick: a smoke-test run (tiny config, 1 epoch, few pairs).
        strict: refuse an unreadable image instead of skipping it.
        photos: face entries: the images are photos; each one's largest face
            is found by the face detector and aligned (a photo without a face
            is left out with a warning). Default: framed faces (ORL-like).
        progress: where the scan prints its progress, or None.
    """
    import zoo
    from zoo.training.datasets.folder import FolderWarning, load_folder, split_folder

    spec = zoo.info(name)
    kind = family(spec)
    if freeze and from_name is None and kind != "face":
        raise ValueError("--freeze keeps the weights of --from NAME fixed; pass --from too. "
                         "Received: --freeze without --from")
    if kind == "face" and from_name not in (None, "face_resnet"):
        raise ValueError(f"{name} is built on face_resnet; --from takes only face_resnet there. "
                         f"Received: --from {from_name}")
    if photos and kind != "face":
        raise ValueError(f"--photos finds faces for the face entries; {name} takes the images "
                         "as they are. Drop --photos.")
    if kind == "face" and freeze and name == "face_id_finetune":
        raise ValueError("face_id_finetune fine-tunes face_resnet's top layers (approach 2); "
                         "for a frozen face_resnet (approach 1) train face_id_head.")
    if spec.name == "verify_mlp" and from_name is None and not quick:
        raise ValueError("verify_mlp trains only its MLP head on a frozen backbone; pass --from "
                         "fmnist_cnn (or another entry with a CNN backbone) for its features.")
    overrides = _overrides(spec, quick, from_name)
    shape = _input_shape(spec, kind, image_size, overrides, channels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FolderWarning)
        data = load_folder(data_dir, None if kind == "face" else shape[:2], shape[-1],
                           strict=strict, min_side=_min_side(spec, kind, overrides),
                           min_classes=1 if kind == "autoencoder" else 2,
                           min_per_class=2 if kind in ("pair", "embedding") else 1,
                           progress=progress)
    for warning in caught:  # one `zoo: warning:` line each, or the warning itself
        if progress is not None and issubclass(warning.category, FolderWarning):
            print(f"zoo: warning: {warning.message}", file=progress)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    images, labels, no_face = data.images, data.labels, []
    if kind == "face":
        images, keep, no_face = _chips(data, photos, progress)
        labels = data.labels[keep]
    split = split_folder(labels, val_split, SPLIT_BY[kind], seed)
    parts = {k: (images[split[k]], labels[split[k]]) for k in ("train", "val", "test")}
    epochs = 1 if quick else (epochs or EPOCHS[kind])
    batch_size = batch_size or BATCH_SIZE[kind]
    model = _model(spec, kind, data, shape, overrides, seed)
    copied = _start_from(model, from_name, freeze) if from_name and kind != "face" else None
    context = dict(spec=spec, kind=kind, parts=parts, run_dir=Path(run_dir), epochs=epochs,
                   batch_size=batch_size, augment=augment, seed=seed, quick=quick,
                   folder=data.sha256)
    measured = _TRAIN[kind](model, **context)
    dataset = {**data.card(), "split": _split_card(split, data, labels),
               **({"faces": "photos: largest face found by face_detector, aligned",
                   "no_face": len(no_face)} if photos else {}),
               "train": f"{len(split['train'])} images of the folder "
                        f"({_describe(split, labels, 'train')})",
               "eval": f"held-out test split: {_describe(split, labels, 'test')}"}
    notes = {"data": "trained with `zoo train --data` on a folder of images",
             "scan": f"{data.seconds} s",
             "preprocess": "each image file is read by zoo.retrieval.read_images and resized by "
                           "area averaging" + (", then aligned to a 150x150 chip" if kind == "face"
                                               else ""),
             "augment": "random flip, 10% shifts, +-20% brightness" if augment else "none"}
    if from_name:
        notes["from"] = {"name": from_name, "freeze": bool(freeze),
                         **({"copied_layers": copied} if copied is not None else {}),
                         "frozen": "the copied feature extractor" if freeze else "nothing"}
    from zoo.training.recipes.common import save_result

    _save_inputs(Path(run_dir), spec, model, parts["test"][0])
    result = save_result(run_dir, model, seconds=measured.pop("seconds"), epochs=measured.pop("epochs"),
                         seed=seed, dataset=dataset, notes=notes,
                         classes=data.class_names if kind in ("classifier", "face") else None,
                         **measured)
    return _record_run(Path(run_dir), result, spec, kind, shape, name, data, val_split, epochs,
                       batch_size, augment, from_name, freeze, seed, quick, image_size)


# -- models -----------------------------------------------------------------------------


def _overrides(spec, quick, from_name):
    overrides = dict(spec.tiny) if quick else {}
    if from_name:  # the architecture of the source, so its weights fit
        import zoo

        source = zoo.info(from_name)
        for key in ("widths", "embedding_dim", "code_size", "latent_dim"):
            if key in source.defaults and key in spec.defaults:
                overrides[key] = source.defaults[key]
    return overrides


def _input_shape(spec, kind, image_size, overrides, channels=None):
    if kind == "face":
        if image_size is not None or channels is not None:
            raise ValueError(f"{spec.name} aligns every face to a 150x150 RGB chip; --image-size "
                             "and --channels do not apply.")
        return tuple(spec.input_shape)
    if channels not in (None, 1, 3):
        raise ValueError(f"--channels must be 1 (grey) or 3 (RGB). Received: --channels {channels}")
    height, width = image_size or spec.input_shape[:2]
    return int(height), int(width), int(channels or spec.input_shape[-1])


def _min_side(spec, kind, overrides):
    """The smallest image side the network takes (its pooling stages)."""
    if kind == "face":
        return 32
    widths = spec.hparams(**overrides).get("widths", ())
    if isinstance(widths, str):
        from zoo.models.backbones import CNN_WIDTHS

        widths = CNN_WIDTHS[widths]
    if spec.builder.endswith("build_cae_unpool"):
        return 2 ** len(widths)
    if kind in ("pair", "embedding", "classifier"):
        return 2 ** (len(widths) - 1)
    return 1


def _model(spec, kind, data, shape, overrides, seed):
    from zoo.training.recipes.common import seeded_model

    if kind == "autoencoder":
        if spec.builder.endswith("build_cae_unpool") and any(s % _min_side(spec, kind, overrides)
                                                             for s in shape[:2]):
            raise ValueError(f"cae_unpool needs a height and width divisible by "
                             f"{_min_side(spec, kind, overrides)}. Pass --image-size with such "
                             f"values. Received: image size {list(shape[:2])}")
        return seeded_model(spec.name, seed, image_shape=shape, **overrides)
    if kind in ("classifier", "face"):
        return seeded_model(spec.name, seed, num_classes=len(data.class_names), **overrides,
                            **({} if kind == "face" else {"input_shape": shape}))
    return seeded_model(spec.name, seed, input_shape=shape, **overrides)


FEATURE_PARTS = ("backbone", "encode")  # what --freeze keeps fixed: the feature extractor


def _start_from(model, from_name, freeze) -> int:
    """Copy every layer of the published `from_name` whose name (within its
    sub-model) and weight shapes match. With `freeze`, the copied layers of the
    feature extractor (the "backbone" or "encode" sub-model) stay fixed and the
    rest (projection, heads, decoder) train. Returns how many were copied."""
    import zoo

    source = {_key(path): layer for path, layer in _leaves(zoo.load(from_name))}
    copied, frozen = 0, 0
    for path, layer in _leaves(model):
        other = source.get(_key(path))
        if other is None:
            continue
        theirs, ours = other.get_weights(), layer.get_weights()
        if len(theirs) == len(ours) and all(a.shape == b.shape for a, b in zip(theirs, ours)):
            layer.set_weights(theirs)
            copied += 1
            if freeze and any(part in FEATURE_PARTS for part in path.split("/")[:-1]):
                layer.trainable = False
                frozen += 1
    if not copied:
        raise ValueError(f"No layer of {from_name!r} fits {model.name!r} (no layer with the same "
                         "name and weight shapes). Pick a source of the same family. "
                         f"Received: --from {from_name}")
    if freeze and not frozen:
        raise ValueError(f"--freeze keeps a copied feature extractor ({' or '.join(FEATURE_PARTS)}) "
                         f"fixed, and none of {from_name!r} fits {model.name!r}. Drop --freeze to "
                         "fine-tune what was copied.")
    if freeze:
        _recompile(model)
    return copied


def _key(path):
    """A layer's path from its backbone on, so the CNN backbone of a classifier
    ("backbone/...") and of an embedding tower ("embed/backbone/...") match."""
    parts = path.split("/")
    return "/".join(parts[parts.index("backbone"):]) if "backbone" in parts[:-1] else path


def _leaves(model, prefix=""):
    """(path, layer) of every layer with weights and no sub-layers, path "sub/…/name"."""
    out = []
    for layer in model.layers:
        path = f"{prefix}{layer.name}"
        if isinstance(getattr(layer, "layers", None), list) and layer.layers:
            out += _leaves(layer, path + "/")
        elif layer.weights:
            out.append((path, layer))
    return out


def _recompile(model):
    optimizer = model.optimizer.__class__.from_config(model.optimizer.get_config())
    metrics = ["binary_accuracy"] if model.loss == "binary_crossentropy" else (
        ["accuracy"] if model.loss == "sparse_categorical_crossentropy" else None)
    model.compile(optimizer=optimizer, loss=model.loss, metrics=metrics)


def _chips(data, photos, progress):
    """(uint8 150x150 RGB chips, kept indices, files without a face). Framed faces
    (ORL-like) are aligned on their framing box; photos go through the face
    detector first (`zoo.faces.pipeline`), and the largest face is kept."""
    from zoo.faces.align import align_faces

    if not photos:
        return align_faces(data.images), np.arange(len(data.labels)), []
    from zoo.faces.chips import extract_chip
    from zoo.faces.pipeline import FacePipeline, NoFaceError

    pipeline = FacePipeline(embedder=None)
    chips, keep, missing = [], [], []
    for i, (image, name) in enumerate(zip(data.images, data.files)):
        try:
            faces = pipeline.detect(np.asarray(image), name)
        except NoFaceError:
            faces = []
        if not faces:
            missing.append(name)
            continue
        chips.append(extract_chip(np.asarray(image), faces[0].landmarks, 150, 0.25))
        keep.append(i)
    if missing and progress is not None:
        print(f"zoo: warning: no face found in {len(missing)} photo(s), left out: "
              f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}", file=progress)
    if not chips:
        raise ValueError(f"No face found in any of the {len(data.files)} photos of "
                         f"{data.name!r}. Pass framed faces without --photos, or larger photos.")
    return np.stack(chips), np.asarray(keep), missing


# -- training and measuring, per family -------------------------------------------------


def _augmenter(seed):
    from zoo import backend  # noqa: F401

    import keras

    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed + 1),
        keras.layers.RandomBrightness(0.2, value_range=(0.0, 1.0), seed=seed + 2),
    ], name="augment")


def _augmented(epochs_data, seed, target_is_input=False):
    """`epochs_data` with every float image batch (a tensor, or each value of a
    dict) randomly flipped, shifted and brightened; autoencoder targets follow."""
    import dataclasses

    import tensorflow as tf

    layer = _augmenter(seed)

    def one(x):
        return layer(x, training=True)

    def batch(x, y):
        x = {k: one(v) for k, v in x.items()} if isinstance(x, dict) else one(x)
        return (x, x) if target_is_input else (x, y)

    def make(epoch):
        return epochs_data.make(epoch).map(batch, num_parallel_calls=tf.data.AUTOTUNE)

    return dataclasses.replace(epochs_data, make=make)


def _fit(model, data, ctx, validation=None, config=None):
    from zoo.training.runner import fit

    if ctx["augment"]:
        data = _augmented(data, ctx["seed"], target_is_input=ctx["kind"] == "autoencoder")
    return fit(model, data, epochs=ctx["epochs"], run_dir=ctx["run_dir"], validation=validation,
               seed=ctx["seed"], config={"model": ctx["spec"].name, "data": "folder",
                                         "quick": ctx["quick"], "batch_size": ctx["batch_size"],
                                         "augment": ctx["augment"],
                                         "folder_sha256": ctx["folder"], **(config or {})})


def _train_pairs(model, *, spec, parts, run_dir, epochs, batch_size, quick, seed, **ctx):
    from zoo.training import samplers
    from zoo.training.recipes.metric import evaluate_verifier, pair_epochs

    ctx.update(spec=spec, run_dir=run_dir, epochs=epochs, batch_size=batch_size, quick=quick,
               seed=seed)
    n_pairs = 256 if quick else max(2000, 10 * len(parts["train"][1]))
    val = samplers.pairs_dataset(*parts["val"], 256 if quick else 1000, seed=1, batch_size=256)
    run = _fit(model, pair_epochs(*parts["train"], n_pairs, batch_size, seed), ctx,
               validation=val, config={"pairs_per_epoch": n_pairs})
    metrics, threshold, figures = evaluate_verifier(model, _direction(spec), parts, run_dir, quick)
    return {"metrics": metrics, "threshold": threshold, "figures": figures,
            "seconds": run.seconds, "epochs": epochs}


def _direction(spec):
    if spec.builder.endswith("build_siamese"):
        return "less" if spec.defaults.get("metric") == "euclidean" else "greater"
    return "greater"  # a match probability


def _train_embedding(model, *, spec, parts, run_dir, epochs, batch_size, quick, seed, **ctx):
    from zoo.training.recipes.metric import evaluate_embedding_model, pk_epochs

    ctx.update(spec=spec, run_dir=run_dir, epochs=epochs, batch_size=batch_size, quick=quick,
               seed=seed)
    y = parts["train"][1]
    classes = len(np.unique(y))
    k = int(min(4, np.bincount(y)[np.unique(y)].min()))
    p = int(max(2, min(classes, batch_size // k)))
    steps = 5 if quick else max(20, len(y) // (p * k))
    run = _fit(model, pk_epochs(*parts["train"], p, k, steps, seed), ctx,
               config={"p": p, "k": k, "steps": steps})
    metrics, threshold, figures = evaluate_embedding_model(model, parts, run_dir, quick)
    return {"metrics": metrics, "threshold": threshold, "figures": figures,
            "seconds": run.seconds, "epochs": epochs}


def _train_classifier(model, *, parts, batch_size, seed, **ctx):
    from zoo.training.datasets import to_float
    from zoo.training.runner import array_epochs

    ctx.update(batch_size=batch_size, seed=seed)
    (x, y), (x_val, y_val) = parts["train"], parts["val"]
    validation = array_epochs(to_float(x_val), y_val, 256).make(0)
    run = _fit(model, array_epochs(to_float(x), y, batch_size, seed=seed), ctx,
               validation=validation)
    return {"metrics": _accuracy(model, parts), "seconds": run.seconds, "epochs": ctx["epochs"]}


def _accuracy(model, parts):
    from zoo.training.datasets import to_float

    metrics = {}
    for key in ("val", "test"):
        x, y = parts[key]
        p = model.predict(to_float(x), batch_size=64, verbose=0)
        metrics[key] = {"accuracy": round(float(np.mean(np.argmax(p, 1) == y)), 4),
                        "n": int(len(y))}
    return {"test": metrics["test"], "val": metrics["val"]}


def _train_autoencoder(model, *, parts, batch_size, seed, **ctx):
    from zoo.training.datasets import to_float
    from zoo.training.recipes import ae_common as ae
    from zoo.training.runner import array_epochs

    ctx.update(batch_size=batch_size, seed=seed)
    x, x_val, x_test = (to_float(parts[k][0]) for k in ("train", "val", "test"))
    validation = array_epochs(x_val, x_val, 256).make(0)
    run = _fit(model, array_epochs(x, x, batch_size, seed=seed), ctx, validation=validation)
    k = model.code_size
    if k > min(len(x), int(np.prod(x.shape[1:]))):
        raise ValueError(f"PCA with {k} components needs at least {k} training images; the "
                         f"folder gives {len(x)}.")
    test_mse, pca, _, _ = ae.compare_with_pca(model, x, x_test)
    metrics = {"test": {"mse": round(test_mse, 6), f"pca{k}_mse": round(pca, 6),
                        "mse_ratio_to_pca": round(test_mse / max(pca, 1e-12), 4),
                        "n": int(len(x_test))}}
    return {"metrics": metrics, "seconds": run.seconds, "epochs": ctx["epochs"]}


def _train_face(model, *, spec, parts, run_dir, epochs, batch_size, seed, quick, **ctx):
    from zoo.training.datasets import to_float
    from zoo.training.runner import array_epochs
    from zoo.models.face_resnet import unfreeze_top

    ctx.update(spec=spec, batch_size=batch_size, seed=seed, quick=quick)
    (x, y), (x_val, y_val) = parts["train"], parts["val"]
    validation = array_epochs(to_float(x_val), y_val, 32).make(0)
    phases = [("head", epochs)] + ([("fine_tune", epochs)] if spec.name == "face_id_finetune"
                                   else [])
    seconds = 0.0
    for phase, n in phases:
        if phase == "fine_tune":
            unfreeze_top(model, 1e-4)
        run = _fit(model, array_epochs(to_float(x), y, batch_size, seed=seed),
                   {**ctx, "run_dir": Path(run_dir) / phase, "epochs": n},
                   validation=validation, config={"phase": phase})
        seconds += run.seconds
    return {"metrics": _accuracy(model, parts), "seconds": seconds,
            "epochs": sum(n for _, n in phases)}


_TRAIN = {"pair": _train_pairs, "embedding": _train_embedding, "classifier": _train_classifier,
          "autoencoder": _train_autoencoder, "face": _train_face}


# -- the record -------------------------------------------------------------------------


def _split_card(split, data, labels):
    card = dict(split["rule"])
    for key in ("train", "val", "test"):
        part = labels[split[key]]
        card[key] = {"images": int(len(part)), "classes": int(len(np.unique(part)))}
    if split["rule"]["by"] == "class":
        card["test"]["class_names"] = sorted({data.class_names[c] for c in labels[split["test"]]})
    return card


def _describe(split, labels, key):
    labels = labels[split[key]]
    by = split["rule"]["by"]
    what = (f"{len(np.unique(labels))} classes not trained on" if by == "class" and key == "test"
            else f"{len(np.unique(labels))} classes")
    return (f"{len(labels)} images of {what}, split by {by} "
            f"(val_split {split['rule']['val_split']}, seed {split['rule']['seed']})")


def _save_inputs(run_dir, spec, model, test_images):
    """The first held-out images as model inputs, for the exported test data."""
    from zoo.training.datasets import to_float
    from zoo.io import atomic_write_bytes
    import io

    x = to_float(np.asarray(test_images)[:16])
    if len(x) < 16:
        x = np.concatenate([x] * (-(-16 // len(x))))[:16]
    buffer = io.BytesIO()
    np.savez(buffer, image=x)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(run_dir / INPUTS_FILE, buffer.getvalue())


def _record_run(run_dir, result, spec, kind, shape, name, data, val_split, epochs, batch_size,
                augment, from_name, freeze, seed, quick, image_size):
    """Add the input size, preprocessing and command to result.json."""
    import json

    from zoo.io import atomic_write_text

    if kind != "face":
        result["input_shape"] = list(shape)
        result["preprocess"] = {
            "source": f"uint8 image file, grey or colour, read as "
                      f"{'grey' if shape[-1] == 1 else 'RGB'} and resized to {shape[0]}x{shape[1]} "
                      "by area averaging (zoo train --data)",
            "resize": [int(shape[0]), int(shape[1])], "channels": int(shape[-1])}
    args = [f"zoo train {name} --data {data.name}", f"--val-split {val_split}",
            f"--epochs {epochs}", f"--batch-size {batch_size}", f"--seed {seed}"]
    args += [f"--image-size {image_size[0]} {image_size[1]}"] if image_size else []
    args += [f"--channels {shape[-1]}"] if kind != "face" and shape[-1] != spec.input_shape[-1] else []
    args += ["--augment"] if augment else []
    args += [f"--from {shlex.quote(from_name)}"] if from_name else []
    args += ["--freeze"] if freeze else []
    args += ["--quick"] if quick else []
    result["command"] = " ".join(args)
    result["inputs"] = INPUTS_FILE
    atomic_write_text(run_dir / "result.json", json.dumps(result, indent=2))
    return result
