"""An identity gallery: enroll people, then identify (1:N, open set) or verify (1:1).

    gallery = Gallery.from_model("saved_models/siamese_contrastive")
    gallery.enroll("alice", alice_images)
    match = gallery.identify(probe_images)[0]   # Match(person, score, candidates)
    gallery.save("galleries/office")            # Gallery.load("galleries/office", load_model=True)

A gallery folder holds `gallery.db`, a SQLite database (`zoo.store`). A
gallery that was loaded from or saved to a folder writes each `enroll` and
`remove` to it at once, in one transaction each, so several processes can
enroll into one folder and nothing is lost. A folder in the older format
(`gallery.json` + `embeddings-*.npy`) is converted once, on its first load
or by `migrate_gallery`; its files are kept.

Scores are in the units of the model card: the cosine similarity for
`distance="cosine"` (higher = closer, threshold direction "greater") and the
Euclidean distance for `distance="euclidean"` (lower = closer, direction
"less"). Ranking follows that direction everywhere. A person's score is the
best score over all of their enrolled images (nearest neighbour).

Search is exact (`zoo.search`). The NumPy search scores the gallery in
float32 tiles to find candidates, then rescores and orders them in float64
(ties by name); a bound on the float32 error proves that no one else can
enter the top k, and a query without that margin is answered by a float64
brute force. So its people, order and scores are those of a float64 brute
force over every image. Above `faiss_above` vectors (when faiss is
importable) a faiss flat index (`IndexFlatIP` on unit vectors, `IndexFlatL2`)
searches in float32 instead: the same people in the same order except for
near-ties, and scores that agree to float32 precision (~1e-6 for cosine),
so only a score that close to the threshold may decide differently.

Importing this module imports NumPy only: the runtime (onnxruntime) and faiss
are imported when first used.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import io
import json
import logging
import os
import re
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from zoo import search
from zoo.io import atomic_write_bytes, atomic_write_text, exclusive_lock, sha256_file, sweep_stale
from zoo.store import DB_NAME, FAISS_NAME, GalleryError, Store

__all__ = ["UNKNOWN", "Gallery", "GalleryError", "Match", "UnknownPersonError",
           "migrate_gallery",
           "read_images"]

log = logging.getLogger("zoo.gallery")

UNKNOWN = "unknown"
SCHEMA = 1
GALLERY_JSON = "gallery.json"
DISTANCES = {"cosine": "greater", "euclidean": "less"}  # distance -> its score direction
_ARRAY_NAME = re.compile(r"^embeddings-[0-9a-f]{12}\.npy$")


class UnknownPersonError(GalleryError, LookupError):
    """A person who is not enrolled."""


@dataclasses.dataclass(frozen=True)
class Match:
    """The identification of one query.

    Attributes:
        person: the best candidate if its score passes the threshold (or if
            the gallery has no threshold), else `UNKNOWN`.
        score: the best candidate's score, also when `person` is `UNKNOWN`.
        candidates: up to `top_k` `(person, score)` pairs, best first.
    """

    person: str
    score: float
    candidates: tuple

    @property
    def is_known(self) -> bool:
        return self.person != UNKNOWN


@dataclasses.dataclass(frozen=True)
class _Index:
    """The enrolled people (sorted) and their vectors, one run of rows each."""

    people: tuple  # [P] names
    groups: search.Groups


class Gallery:
    """Embeddings of enrolled people, searched by nearest neighbour.

    Args:
        embedder: any object with `embed(images) -> [N, D]`, e.g. a
            `zoo.runtime.RuntimeModel`; None for a gallery fed with
            `enroll_embeddings` / `identify_embeddings` only.
        distance: "cosine" (scores are similarities) or "euclidean" (scores
            are distances).
        threshold: the score a best candidate must pass to be identified;
            None means closed set: `identify` never answers `UNKNOWN`. A card
            threshold is calibrated for 1:1 pairs; in 1:N every enrolled
            person is one more chance of a false accept, so recalibrate large
            galleries (e.g. `zoo.evaluation.open_set_dir_at_far`).
        direction: "greater" (cosine) or "less" (euclidean); None derives it
            from `distance`. Given, it must agree with `distance`.
        faiss_above: search with a faiss flat index (float32) when the gallery
            holds more than this many vectors and faiss is importable; None
            always uses the exact NumPy search (see the module docstring).
        resize: call `embedder.embed(images, resize=True)`, so images of
            another size are resized when the model's card allows it (e.g.
            112x92 ORL faces for a 56x46 face model).
    """

    def __init__(self, embedder=None, *, distance="cosine", threshold=None, direction=None,
                 faiss_above=None, resize=False):
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {tuple(DISTANCES)}. "
                             f"Received: distance={distance!r}")
        natural = DISTANCES[distance]
        if direction is not None and direction != natural:
            kind = "similarities (higher" if natural == "greater" else "distances (lower"
            raise ValueError(
                f"With distance={distance!r} scores are {kind} = closer), so direction must "
                f"be {natural!r} or None. Received: direction={direction!r}")
        if faiss_above is not None and (isinstance(faiss_above, bool)
                                        or not isinstance(faiss_above, int) or faiss_above < 0):
            raise ValueError("faiss_above must be a non-negative int or None. "
                             f"Received: faiss_above={faiss_above!r}")
        if embedder is not None and not callable(getattr(embedder, "embed", None)):
            raise ValueError("embedder must have an `embed(images) -> [N, D]` method. "
                             f"Received: embedder={embedder!r}")
        self.embedder = embedder
        self.distance = distance
        self.direction = natural
        self.threshold = threshold
        self.faiss_above = faiss_above
        self.resize = bool(resize)
        self.model = _model_info(embedder)
        self._rows = {}  # person -> [n, D] float32 (unit rows for cosine)
        self._dim = None
        self._cache = {}
        self._store = None  # the zoo.store.Store this gallery writes through to
        self._partial = False  # attached without reading its rows (the CLI's enroll)

    # -- construction -------------------------------------------------------

    @classmethod
    def from_model(cls, name_or_dir, *, threshold="card", faiss_above=None,
                   intra_op_num_threads=None, resize=False) -> Gallery:
        """A gallery embedding with a published ONNX model (`zoo.runtime`).

        Args:
            name_or_dir: an artifact folder or a registry name.
            threshold: "card" takes value and direction from the card; None
                makes a closed-set gallery; a number replaces the value.
            faiss_above: see `Gallery`.
            intra_op_num_threads: onnxruntime threads per operator.
            resize: see `Gallery`.
        """
        from zoo import runtime

        model = runtime.load(name_or_dir, intra_op_num_threads=intra_op_num_threads)
        if "embed" not in model.graphs or model.distance not in DISTANCES:
            raise GalleryError(
                f"A gallery needs an 'embed' graph and a card 'distance'; {model.name!r} has "
                f"graphs={list(model.graphs)}, distance={model.distance!r}. Pick an embedding "
                f"model (`zoo list --task embedding`). Received: name_or_dir={str(name_or_dir)!r}")
        rule = model.threshold if threshold == "card" else None
        if rule is not None and rule["direction"] != DISTANCES[model.distance]:
            raise GalleryError(
                f"The card threshold of {model.name!r} has direction {rule['direction']!r}, so it "
                f"scores something other than the {model.distance} of embeddings. Pass "
                f"threshold=None (closed set) or a value. Received: threshold={rule!r}")
        value = rule["value"] if rule is not None else (None if threshold == "card" else threshold)
        gallery = cls(model, distance=model.distance, threshold=value, faiss_above=faiss_above,
                      resize=resize)
        if Path(name_or_dir).is_dir():
            gallery.model["source"] = str(Path(name_or_dir).resolve())
        return gallery

    @property
    def threshold(self):
        """The decision threshold (a float), or None for a closed set."""
        return self._threshold

    @threshold.setter
    def threshold(self, value):
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, (int, float, np.number))
                                  or not np.isfinite(value)):
            raise ValueError("threshold must be a finite number or None. "
                             f"Received: threshold={value!r}")
        self._threshold = None if value is None else float(value)

    # -- enrolment ----------------------------------------------------------

    def enroll(self, person, images) -> int:
        """Embed `images` and add them to `person` (created if new).

        Args:
            person: a non-empty name; not "unknown", no control characters.
            images: whatever the embedder takes, e.g. (H, W) or (N, H, W)
                uint8 for a runtime model. Its errors (wrong size, channels,
                range) are raised unchanged.

        Returns:
            The number of images added.
        """
        _check_person(person)
        return self.enroll_embeddings(person, self._embed(images))

    def enroll_embeddings(self, person, embeddings, sources=None) -> int:
        """Add precomputed `embeddings` [N, D] (or one [D]) to `person`.

        Args:
            sources: a file name per row (or one for all), kept in the store.
        """
        _check_person(person)
        rows = self._vectors(embeddings, "embeddings")
        if self._store is not None:
            if sources is None or isinstance(sources, str):
                sources = [sources] * rows.shape[0]
            self._store.add(person, rows, sources)  # one transaction
        old = self._rows.get(person)
        self._rows[person] = rows if old is None else np.concatenate([old, rows])
        self._dim = rows.shape[1]
        self._cache.clear()
        return rows.shape[0]

    def enroll_many(self, people, embeddings, *, batch=10_000, progress=None) -> int:
        """Bulk enrolment: row i of `embeddings` [N, D] belongs to `people[i]`.

        The rows go `batch` at a time (one transaction each for an attached
        gallery), so memory holds one batch in float64 at most; a batch that
        fails leaves the earlier ones enrolled.

        Args:
            people: N names (checked like `enroll`'s).
            embeddings: [N, D] numbers.
            batch: rows per step.
            progress: a callable(done, total), or True for a line on stderr.
        """
        import sys

        if len(people) != len(embeddings):
            raise ValueError(f"people must have one name per row. Received: {len(people)} "
                             f"names for {len(embeddings)} rows")
        for person in dict.fromkeys(people):
            _check_person(person)
        if progress is True:
            def progress(done, total):
                print(f"\renrolled {done}/{total}", end="\n" if done == total else "",
                      file=sys.stderr, flush=True)
        total = len(people)
        for start in range(0, total, batch):
            names = list(people[start:start + batch])
            rows = self._vectors(embeddings[start:start + batch], "embeddings")
            if self._store is not None:
                self._store.add(names, rows)  # one transaction per batch
            order = sorted(range(len(names)), key=names.__getitem__)
            for person in dict.fromkeys(names[i] for i in order):
                mine = rows[[i for i in order if names[i] == person]]
                old = self._rows.get(person)
                self._rows[person] = mine if old is None else np.concatenate([old, mine])
            self._dim = rows.shape[1]
            self._cache.clear()
            if progress:
                progress(min(start + batch, total), total)
        return total

    def remove(self, person) -> int:
        """Forget `person`; returns the number of images removed."""
        if self._partial:
            removed = self._store.remove(person)
            if not removed:
                names = [p for p, _ in self._store.people()]
                close = difflib.get_close_matches(str(person), names, n=3)
                hint = f" Did you mean: {', '.join(close)}?" if close else ""
                raise UnknownPersonError(
                    f"{person!r} is not enrolled.{hint} Enrolled: {_short_list(names)}. "
                    f"Received: person={person!r}")
            return removed
        rows = self._rows.pop(self._known(person))
        if self._store is not None:
            self._store.remove(person)  # one transaction
        if not self._rows:
            self._dim = None
        self._cache.clear()
        return rows.shape[0]

    def people(self) -> list:
        """`[(person, image count)]`, sorted by name."""
        return [(p, self._rows[p].shape[0]) for p in sorted(self._rows)]

    def __len__(self):
        """The number of enrolled people (see `num_images` for vectors)."""
        return len(self._rows)

    def __contains__(self, person):
        return person in self._rows

    @property
    def num_images(self) -> int:
        return sum(r.shape[0] for r in self._rows.values())

    @property
    def backend(self) -> str:
        """"faiss" or "numpy": what `identify` uses at the current size."""
        use = self.faiss_above is not None and self.num_images > self.faiss_above
        return "faiss" if use and _faiss() is not None else "numpy"

    def __repr__(self):
        rule = "closed set" if self.threshold is None else f"{self.direction} {self.threshold:g}"
        return (f"Gallery(people={len(self)}, images={self.num_images}, "
                f"distance={self.distance!r}, threshold={rule}, backend={self.backend!r})")

    # -- search -------------------------------------------------------------

    def identify(self, images, top_k=1) -> list:
        """Identify each image among the enrolled people (1:N).

        Args:
            images: a batch the embedder takes.
            top_k: candidates per query, capped at the number of people.

        Returns:
            One `Match` per image.
        """
        top_k = _check_top_k(top_k)
        self._index()  # an empty gallery fails before the embedder runs
        return self.identify_embeddings(self._embed(images), top_k)

    def identify_embeddings(self, embeddings, top_k=1) -> list:
        """`identify` for precomputed query embeddings [N, D] (or one [D])."""
        top_k = _check_top_k(top_k)
        index = self._index()
        queries = self._vectors(embeddings, "query embeddings")
        k = min(top_k, len(index.people))
        search = self._search_faiss if self.backend == "faiss" else self._search_numpy
        ranked, scores = search(index, queries, k)
        return [self._match(index.people, r, s) for r, s in zip(ranked, scores)]

    def verify(self, image, person) -> tuple:
        """Is `image` `person`? (1:1 against that person's enrolled images.)

        Args:
            image: one image the embedder takes.
            person: an enrolled name.

        Returns:
            `(score, is_match)`: the best score over the person's images and
            whether it passes the threshold.
        """
        self._known(person)
        self._require_threshold()
        return self.verify_embedding(self._embed(image), person)

    def verify_embedding(self, embedding, person) -> tuple:
        """`verify` for one precomputed embedding [D] (or [1, D])."""
        rows = self._rows[self._known(person)]
        query = self._vectors(embedding, "embedding")
        if query.shape[0] != 1:
            raise ValueError("verify takes one image; use identify for a batch. "
                             f"Received: {query.shape[0]} embeddings")
        self._require_threshold()
        q, g = query[0].astype(np.float64), rows.astype(np.float64)
        scores = g @ q if self.distance == "cosine" else np.linalg.norm(g - q, axis=1)
        score = float(scores.max() if self.direction == "greater" else scores.min())
        return score, self._passes(score)

    def _search_numpy(self, index, queries, k):
        return search.numpy_top_k(index.groups, queries, k, self.distance)

    def _search_faiss(self, index, queries, k):
        faiss_index = self._cache.get("faiss")
        if faiss_index is None:
            faiss_index = self._cache["faiss"] = self._faiss_index(index)
        return search.faiss_top_k(index.groups, faiss_index, queries, k, self.distance)

    def _faiss_index(self, index):
        """The faiss index of `index`: for a gallery loaded from a database, the
        file `gallery.faiss` when the database records it at the generation that
        was loaded (and its sha256 matches); otherwise built, and persisted for
        the next load when the gallery is still that database snapshot."""
        generation = self._cache.get("generation")  # cleared by any write
        if self._store is None or generation is None:
            return search.faiss_index(index.groups, self.distance)
        faiss = _faiss()
        name, path = f"faiss-{self.distance}", self._store.path.with_name(FAISS_NAME)
        record = self._store.index_record(name)
        if (record is not None and record["generation"] == generation and path.is_file()
                and sha256_file(path) == record["sha256"]):
            loaded = faiss.read_index(str(path))
            if loaded.ntotal == index.groups.matrix.shape[0] and loaded.d == self._dim:
                return loaded
        built = search.faiss_index(index.groups, self.distance)
        data = faiss.serialize_index(built).tobytes()
        atomic_write_bytes(path, data)
        # A writer that moved the database on meanwhile makes this a no-op: the
        # file is then stale, and its sha256 no longer matches a newer record.
        self._store.record_index(name, generation, path.name, hashlib.sha256(data).hexdigest())
        return built

    def _match(self, people, ranked, scores):
        candidates = tuple((people[i], float(s)) for i, s in zip(ranked, scores))
        best, score = candidates[0]
        return Match(best if self._passes(score) else UNKNOWN, score, candidates)

    def _require_threshold(self):
        if self.threshold is None:
            raise ValueError("This gallery has no threshold, so a 1:1 match cannot be decided. "
                             "Set gallery.threshold (or create it from a card with one). "
                             "Received: threshold=None")

    def _passes(self, score) -> bool:
        return self.threshold is None or bool(passes(score, self.threshold, self.direction))

    def _index(self) -> _Index:
        if not self._rows:
            raise GalleryError("The gallery is empty: enroll people before identifying. "
                               "Received: 0 people")
        if "index" not in self._cache:
            people = tuple(sorted(self._rows))
            # A loaded gallery's rows are views of one float32 matrix: search it, no copy.
            base = self._cache.get("matrix")
            matrix = base if base is not None else np.concatenate([self._rows[p] for p in people])
            self._cache["index"] = _Index(people, search.Groups.build(
                matrix, [self._rows[p].shape[0] for p in people]))
        return self._cache["index"]

    # -- validation ---------------------------------------------------------

    def _embed(self, images) -> np.ndarray:
        if self.embedder is None:
            raise GalleryError(
                "This gallery has no embedder, so it cannot embed images. Pass embedder= "
                "(or load_model=True to Gallery.load), or use the *_embeddings methods. "
                "Received: embedder=None")
        if _is_empty(images):
            raise ValueError("images is empty; pass at least one image. "
                             f"Received: images with shape={np.shape(images)}")
        if self.resize:
            return self.embedder.embed(images, resize=True)
        return self.embedder.embed(images)

    def _vectors(self, embeddings, name) -> np.ndarray:
        """Checked float32 rows [N, D], unit length for cosine."""
        x = np.asarray(embeddings)
        if x.ndim == 1:
            x = x[None]
        if x.dtype.kind not in "uif" or x.ndim != 2 or 0 in x.shape:
            raise ValueError(f"{name} must be a non-empty numeric array [N, D]. "
                             f"Received: shape={x.shape}, dtype={x.dtype}")
        if self._dim is not None and x.shape[1] != self._dim:
            raise ValueError(f"{name} must have width {self._dim}, like the enrolled ones; "
                             f"use the same model. Received: shape={x.shape}")
        # One float32 copy: no float64 copy of a large batch (norms are float64).
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise ValueError(f"{name} must be finite (no NaN or inf, also after the cast to "
                             f"float32); check the embedder. Received: "
                             f"{int((~np.isfinite(x)).sum())} non-finite values")
        if self.distance == "cosine":
            norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))[:, None]
            if (norms == 0).any():
                zero = np.flatnonzero(norms[:, 0] == 0)[:8]
                raise ValueError(f"{name} must not hold a zero vector: it has no cosine "
                                 f"similarity. Received: zero rows {zero}")
            x /= norms.astype(np.float32)
        return x

    def _known(self, person):
        if person not in self._rows:
            close = difflib.get_close_matches(str(person), list(self._rows), n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UnknownPersonError(
                f"{person!r} is not enrolled.{hint} Enrolled: {_short_list(sorted(self._rows))}. "
                f"Received: person={person!r}")
        return person

    # -- persistence --------------------------------------------------------

    def save(self, folder, format="sqlite") -> Path:
        """Write the gallery to `folder` (created if missing).

        With format="sqlite" (the default) `folder/gallery.db` gets the
        whole gallery in one transaction (its previous content is replaced),
        and from then on this gallery writes each enroll and remove to it at
        once. Saving into the folder it is already attached to only updates
        the threshold: everything else is written already.

        Args:
            folder: the gallery folder.
            format: "sqlite", or "json" for the older `gallery.json` + `.npy`
                files (see `_save_json`).
        """
        if format == "json":
            return self._save_json(folder)
        if format != "sqlite":
            raise ValueError(f"format must be 'sqlite' or 'json'. Received: format={format!r}")
        folder = Path(folder)
        path = folder / DB_NAME
        if self._store is not None and self._store.path.resolve() == path.resolve():
            self._store.set_threshold(self.threshold)
            return folder
        if self._partial:
            raise GalleryError("This gallery was opened without its rows (for enrolling "
                               "only), so it cannot be copied; load it fully first.")
        store = Store(path, create=True)
        store.replace(self._meta(), [(p, self._rows[p], None) for p in sorted(self._rows)])
        if self._store is not None:
            self._store.close()
        self._store = store
        return folder

    def _meta(self) -> dict:
        return {"model": self.model, "weights_sha256": _weights_sha256(self.embedder),
                "preprocessing": _preprocessing(self.embedder), "distance": self.distance,
                "direction": self.direction, "threshold": self.threshold, "dim": self._dim}

    def _attach(self, folder):
        """Write through to `folder/gallery.db` from now on, creating it with this
        gallery's meta when missing (two creators race safely: the first meta
        wins and the other is checked against it). Only for an empty gallery."""
        assert not self._rows, "only an empty gallery attaches"
        path = Path(folder) / DB_NAME
        store = Store(path, create=True)
        meta = store.init_meta(self._meta())
        _check_meta(meta, self.embedder, path)
        if meta["distance"] != self.distance:
            raise GalleryError(f"{str(path)!r} uses distance {meta['distance']!r}, not "
                               f"{self.distance!r}.")
        self.threshold = meta["threshold"]
        self._dim = meta["dim"]
        self._store, self._partial = store, True
        return self

    def _save_json(self, folder) -> Path:
        """Write the gallery in the older format (read by `load` and `migrate_gallery`).

        Files: `embeddings-<sha12>.npy` (float32 [M, D], rows grouped by
        person, sorted) and then `gallery.json`, which holds the array's
        sha256. Both writes are atomic and the array name is new for new
        content, so a crash at any point leaves the previous gallery
        loadable; older arrays are deleted only after the json is in place.

        Args:
            folder: the gallery folder.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        people = sorted(self._rows)
        dim = self._dim or 0
        matrix = (np.concatenate([self._rows[p] for p in people]) if people
                  else np.zeros((0, dim), np.float32))
        buffer = io.BytesIO()
        np.save(buffer, matrix, allow_pickle=False)
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        array_file = f"embeddings-{digest[:12]}.npy"
        record = {
            "schema": SCHEMA,
            "distance": self.distance,
            "threshold": self.threshold,
            "direction": self.direction,
            "model": self.model,
            "dim": dim,
            "people": {p: self._rows[p].shape[0] for p in people},
            "embeddings": {"file": array_file, "sha256": digest, "bytes": len(data),
                           "dtype": "float32", "shape": list(matrix.shape)},
            "labels": [p for p in people for _ in range(self._rows[p].shape[0])],
        }
        with _locked(folder):
            atomic_write_bytes(folder / array_file, data)
            atomic_write_text(folder / GALLERY_JSON, json.dumps(record, indent=1) + "\n")
            for old in folder.glob("embeddings-*.npy"):
                if old.name != array_file:
                    old.unlink(missing_ok=True)
        return folder

    @classmethod
    def load(cls, folder, embedder=None, *, load_model=False, faiss_above=None,
             resize=False, migrate=True, rows=True) -> Gallery:
        """Read a gallery written by `save`, checking its content.

        The gallery then writes each enroll and remove to the folder's
        database at once (one transaction each).

        Args:
            folder: the gallery folder.
            embedder: an embedder for `enroll` / `identify` / `verify`; a
                runtime model must be the one the gallery was built with
                (same card, weights and preprocessing).
            load_model: build the embedder from the recorded model instead.
            faiss_above: see `Gallery`.
            resize: see `Gallery`.
            migrate: convert a folder in the older format (`gallery.json`)
                to `gallery.db` (once; a line is logged). False reads it as
                it is, and the gallery is not attached to any file.
            rows: False skips reading the embeddings: the gallery can only
                enroll and remove (written through), as `zoo gallery enroll`
                does.
        """
        folder = Path(folder)
        path = folder / DB_NAME
        if not path.is_file():
            if not migrate:
                return cls._load_json(folder, embedder, load_model=load_model,
                                      faiss_above=faiss_above, resize=resize)
            migrate_gallery(folder)
        store = Store(path)
        try:
            if rows:
                meta, labels, matrix, _ = store.load(reserved=(UNKNOWN,))
            else:
                meta, labels, matrix = store.meta(), [], None
                if meta is None:
                    raise GalleryError(f"{str(path)!r} has no meta row; it was never set up.")
            if meta["distance"] not in DISTANCES or meta["direction"] != DISTANCES[meta["distance"]]:
                raise GalleryError(f"{str(path)!r}: meta row has distance={meta['distance']!r}, "
                                   f"direction={meta['direction']!r}.")
            embedder = _model_embedder(meta["model"], embedder, load_model)
            _check_meta(meta, embedder, path)
            gallery = cls(embedder, distance=meta["distance"], threshold=meta["threshold"],
                          faiss_above=faiss_above, resize=resize)
        except BaseException:
            store.close()
            raise
        gallery.model = meta["model"]
        gallery._rows = _groups(labels, matrix) if rows else {}
        if rows and labels:
            # Cleared by any enroll or remove: the rows then differ from this snapshot.
            gallery._cache.update(matrix=matrix, generation=meta["generation"])
        gallery._dim = meta["dim"] if (labels or not rows) else None
        gallery._store, gallery._partial = store, not rows
        return gallery

    @classmethod
    def _load_json(cls, folder, embedder=None, *, load_model=False, faiss_above=None,
                   resize=False) -> Gallery:
        """Read a folder in the older format, checking every file."""
        folder = Path(folder)
        record = _read_record(folder)
        model = record["model"]
        embedder = _model_embedder(model, embedder, load_model)
        _check_same_model(model, _model_info(embedder), folder)
        gallery = cls(embedder, distance=record["distance"], threshold=record["threshold"],
                      faiss_above=faiss_above, resize=resize)
        gallery.model = model
        matrix = _read_matrix(folder, record)
        rows = {}
        for i, person in enumerate(record["labels"]):
            rows.setdefault(person, []).append(i)
        gallery._rows = {person: matrix[index] for person, index in rows.items()}
        gallery._dim = matrix.shape[1] if matrix.shape[0] else None
        return gallery


def migrate_gallery(folder) -> bool:
    """Convert a gallery folder in the older format (`gallery.json` + `.npy`) to
    `gallery.db`, once: every file is checked first, the database is written
    beside it and renamed into place, and the old files are kept.

    Returns:
        True if it converted, False if the folder already had `gallery.db`.
    """
    folder = Path(folder)
    path = folder / DB_NAME
    with _locked(folder) if folder.is_dir() else _no_lock():
        if path.is_file():
            return False
        old = Gallery._load_json(folder)  # raises "No gallery" / a corrupt-file error
        # _load_json checked the card sha256 only against a given embedder; keep the model.
        temp = folder / f".{DB_NAME}.{os.getpid()}.tmp"
        sweep_stale(folder, f".{DB_NAME}.*.tmp*")  # left by killed migrations
        for leftover in (temp, Path(f"{temp}-wal"), Path(f"{temp}-shm")):
            leftover.unlink(missing_ok=True)
        store = Store(temp, create=True)
        try:
            meta = old._meta()
            store.replace(meta, [(p, old._rows[p], None) for p in sorted(old._rows)])
            store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            store.close()
        check = Store(temp)
        try:
            _, labels, matrix, _ = check.load()
        finally:
            check.close()
        if labels != [p for p in sorted(old._rows) for _ in range(old._rows[p].shape[0])] \
                or not np.array_equal(matrix, np.concatenate(
                    [old._rows[p] for p in sorted(old._rows)] or [matrix])):
            raise GalleryError(f"Migrating {str(folder)!r} did not reproduce its embeddings; "
                               "nothing was changed.")
        os.replace(temp, path)
    log.warning("migrated the gallery in %s from %s + .npy to %s (%d people, %d images); the "
                "old files are kept and no longer read", folder, GALLERY_JSON, DB_NAME,
                len(old), old.num_images)
    return True


@contextmanager
def _no_lock():
    yield


def _groups(labels, matrix) -> dict:
    """person -> a view of its run of rows (labels are sorted runs)."""
    out, start = {}, 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            out[labels[start]] = matrix[start:i]
            start = i
    return out


def _model_embedder(model, embedder, load_model):
    if not load_model:
        return embedder
    if embedder is not None or not model:
        raise GalleryError(
            f"load_model=True needs a gallery that records its model and no embedder. "
            f"Received: model={model!r}, embedder={embedder!r}")
    from zoo import runtime

    source = model.get("source") or model["name"]
    return runtime.load(source if Path(source).is_dir() else model["name"])


def _weights_sha256(embedder):
    """The sha256 of a runtime model's `embed` graph file, else None."""
    card, folder = getattr(embedder, "card", None), getattr(embedder, "folder", None)
    if not isinstance(card, dict) or folder is None:
        return None
    spec = (card.get("graphs") or {}).get("embed") or {}
    name = spec.get("file")
    if not name:
        return None
    known = ((card.get("files") or {}).get(name) or {}).get("sha256")
    if known:
        return known  # checked against the file when the runtime loaded it
    path = Path(folder) / name
    return sha256_file(path) if path.is_file() else None


def _preprocessing(embedder):
    card = getattr(embedder, "card", None)
    if not isinstance(card, dict) or getattr(embedder, "folder", None) is None:
        return None
    return card.get("preprocess")


def _check_meta(meta, embedder, path):
    """Refuse an embedder other than the one `meta` records (card, weights, preprocessing)."""
    _check_same_model(meta["model"], _model_info(embedder), path.parent)
    actual = _weights_sha256(embedder)
    if meta.get("weights_sha256") and actual and actual != meta["weights_sha256"]:
        raise GalleryError(
            f"The gallery in {str(path.parent)!r} was enrolled with embed weights sha256 "
            f"{meta['weights_sha256'][:12]}, not this model's ({actual[:12]}); its embeddings "
            f"do not compare. Use the same model, or enroll a new gallery (another --gallery "
            f"DIR).")
    pre = _preprocessing(embedder)
    if meta.get("preprocessing") is not None and pre is not None and pre != meta["preprocessing"]:
        raise GalleryError(
            f"The gallery in {str(path.parent)!r} was enrolled with preprocessing "
            f"{meta['preprocessing']!r}, not this model's {pre!r}; its embeddings do not "
            f"compare. Use the model it was enrolled with, or enroll a new gallery (another "
            f"--gallery DIR).")


def read_images(path, channels=1) -> np.ndarray:
    """The images of one file: `.npy` as stored, other files via Pillow as
    uint8 (H, W) grey or (H, W, 3) RGB.

    Image files are normalised the same way for every caller: the EXIF
    orientation is applied, 16-bit and 32-bit images are scaled to 8 bits
    (65535 -> 255) rather than clipped, alpha is dropped, palette images are
    expanded, and colour becomes grey by ITU-R 601 luma (Pillow's "L").

    Args:
        path: a `.npy` file ((H, W) or (N, H, W), uint8 or float in [0, 1])
            or an image file Pillow can open (PNG, JPEG, ...).
        channels: 1 for grey (H, W), 3 for RGB (H, W, 3); a grey file is
            repeated to three channels.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB). Received: channels={channels!r}")
    path = Path(path)
    if not path.is_file():
        raise GalleryError(f"No image file at {str(path)!r}. Received: path={str(path)!r}")
    if path.suffix.lower() == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError) as error:
            raise ValueError(f"{str(path)!r} is not a readable .npy array ({error}). Save images "
                             "with np.save(path, uint8_array).") from None
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise GalleryError(f"Reading {str(path)!r} needs Pillow (`pip install pillow`); "
                           "or save the images as .npy.") from None
    try:
        with Image.open(path) as image:
            return _to_uint8(ImageOps.exif_transpose(image), channels)
    except OSError as error:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError(f"{str(path)!r} is not an image Pillow can read ({error}). Pass PNG, "
                         "JPEG or .npy files.") from None


def _to_uint8(image, channels):
    """A Pillow image as uint8 grey (H, W) or RGB (H, W, 3); see `read_images`."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # Pillow's convert("L") clips these modes (a 16-bit face turns white).
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        grey = np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return grey if channels == 1 else np.repeat(grey[..., None], 3, axis=-1)
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGBA" if "A" in image.mode or image.mode == "P" else "RGB")
    return np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)


