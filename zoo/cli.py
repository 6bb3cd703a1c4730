"""The `zoo` command.

Exit codes: 0 success, 1 a check or run failed, 2 bad usage (unknown model,
bad argument). Errors print one line, `zoo: error: ...`, not a traceback;
set ZOO_DEBUG=1 to see the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_ZOO_DIR = Path(__file__).resolve().parent
# Default run and artifact folders: the checkout's, or the working folder's for an installed wheel.
REPO = _ZOO_DIR.parent if (_ZOO_DIR.parent / "setup.cfg").is_file() else Path.cwd()


class CommandFailed(Exception):
    """A command ran but its result is a failure (exit code 1)."""


class UsageError(Exception):
    """The command cannot run as asked (exit code 2)."""


def main(argv=None) -> int:
    from zoo.io import Terminated, raise_on_signals

    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        # SIGTERM / SIGHUP unwind like Ctrl-C, so temp files and staging folders are removed.
        with raise_on_signals():
            args.func(args)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return EXIT_OK
    except BrokenPipeError:
        _exit_on_sigpipe()
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except Terminated as signal_:
        print(f"zoo: {signal_}", file=sys.stderr)
        return 128 + signal_.signum
    except Exception as error:  # noqa: BLE001 -- one clean line per failure
        if os.environ.get("ZOO_DEBUG"):
            raise
        from zoo.hub import SettingError
        from zoo.registry import UnknownModelError

        usage = isinstance(error, (UnknownModelError, UsageError, SettingError))
        message = " ".join(str(error).split()) or type(error).__name__  # one line, always
        print(f"zoo: error: {message}", file=sys.stderr)
        return EXIT_USAGE if usage else EXIT_FAILED


def _exit_on_sigpipe():
    """The reader of stdout went away (`zoo info NAME | head`): end silently,
    killed by SIGPIPE as Unix tools are (the shell shows status 141)."""
    import signal

    try:  # nothing more reaches the pipe, so the exit flush cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGPIPE)
    os._exit(128 + 13)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list the models")
    p.add_argument("--task", type=_task, help="only models of this task")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="show a model's spec and published card")
    p.add_argument("name")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("train", help="train a model with its recipe")
    p.add_argument("name")
    p.add_argument("--run-dir", type=Path, help="default: runs/NAME")
    p.add_argument("--epochs", type=_positive_int, help="override the recipe's epochs (>= 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true",
                   help="a tiny, fast run (smoke test, demo)")
    p.add_argument("--restart", action="store_true",
                   help="discard an interrupted run in the run folder instead of resuming it")
    p.add_argument("--strategy", choices=("default", "mirrored", "multiworker"),
                   default="default",
                   help="tf.distribute: mirrored = this machine's GPUs; multiworker = the "
                   "cluster in TF_CONFIG (run the same command on every worker)")
    _data_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a trained or published model")
    p.add_argument("name")
    p.add_argument("--run-dir", type=Path,
                   help="evaluate RUN_DIR/model.keras instead of the published weights")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("export", help="export a trained model to ONNX / SavedModel")
    p.add_argument("name")
    p.add_argument("--run-dir", type=Path, help="the training run (default: runs/NAME)")
    p.add_argument("--format", nargs="+", choices=("onnx", "savedmodel"),
                   default=["onnx", "savedmodel"],
                   help="formats to write (default: both; ONNX is always written)")
    p.add_argument("--out", type=Path, help="default: saved_models/NAME")
    p.add_argument("--force", action="store_true", help="replace an existing artifact")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("check", help="re-run the parity checks of an artifact")
    p.add_argument("target", help="a model name or an artifact folder")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("verify", help="1:1: score two images and decide at the card threshold")
    p.add_argument("model", help="a verification or embedding model name, or an artifact folder")
    p.add_argument("image_a", type=Path, help="an image file or a .npy of one image")
    p.add_argument("image_b", type=Path)
    p.add_argument("--resize", action="store_true",
                   help="resize images to the model's input size (when its card allows)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("pull", help="download and verify a model's published files")
    p.add_argument("name")
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("face", help="faces in photos: detect, verify, identify (ONNX only)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("detect", help="print each face's box, confidence and landmarks")
    a.add_argument("images", nargs="+", type=Path, help="photo files (PNG, JPEG, ...)")
    a.add_argument("--out", type=Path, help="write a PNG overlay per photo into this folder")
    _upsample_option(a)
    a.set_defaults(func=_face("cmd_detect"))
    a = actions.add_parser("verify", help="1:1 on the largest face of two photos")
    a.add_argument("image_a", type=Path)
    a.add_argument("image_b", type=Path)
    a.add_argument("--model", default="face_resnet", help="the embedding model (default: face_resnet)")
    _upsample_option(a)
    a.set_defaults(func=_face("cmd_verify"))
    a = actions.add_parser("identify", help="name the person of each face in photos (1:N)")
    a.add_argument("--gallery", type=Path, required=True, help="a face_resnet gallery folder")
    a.add_argument("--top-k", type=_positive_int, default=1, help="candidates shown per face")
    a.add_argument("--all", action="store_true", help="every face of each photo, largest first")
    a.add_argument("images", nargs="+", type=Path, help="photo files")
    a.set_defaults(func=_face("cmd_identify"))

    p = sub.add_parser("gallery", help="enroll people and identify images (1:N, open set)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in (("enroll", "embed images and add them to a person"),
                         ("identify", "name the person in each image, or 'unknown'"),
                         ("list", "the enrolled people and their image counts"),
                         ("remove", "forget a person"),
                         ("migrate", "convert a gallery.json folder to gallery.db (SQLite)"),
                         ("export", "write an interchange copy (npz)")):
        a = actions.add_parser(action, help=text)
        a.add_argument("--gallery", type=Path, required=True, help="the gallery folder")
        a.add_argument("--check", action="store_true",
                       help="first run PRAGMA integrity_check and the content checks on "
                            "gallery.db (a line on stderr; exit 1 if it fails)")
        if action == "enroll":
            a.add_argument("--model", help="model NAME or artifact DIR (needed for a new gallery)")
        if action in ("enroll", "remove"):
            a.add_argument("--person", required=True)
        if action == "list":
            a.add_argument("--person", help="list this person's images (id, source file, time)")
        if action == "export":
            a.add_argument("--format", choices=["npz"], default="npz")
            a.add_argument("--out", type=Path, required=True, help="the file to write (.npz)")
        if action == "identify":
            a.add_argument("--top-k", type=_positive_int, default=1, help="candidates shown per image")
            a.add_argument("--faiss-above", type=_non_negative_int, metavar="N",
                           help="search with a faiss flat index when the gallery holds more "
                                "than N images and faiss is installed (same people, float32 "
                                "scores); default: always the exact NumPy search")
        if action in ("enroll", "identify"):
            a.add_argument("--resize", action="store_true",
                           help="resize images to the model's input size (when its card allows)")
            a.add_argument("--all", action="store_true",
                           help="photos for a face model: every face, largest first (PATH[i])")
            a.add_argument("--framed", action="store_true",
                           help="image files for a face model are framed faces (ORL-style): "
                                "skip the face detector")
            a.add_argument("images", nargs="+", type=Path,
                           help=".npy arrays (H,W) or (N,H,W), or image files (photos, for a "
                                "model whose card aligns faces: each is run through the detector)")
        a.set_defaults(func=cmd_gallery)
    return parser


def _data_options(parser):
    """`zoo train NAME --data DIR` and its options (zoo.training.folder)."""
    g = parser.add_argument_group("your own images (--data)")
    g.add_argument("--data", type=Path, metavar="DIR",
                   help="train on DIR/CLASS/IMAGE files (PNG, JPEG, BMP, GIF; grey or colour)")
    g.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"),
                   help="resize every image to H x W (default: the entry's input size)")
    g.add_argument("--channels", type=int, choices=(1, 3),
                   help="1 = grey, 3 = RGB network input (default: the entry's)")
    g.add_argument("--val-split", type=float, default=0.2, metavar="F",
                   help="held out for validation, and as much again for the test: by class for "
                        "embeddings and verification, by image otherwise (default 0.2)")
    g.add_argument("--batch-size", type=int, metavar="N", help="default: the family's")
    g.add_argument("--augment", action="store_true", help="random flips, shifts, brightness")
    g.add_argument("--from", dest="from_name", metavar="NAME",
                   help="start from a published entry's weights (layers of the same name and shape)")
    g.add_argument("--freeze", action="store_true",
                   help="keep the --from weights frozen (approach 1); default: fine-tune them")
    g.add_argument("--strict", action="store_true",
                   help="refuse an unreadable image instead of skipping it with a warning")
    g.add_argument("--photos", action="store_true",
                   help="face entries: find the largest face of each photo (default: framed faces)")


def _train_data(args, spec, run_dir):
    """The `--data` run of `zoo train` (exit 2 for a --data option without --data)."""
    if args.data is None:
        given = [f for f in ("image_size", "channels", "batch_size", "from_name")
                 if getattr(args, f)]
        given += [f for f in ("augment", "freeze", "strict", "photos") if getattr(args, f)]
        if given or args.val_split != 0.2:
            flags = ", ".join("--" + f.replace("_name", "").replace("_", "-") for f in given)
            raise UsageError(f"{flags or '--val-split'} applies to training on your own "
                             "images; add --data DIR.")
        return None
    from zoo.training.folder import train_folder

    return train_folder(spec.name, args.data, run_dir, image_size=args.image_size,
                        channels=args.channels, val_split=args.val_split, epochs=args.epochs,
                        batch_size=args.batch_size,
                        augment=args.augment, from_name=args.from_name, freeze=args.freeze,
                        seed=args.seed, quick=args.quick, strict=args.strict, photos=args.photos)


def _upsample_option(parser):
    parser.add_argument("--upsample", default="auto", type=_upsample,
                        help="0 finds faces of 80x80 px and up, 1 of 40x40 (4x slower); "
                             "auto (default) tries 1 when 0 finds none")


def _upsample(text):
    """argparse type: "auto", 0, 1 or 2."""
    if text == "auto":
        return text
    if text in ("0", "1", "2"):
        return int(text)
    raise argparse.ArgumentTypeError(f"must be auto, 0, 1 or 2. Received: {text!r}")


def _face(name):
    """A command of `zoo.faces.commands`, imported when it runs."""
    def run(args):
        from zoo.faces import commands

        return getattr(commands, name)(args)

    return run


def _positive_int(text) -> int:
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int (1 or more). Received: {text!r}")
    return value


def _task(text) -> str:
    """argparse type: one of the registry's tasks."""
    from zoo.registry import TASKS

    if text not in TASKS:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(TASKS)}. Received: {text!r}")
    return text


