"""The photo side of the `zoo` command: `zoo face detect|verify|identify` and the
photo path of `zoo gallery enroll|identify` (ONNX only; no TensorFlow).

A photo with no usable face (none found, too small, unreadable) is skipped with a
`zoo: warning:` line on stderr; the command finishes the other photos and then fails
(exit 1) naming how many were skipped.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from zoo.faces.pipeline import FacePipeline, ManyFacesWarning

OVERLAY_COLOURS = ("#00ff00", "#ff9900", "#00ccff", "#ff00ff", "#ffff00")


def warn(text: str) -> None:
    """One `zoo: warning: ...` line on stderr."""
    print(f"zoo: warning: {text}", file=sys.stderr)


def photo_faces(pipeline: FacePipeline, paths, all_faces: bool) -> "PhotoRun":
    """The embedded faces of each photo, as an iterable `PhotoRun` of `(path, faces)`.

    Args:
        pipeline: the pipeline.
        paths: photo files.
        all_faces: keep every face (largest first) instead of the largest.
    """
    return PhotoRun(pipeline, paths, all_faces)


class PhotoRun:
    """Iterates `(path, faces)`; a photo without a usable face is warned about,
    skipped and recorded in `skipped`."""

    def __init__(self, pipeline, paths, all_faces):
        self.pipeline, self.paths, self.all_faces = pipeline, list(paths), all_faces
        self.skipped: list[str] = []

    def __iter__(self):
        for path in self.paths:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ManyFacesWarning)
                    faces = self.pipeline.faces(path, all_faces=self.all_faces)
                for w in caught:
                    warn(str(w.message))
            except (ValueError, OSError) as error:  # NoFaceError is a ValueError
                warn(f"skipped: {error}")
                self.skipped.append(str(path))
                continue
            yield path, faces

    def fail_if_skipped(self) -> None:
        """Raise `CommandFailed` when a photo was skipped."""
        if self.skipped:
            from zoo.cli import CommandFailed

            raise CommandFailed(f"{len(self.skipped)} of {len(self.paths)} photo(s) skipped (see "
                                f"the warnings above): {', '.join(self.skipped[:5])}")


def face_name(path, index, all_faces) -> str:
    """`PATH`, or `PATH[i]` for face i with --all."""
    return f"{path}[{index}]" if all_faces else str(path)


def draw_overlay(image, faces, path) -> None:
    """Write a PNG of `image` with each face's box, number and landmarks.

    Args:
        image: the uint8 photo.
        faces: its faces (boxes and landmarks).
        path: the PNG to write.
    """
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    width = max(2, round(max(canvas.size) / 400))
    for i, face in enumerate(faces):
        colour = OVERLAY_COLOURS[i % len(OVERLAY_COLOURS)]
        draw.rectangle(face.box, outline=colour, width=width)
        draw.text((face.box[0] + width, face.box[1] + width), f"{i} {face.confidence:.2f}", fill=colour)
        r = width + 1
        for x, y in face.landmarks:
            draw.ellipse((x - r, y - r, x + r, y + r), fill="#ff0000")
    canvas.save(path, format="PNG")


def cmd_detect(args) -> None:
    """`zoo face detect IMAGES... [--out DIR]`: one line per face, PNG overlays."""
    from zoo.faces.pipeline import read_photo

    pipeline = FacePipeline(embedder=None, upsample=args.upsample)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    skipped = []
    for path in args.images:
        try:
            image, name = read_photo(path)
            faces = pipeline.detect(image, name)
        except (ValueError, OSError) as error:
            warn(f"skipped: {error}")
            skipped.append(str(path))
            continue
        if not faces:
            warn(f"no face found in {path}")
        for i, face in enumerate(faces):
            points = " ".join(f"{x:.0f},{y:.0f}" for x, y in face.landmarks)
            left, top, right, bottom = face.box
            print(f"{path}[{i}] box={left},{top},{right},{bottom} confidence={face.confidence:.3f} "
                  f"landmarks={points}")
        if args.out:
            out = args.out / f"{Path(path).stem}.faces.png"
            draw_overlay(image, faces, out)
            print(f"  overlay {out}")
    if skipped:
        from zoo.cli import CommandFailed

        raise CommandFailed(f"{len(skipped)} of {len(args.images)} image(s) could not be read: "
                            f"{', '.join(skipped[:5])}")


def cmd_verify(args) -> None:
    """`zoo face verify A B`: `DISTANCE match|no match (threshold T, less)`; exit 0 either way."""
    from zoo.runtime.model import pair_score

    pipeline = FacePipeline(embedder=args.model, upsample=args.upsample)
    a = _one_face(pipeline, args.image_a)
    b = _one_face(pipeline, args.image_b)
    model = pipeline.embedder
    score = float(pair_score(a.embedding[None], b.embedding[None], model.distance)[0])
    rule = model.threshold
    value = float(rule["value"])
    same = score <= value if rule["direction"] == "less" else score >= value
    print(f"{score:.4f} {'match' if same else 'no match'} (threshold {value:.4f}, {rule['direction']})")


def _one_face(pipeline, path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ManyFacesWarning)
        (face,) = pipeline.faces(path)
    for w in caught:
        warn(str(w.message))
    return face


def enroll_photos(gallery, person, paths, all_faces) -> tuple[int, PhotoRun]:
    """Detect, embed and enroll the faces of `paths` into `gallery` as `person`.

    Returns:
        (faces added, the run with its skipped photos).
    """
    pipeline = FacePipeline(embedder=gallery.embedder)
    import numpy as np

    run, added = photo_faces(pipeline, paths, all_faces), 0
    for _path, faces in run:
        added += gallery.enroll_embeddings(person, np.stack([f.embedding for f in faces]),
                                           sources=Path(_path).name)
    return added, run


def identify_photos(gallery, paths, all_faces, top_k) -> PhotoRun:
    """Print `PATH PERSON SCORE` (`PATH[i]` with --all) and candidates per face."""
    import numpy as np

    pipeline = FacePipeline(embedder=gallery.embedder)
    run = photo_faces(pipeline, paths, all_faces)
    for path, faces in run:
        matches = gallery.identify_embeddings(np.stack([f.embedding for f in faces]), top_k=top_k)
        for i, match in enumerate(matches):
            print("\n".join(match.lines(face_name(path, i, all_faces))))
    return run


def cmd_identify(args) -> None:
    """`zoo face identify --gallery G IMAGES...`."""
    from zoo.retrieval import Gallery

    gallery = Gallery.load(args.gallery, load_model=True)
    _need_align(gallery)
    run = identify_photos(gallery, args.images, args.all, args.top_k)
    run.fail_if_skipped()


def takes_photos(gallery) -> bool:
    """Whether the gallery's model takes aligned chips, so image files are photos."""
    card = getattr(gallery.embedder, "card", None) or {}
    return bool(card.get("preprocess", {}).get("align"))


def _need_align(gallery):
    if not takes_photos(gallery):
        from zoo.cli import UsageError

        raise UsageError(f"The gallery's model {gallery.model.get('name')!r} takes no aligned face "
                         "chips, so it cannot read photos. Use a face_resnet gallery.")