# -- helpers --------------------------------------------------------------------


def passes(score, threshold, direction):
    """Whether `score` (a number or an array) passes `threshold`: `score >=
    threshold` for direction "greater", `score <= threshold` for "less"."""
    return score >= threshold if direction == "greater" else score <= threshold


def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _model_info(embedder):
    """{"name", "version", "source", "card_sha256"} of a runtime model, else None."""
    card, folder = getattr(embedder, "card", None), getattr(embedder, "folder", None)
    if not isinstance(card, dict) or folder is None or not (Path(folder) / "card.json").is_file():
        return None
    return {"name": card.get("name"), "version": card.get("version"), "source": card.get("name"),
            "card_sha256": sha256_file(Path(folder) / "card.json")}


def _check_same_model(recorded, actual, folder):
    if recorded and actual and recorded.get("card_sha256") != actual["card_sha256"]:
        raise GalleryError(
            f"The gallery in {str(folder)!r} was enrolled with {recorded.get('name')!r} "
            f"{recorded.get('version')} (card sha256 {str(recorded.get('card_sha256'))[:12]}), "
            f"not this model's card ({actual['card_sha256'][:12]}); its embeddings do not "
            f"compare. Use the same model or enroll a new gallery. Received: model={actual!r}")


def _check_person(person):
    if not isinstance(person, str) or not person.strip() or person != person.strip() \
            or any(not c.isprintable() for c in person) or person == UNKNOWN:
        raise ValueError(
            f"person must be a non-empty name without surrounding spaces or control "
            f"characters, and not {UNKNOWN!r} (the open-set answer). Received: person={person!r}")