def _non_negative_int(text) -> int:
    """argparse type: an int >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative int. Received: {text!r}")
    return value


def cmd_list(args):
    import zoo

    names = zoo.list_models(args.task)
    width = max([len(n) for n in names] + [4])
    print(f"{'name':<{width}}  {'task':<14}  {'weights':<7}  summary")
    for name in names:
        spec = zoo.info(name)
        weights = "yes" if spec.pretrained else "-"
        print(f"{name:<{width}}  {spec.task:<14}  {weights:<7}  {spec.summary}")


def cmd_info(args):
    import zoo
    from zoo import hub

    spec = zoo.info(args.name)
    fields = spec.to_dict()
    card = (hub.published_dir(spec.name) or hub.cache_dir(spec)) / "card.json"
    if card.exists():
        try:
            fields["card"] = json.loads(card.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise CommandFailed(f"{card} is not valid JSON ({error}). Restore it (`git "
                                f"checkout` in a checkout, else reinstall the weights wheel "
                                f"or `zoo pull {spec.name}` again).") from None
    print(json.dumps(fields, indent=2))


def cmd_train(args):
    import zoo
    from zoo.training import distribute
    from zoo.training.runner import ResumeMismatchError

    spec = zoo.info(args.name)
    run_dir = args.run_dir or REPO / "runs" / spec.name
    try:
        # First: MultiWorkerMirroredStrategy must exist before TensorFlow runs an op.
        strategy = distribute.make_strategy(args.strategy)
    except distribute.StrategyConfigError as error:
        raise UsageError(str(error)) from error
    recipe = spec.resolve_recipe()
    if args.restart:
        from zoo.training.runner import discard_interrupted

        discard_interrupted(run_dir)
    with strategy.scope():  # the recipe builds, compiles and trains its models here
        # Each worker but the chief writes its own copy of the run folder.
        own_dir = distribute.worker_dir(run_dir, strategy)
        try:
            result = _train_data(args, spec, own_dir) or recipe.train(
                own_dir, epochs=args.epochs, seed=args.seed, quick=args.quick)
        except ResumeMismatchError as error:
            raise UsageError(str(error)) from None
    print(json.dumps({"run_dir": str(own_dir), "metrics": result["metrics"],
                      "seconds": result["seconds"]}, indent=2))


def cmd_eval(args):
    import zoo
    from zoo.progress import heartbeat

    spec = zoo.info(args.name)
    if args.run_dir:
        _check_run_of(spec, args.run_dir)
        _refuse_folder_run(args.run_dir)
    # Progress lines on stderr; stdout holds only the JSON.
    with heartbeat(f"loading {spec.name} ({args.run_dir or 'published weights'})"):
        if args.run_dir:
            from zoo.training.recipes.common import load_run_model

            model = load_run_model(args.run_dir)
        else:
            model = zoo.load(spec.name)
        recipe = spec.resolve_recipe()
    with heartbeat(f"evaluating {spec.name} with its recipe"):
        metrics = recipe.evaluate(model)
    print(json.dumps(metrics, indent=2))


def cmd_export(args):
    import zoo
    from zoo.export.publish import publish

    spec = zoo.info(args.name)
    _check_run_of(spec, args.run_dir or REPO / "runs" / spec.name)
    report = publish(spec, run_dir=args.run_dir or REPO / "runs" / spec.name,
                     out=args.out or REPO / "saved_models" / spec.name,
                     formats=args.format, force=args.force)
    print(report.table())
    if not report.ok:
        raise CommandFailed("parity check failed; nothing was published")


def cmd_check(args):
    from zoo.export.publish import check_artifact

    target = Path(args.target)
    if not target.is_dir() and (os.sep in args.target or "/" in args.target
                                or target.exists() or args.target.startswith(".")):
        raise UsageError(f"{args.target} is not an artifact folder: "
                         f"{'no such folder' if not target.exists() else 'not a folder'}. "
                         "Pass a folder holding card.json (saved_models/NAME) or a model "
                         f"name. Received: {args.target!r}")
    if not target.is_dir():
        import zoo
        from zoo import hub

        spec = zoo.info(args.target)
        target = hub.LOCAL_WEIGHTS_DIR / spec.name  # a checkout's published folder
        if spec.derived or not target.is_dir():  # the verified cache `zoo pull` fills (and builds)
            target = hub.pull(spec)
    report = check_artifact(target)  # raises unless every hash and the stored test data match
    card = json.loads((target / "card.json").read_text())
    print(report.table())
    print(f"{target}: {len(card['files'])} files match their sha256, the stored test data of "
          f"{len(card['graphs'])} graph(s) reproduces, {report.summary()}")
    if not report.ok:
        raise CommandFailed(f"parity check failed for {target}")


def _refuse_folder_run(run_dir):
    """`zoo eval` measures on the recipe's built-in dataset, which is not the split
    of a `zoo train --data` run: refuse it instead of printing unrelated figures."""
    try:
        dataset = json.loads((Path(run_dir) / "result.json").read_text()).get("dataset") or {}
    except (OSError, ValueError, AttributeError):
        return
    if dataset.get("source") == "folder":
        raise UsageError(
            f"{run_dir} was trained on the folder {dataset.get('name')!r}; `zoo eval` measures "
            f"on the recipe's built-in dataset, not on that folder's split. The held-out "
            f"figures are in {Path(run_dir) / 'result.json'} and in the card of `zoo export "
            f"--run-dir {run_dir} --out DIR`. Received: --run-dir={str(run_dir)!r}")


def _check_run_of(spec, run_dir):
    """Refuse a run folder whose model is not an entry `spec` (another model's run)."""
    import zipfile

    run_dir = Path(run_dir)
    recorded = set()
    for config in (run_dir / "config.json", *sorted(run_dir.glob("*/config.json"))):
        try:
            model = json.loads(config.read_text()).get("model")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(model, str):
            recorded.add(model)
    if recorded and spec.name not in recorded:
        raise UsageError(_other_run(spec, run_dir, f"a run of {sorted(recorded)[0]!r}"))
    if recorded:
        return
    path = run_dir / "model.keras"
    try:
        with zipfile.ZipFile(path) as archive:
            stored = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return  # missing or unreadable: load_run_model says so
    import zoo

    fresh = zoo.create(spec.name)
    kind = (stored.get("class_name"), (stored.get("config") or {}).get("name"))
    if kind != (type(fresh).__name__, fresh.name):
        raise UsageError(_other_run(spec, run_dir, f"a {kind[0]} named {kind[1]!r}"))
    shapes = sorted(list(layer["config"]["batch_shape"][1:]) for layer in
                    (stored.get("config") or {}).get("layers", [])
                    if layer.get("class_name") == "InputLayer")
    want = sorted(list(i.shape[1:]) for i in fresh.inputs)
    if shapes and shapes != want:
        raise UsageError(_other_run(spec, run_dir, f"a model with inputs {shapes}, not {want}"))


def _other_run(spec, run_dir, what):
    return (f"{run_dir} is not a run of {spec.name!r}: it holds {what}. Pass --run-dir of a "
            f"{spec.name} run (`zoo train {spec.name} --run-dir DIR`), or the model name of "
            f"this run. Received: --run-dir={str(run_dir)!r}")


def cmd_verify(args):
    """Print `SCORE match|no match (threshold T, DIRECTION)`; exit 0 either way.
    A card without a threshold (cross_domain) gives `SCORE no decision (...)`."""
    from zoo import runtime
    from zoo.retrieval import read_images

    model = runtime.load(str(args.model))
    channels = model.card["preprocess"].get("channels", 1)
    pair = []
    for path in (args.image_a, args.image_b):
        image = read_images(path, channels=channels)
        one = image.ndim == 2 or (image.ndim == 3 and channels > 1 and image.shape[-1] in (1, 3, 4))
        if not one:
            raise UsageError(f"{str(path)!r} holds {image.shape} but verify takes one image per file; "
                             f"save one image per .npy. Received: shape={image.shape}")
        pair.append(image[None])
    if model.threshold is None and "embed" in model.graphs and model.distance:
        from zoo.runtime.model import pair_score

        # cross_domain: a score, but no rule to decide with.
        a, b = (model.embed(x, resize=args.resize) for x in pair)
        closer = "greater" if model.distance == "cosine" else "less"
        print(f"{float(pair_score(a, b, model.distance)[0]):.4f} no decision (the card of "
              f"{model.name} has no threshold; {model.distance}, {closer} is closer)")
        return
    score, is_match = model.verify(*pair, resize=args.resize)
    rule = model.threshold
    print(f"{float(score[0]):.4f} {'match' if is_match[0] else 'no match'} "
          f"(threshold {float(rule['value']):.4f}, {rule['direction']})")


def cmd_pull(args):
    import zoo
    from zoo import hub

    print(hub.pull(zoo.info(args.name)))


def cmd_gallery(args):
    """`zoo gallery enroll|identify|list|remove|migrate|export`; the folder's
    gallery.db records its model. Each enroll and remove is one transaction."""
    import numpy as np

    from zoo.retrieval import Gallery, migrate_gallery, read_images
    from zoo.store import DB_NAME

    folder = args.gallery
    exists = (folder / DB_NAME).is_file() or (folder / "gallery.json").is_file()
    if args.action == "migrate":
        if not exists:
            Gallery.load(folder)  # the "No gallery" error
        converted = migrate_gallery(folder)
        print(f"migrated {folder} to {DB_NAME}" if converted
              else f"{folder} is already a {DB_NAME} gallery; nothing to do")
    if args.check and exists:
        _check_gallery(folder)
    if args.action == "enroll":
        if exists:
            from zoo import runtime

            # load() refuses a --model other than the one the gallery was built with.
            embedder = runtime.load(args.model) if args.model else None
            gallery = Gallery.load(folder, embedder, load_model=embedder is None,
                                   resize=args.resize, rows=False)
        elif args.model is None:
            raise ValueError(f"{folder} holds no gallery yet; pass --model NAME|DIR to create "
                             "one. Received: --model=None")
        else:
            gallery = Gallery.from_model(args.model, resize=args.resize)
        photos, arrays = _split_photos(gallery, args)
        # Embed everything before touching the folder: a refused image creates nothing.
        vectors, sources = [], []
        from tqdm import tqdm

        # A bar on a terminal when there is more than one file to embed.
        for path in tqdm(arrays, desc="embedding", unit="file", leave=False,
                         disable=None if len(arrays) > 1 else True):
            embedded = gallery._embed(read_images(path))
            vectors.append(embedded)
            sources += [path.name] * len(embedded)
        if gallery._store is None:
            gallery._attach(folder)
        added = gallery.enroll_embeddings(args.person, np.concatenate(vectors), sources) \
            if vectors else 0  # one transaction for all the arrays
        run = None
        if photos:
            from zoo.faces.commands import enroll_photos

            faces, run = enroll_photos(gallery, args.person, photos, args.all)
            added += faces  # one transaction per photo: what was enrolled is kept
        people = gallery._store.people()
        print(f"enrolled {added} image(s) of {args.person}; "
              f"{len(people)} people, {sum(n for _, n in people)} images in {folder}")
        if run is not None:
            run.fail_if_skipped()
    elif args.action == "identify":
        gallery = Gallery.load(folder, load_model=True, resize=args.resize,
                               faiss_above=args.faiss_above)
        photos, arrays = _split_photos(gallery, args)
        run = None
        if photos:
            from zoo.faces.commands import identify_photos

            run = identify_photos(gallery, photos, args.all, args.top_k)
        for path in arrays:
            images = read_images(path)
            matches = gallery.identify(images, top_k=args.top_k)
            for i, match in enumerate(matches):
                name = f"{path}[{i}]" if images.ndim > 2 else str(path)
                print("\n".join(match.lines(name)))
        if run is not None:
            run.fail_if_skipped()
    elif args.action == "list":
        gallery = Gallery.load(folder, rows=False)
        if args.person is None:
            for person, count in gallery._store.people():
                print(f"{person} {count}")
        else:
            rows = gallery._store.rows(args.person)
            if not rows:
                _not_enrolled(gallery, args.person)
            print(f"{args.person} {len(rows)}")
            for row_id, source, enrolled_at in rows:
                print(f"  {row_id} {source or '-'} {enrolled_at}")
    elif args.action == "remove":
        gallery = Gallery.load(folder, rows=False)
        removed = gallery.remove(args.person)  # one transaction
        print(f"removed {args.person} ({removed} image(s)); "
              f"{len(gallery._store.people())} people left")
    elif args.action == "export":
        _export_npz(folder, args.out)
        print(f"wrote {args.out}")


def _not_enrolled(gallery, person):
    from zoo.retrieval import UnknownPersonError
    import difflib

    names = [p for p, _ in gallery._store.people()]
    close = difflib.get_close_matches(str(person), names, n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownPersonError(f"{person!r} is not enrolled.{hint} Enrolled: {len(names)} people. "
                             f"Received: --person={person!r}")


def _check_gallery(folder):
    """PRAGMA integrity_check and the content checks of gallery.db, or raise."""
    from zoo.retrieval import UNKNOWN, GalleryError, migrate_gallery
    from zoo.store import DB_NAME, Store

    migrate_gallery(folder)
    with Store(folder / DB_NAME) as store:
        problems = store.integrity_check()
        if problems:
            raise GalleryError(f"{folder / DB_NAME} fails PRAGMA integrity_check: "
                               f"{'; '.join(problems[:5])}. Restore it from a backup.")
        _, labels, _, _ = store.load(reserved=(UNKNOWN,))
    print(f"check ok: {folder / DB_NAME} (integrity_check ok, {len(labels)} embeddings "
          f"finite, right width)", file=sys.stderr)


def _export_npz(folder, out):
    """embeddings float32 [M, D], person [M], source [M], enrolled_at [M], meta (JSON)."""
    import io
    import json

    import numpy as np

    from zoo.io import atomic_write_bytes
    from zoo.retrieval import UNKNOWN, migrate_gallery
    from zoo.store import DB_NAME, Store

    migrate_gallery(folder)
    with Store(folder / DB_NAME) as store:
        meta, labels, matrix, rows = store.load(reserved=(UNKNOWN,))
    buffer = io.BytesIO()
    np.savez(buffer, embeddings=matrix, person=np.array(labels, dtype=str),
             source=np.array([s or "" for s, _ in rows], dtype=str),
             enrolled_at=np.array([t for _, t in rows], dtype=str),
             meta=np.array(json.dumps(meta)))
    atomic_write_bytes(Path(out), buffer.getvalue())


def _split_photos(gallery, args):
    """(photo files, other inputs) of `args.images`: image files are photos when the
    gallery's model aligns faces (its card's `align` step) and --framed is not given."""
    from zoo.faces.commands import takes_photos

    if args.framed or not takes_photos(gallery):
        return [], list(args.images)
    photos = [p for p in args.images if p.suffix.lower() != ".npy"]
    return photos, [p for p in args.images if p.suffix.lower() == ".npy"]


if __name__ == "__main__":
    sys.exit(main())