def _check_top_k(top_k) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be a positive int. Received: top_k={top_k!r}")
    return int(top_k)


def _is_empty(images) -> bool:
    try:
        return len(images) == 0 or np.size(images) == 0
    except (TypeError, ValueError):
        return False  # not sized or ragged: let the embedder judge it


def _short_list(names, n=10):
    shown = ", ".join(repr(p) for p in names[:n])
    return f"[{shown}{', ...' if len(names) > n else ''}] ({len(names)} people)"


@contextmanager
def _locked(folder):
    """An exclusive lock on `folder` for one save, where the OS has flock.

    Two concurrent savers then never delete each other's current array;
    the last one wins."""
    with exclusive_lock(folder / ".gallery.lock"):
        yield


def _corrupt(path, what):
    return GalleryError(
        f"{str(path)!r} {what}. Nothing was changed on disk. Restore the folder from a backup, "
        f"or delete it and enroll again.")


def _read_record(folder) -> dict:
    path = folder / GALLERY_JSON
    if not path.is_file():
        raise GalleryError(
            f"No gallery at {str(folder)!r} (no {GALLERY_JSON}). Create one with `zoo gallery "
            f"enroll --gallery DIR --model NAME ...` or Gallery.save. "
            f"Received: folder={str(folder)!r}")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise _corrupt(path, f"is not valid JSON ({error}); it is corrupt or truncated") from None
    problem = _record_problem(record)
    if problem:
        raise _corrupt(path, f"is not a schema-{SCHEMA} gallery: {problem}")
    return record


def _record_problem(record):
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        return f"schema={record.get('schema') if isinstance(record, dict) else record!r}"
    entry, labels, people = record.get("embeddings"), record.get("labels"), record.get("people")
    checks = {
        "distance": record.get("distance") in DISTANCES,
        "direction": record.get("direction") == DISTANCES.get(record.get("distance")),
        "threshold": record.get("threshold") is None
        or isinstance(record["threshold"], (int, float)),
        "model": record.get("model") is None or isinstance(record["model"], dict),
        "embeddings": isinstance(entry, dict) and isinstance(entry.get("file"), str)
        and bool(_ARRAY_NAME.match(entry["file"])) and isinstance(entry.get("sha256"), str)
        and isinstance(entry.get("shape"), list) and len(entry["shape"]) == 2,
        "labels": isinstance(labels, list) and all(isinstance(x, str) for x in labels),
        "people": isinstance(people, dict)
        and isinstance(labels, list) and people == dict(Counter(labels)),
    }
    bad = [key for key, ok in checks.items() if not ok]
    return f"bad or inconsistent {bad}" if bad else None


def _read_matrix(folder, record) -> np.ndarray:
    entry = record["embeddings"]
    path = folder / entry["file"]
    if not path.is_file():
        raise _corrupt(folder / GALLERY_JSON, f"names {entry['file']!r}, which is missing")
    actual = sha256_file(path)
    if actual != entry["sha256"]:
        raise _corrupt(path, f"does not match its sha256 in {GALLERY_JSON} (expected "
                             f"{entry['sha256']}, got {actual}); it is corrupt or truncated")
    matrix = np.load(path, allow_pickle=False)
    if matrix.dtype != np.float32 or list(matrix.shape) != entry["shape"] \
            or matrix.shape[0] != len(record["labels"]):
        raise _corrupt(path, f"holds {matrix.dtype} {matrix.shape}, not float32 "
                             f"{entry['shape']} with one row per label")
    return matrix
