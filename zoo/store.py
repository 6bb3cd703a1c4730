"""The gallery's SQLite store: `gallery.db` in the gallery folder.

One database file (Python's `sqlite3`, WAL journal, a busy timeout), three tables:

- `meta`: exactly one row: the schema version, the model (name, version,
  card sha256, source), the sha256 of its `embed` weights, its preprocessing,
  the distance and direction, the threshold, the embedding dimension and a
  `generation` counter bumped by every write.
- `embeddings`: one row per enrolled image: `person`, `source` (the file
  name it came from, or NULL), `enrolled_at` (UTC, ISO 8601) and `vector`, a
  little-endian float32 BLOB of `dim` values (unit length for cosine).
- `search_index`: the search indexes persisted beside the database (a faiss
  index file), each with the `generation` it was built at and its sha256: an
  index whose generation is not the database's is stale and is rebuilt. An
  optional cache, added without a schema change: older galleries lack it.

Each enroll or remove is one `BEGIN IMMEDIATE` transaction, so readers (WAL
snapshots) never see half a write, concurrent writer processes queue on the
busy timeout instead of overwriting each other, and a `kill -9` loses at most
the write it interrupted. Reading checks content: the schema version, the
dimension and finiteness of every vector and the reserved name "unknown",
and names the file and the row of the first problem.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["DB_NAME", "FAISS_NAME", "STORE_SCHEMA", "GalleryError", "Store", "StoreError"]

DB_NAME = "gallery.db"
FAISS_NAME = "gallery.faiss"  # a persisted faiss index, beside the database
STORE_SCHEMA = 1
BUSY_TIMEOUT_MS = 60_000
CHUNK = 65_536  # rows per fetch when loading embeddings

_SEARCH_INDEX_DDL = """
CREATE TABLE IF NOT EXISTS search_index (
    name TEXT PRIMARY KEY,
    generation INTEGER NOT NULL,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    built_at TEXT NOT NULL
)"""
_DDL = """
CREATE TABLE IF NOT EXISTS meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema INTEGER NOT NULL,
    model TEXT,
    weights_sha256 TEXT,
    preprocessing TEXT,
    distance TEXT NOT NULL,
    direction TEXT NOT NULL,
    threshold REAL,
    dim INTEGER,
    generation INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
    id INTEGER PRIMARY KEY,
    person TEXT NOT NULL,
    source TEXT,
    enrolled_at TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS embeddings_person ON embeddings (person, id);
""" + _SEARCH_INDEX_DDL



class GalleryError(Exception):
    """A gallery cannot be used as asked: empty, no embedder, bad or corrupt files.

    (Defined here so the store raises it; `zoo.retrieval` exports it.)"""


StoreError = GalleryError


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Store:
    """An open `gallery.db`.

    Args:
        path: the database file.
        create: create the file and tables when missing (else a missing file
            raises `StoreError`).
    """

    def __init__(self, path, *, create=False):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise StoreError(f"No gallery database at {str(self.path)!r}.")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000,
                                      isolation_level=None)
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = self.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{str(self.path)!r} could not switch to WAL (got {mode!r}).")
            self.db.execute("PRAGMA synchronous = FULL")
            if create:
                with self.write() as db:
                    for statement in filter(str.strip, _DDL.split(";")):
                        db.execute(statement)
        except sqlite3.DatabaseError as error:
            raise self._corrupt(error) from None

    def _corrupt(self, error):
        return StoreError(
            f"{str(self.path)!r} is not a readable gallery database ({error}). Nothing was "
            f"changed. Check it with `zoo gallery list --gallery DIR --check`; restore it "
            f"from a backup, or delete it and enroll again.")

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- transactions ------------------------------------------------------------

    @contextmanager
    def write(self):
        """One write transaction (BEGIN IMMEDIATE: writers queue, readers go on)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextmanager
    def read(self):
        """One read snapshot: every SELECT inside sees the same state."""
        self.db.execute("BEGIN")
        try:
            yield self.db
        finally:
            self.db.execute("COMMIT")

    # -- meta ----------------------------------------------------------------------

    def meta(self):
        """The meta row as a dict, or None for a database without one yet."""
        try:
            row = self.db.execute(
                "SELECT schema, model, weights_sha256, preprocessing, distance, direction, "
                "threshold, dim, generation, created_at FROM meta WHERE id = 1").fetchone()
        except sqlite3.DatabaseError as error:
            raise self._corrupt(error) from None
        if row is None:
            return None
        keys = ("schema", "model", "weights_sha256", "preprocessing", "distance", "direction",
                "threshold", "dim", "generation", "created_at")
        meta = dict(zip(keys, row))
        if meta["schema"] != STORE_SCHEMA:
            raise StoreError(
                f"{str(self.path)!r} has gallery schema version {meta['schema']!r} in its meta "
                f"row; this zoo reads version {STORE_SCHEMA}. Use the zoo version that wrote "
                f"it, or export it (`zoo gallery export`) there and enroll again.")
        for key in ("model", "preprocessing"):
            try:
                meta[key] = None if meta[key] is None else json.loads(meta[key])
            except ValueError:
                raise StoreError(f"{str(self.path)!r}: meta row, column {key!r} is not "
                                 f"JSON ({meta[key]!r}).") from None
        return meta

    def init_meta(self, meta) -> dict:
        """Write `meta` unless the database has one; returns the stored meta.

        Two processes creating the same gallery at once both end with one meta
        row: the first one's (the caller compares it with its model)."""
        with self.write() as db:
            if db.execute("SELECT 1 FROM meta WHERE id = 1").fetchone() is None:
                self._put_meta(db, meta)
        return self.meta()

    def _put_meta(self, db, meta):
        db.execute(
            "INSERT OR REPLACE INTO meta (id, schema, model, weights_sha256, preprocessing, "
            "distance, direction, threshold, dim, generation, created_at) "
            "VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, COALESCE((SELECT generation FROM meta), 0) + 1, ?)",
            (STORE_SCHEMA, None if meta.get("model") is None else json.dumps(meta["model"]),
             meta.get("weights_sha256"),
             None if meta.get("preprocessing") is None else json.dumps(meta["preprocessing"]),
             meta["distance"], meta["direction"], meta.get("threshold"), meta.get("dim"),
             meta.get("created_at") or _now()))

    def set_threshold(self, threshold):
        with self.write() as db:
            db.execute("UPDATE meta SET threshold = ?, generation = generation + 1", (threshold,))

    # -- rows ----------------------------------------------------------------------

    def add(self, person, vectors, sources=None) -> int:
        """Insert float32 rows [N, D] for `person` in one transaction.

        `person` may also be a list of N names (a bulk load: one transaction
        for many people; the caller checks the names)."""
        vectors = np.ascontiguousarray(vectors, dtype="<f4")
        n, dim = vectors.shape
        people = [person] * n if isinstance(person, str) else list(person)
        if len(people) != n:
            raise ValueError(f"person must be a name or one name per row. Received: "
                             f"{len(people)} names for {n} rows")
        sources = [None] * n if sources is None else list(sources)
        if len(sources) != n:
            raise ValueError(f"sources must have one entry per row. Received: {len(sources)} "
                             f"for {n} rows")
        now = _now()
        with self.write() as db:
            stored = db.execute("SELECT dim FROM meta WHERE id = 1").fetchone()
            if stored is None:
                raise StoreError(f"{str(self.path)!r} has no meta row; it was never set up.")
            if stored[0] is None:
                db.execute("UPDATE meta SET dim = ?", (dim,))
            elif stored[0] != dim:
                raise ValueError(f"embeddings must have width {stored[0]}, like the enrolled "
                                 f"ones in {str(self.path)!r}; use the same model. "
                                 f"Received: shape={vectors.shape}")
            db.executemany(
                "INSERT INTO embeddings (person, source, enrolled_at, vector) VALUES (?, ?, ?, ?)",
                ((p, s, now, row.tobytes()) for p, row, s in zip(people, vectors, sources)))
            db.execute("UPDATE meta SET generation = generation + 1")
        return n

    def remove(self, person) -> int:
        """Delete every row of `person` in one transaction; returns the count."""
        with self.write() as db:
            count = db.execute("DELETE FROM embeddings WHERE person = ?", (person,)).rowcount
            if count:
                empty = db.execute("SELECT 1 FROM embeddings LIMIT 1").fetchone() is None
                db.execute("UPDATE meta SET generation = generation + 1"
                           + (", dim = NULL" if empty else ""))
        return count

    def replace(self, meta, people_rows) -> None:
        """Replace the whole content (a snapshot save) in one transaction.

        Args:
            meta: the meta dict.
            people_rows: `[(person, float32 [n, D], sources or None)]`.
        """
        now = _now()
        with self.write() as db:
            db.execute("DELETE FROM embeddings")
            self._put_meta(db, meta)
            for person, rows, sources in people_rows:
                rows = np.ascontiguousarray(rows, dtype="<f4")
                sources = sources if sources is not None else [None] * len(rows)
                db.executemany(
                    "INSERT INTO embeddings (person, source, enrolled_at, vector) "
                    "VALUES (?, ?, ?, ?)",
                    ((person, s, now, r.tobytes()) for r, s in zip(rows, sources)))

    def people(self, person=None) -> list:
        """`[(person, count)]` sorted by name (only `person` when given)."""
        sql = "SELECT person, COUNT(*) FROM embeddings"
        args = ()
        if person is not None:
            sql, args = sql + " WHERE person = ?", (person,)
        try:
            return [tuple(r) for r in self.db.execute(sql + " GROUP BY person ORDER BY person",
                                                      args)]
        except sqlite3.DatabaseError as error:
            raise self._corrupt(error) from None

    def rows(self, person) -> list:
        """`[(id, source, enrolled_at)]` of one person, in enrolment order."""
        return [tuple(r) for r in self.db.execute(
            "SELECT id, source, enrolled_at FROM embeddings WHERE person = ? ORDER BY id",
            (person,))]

    def load(self, reserved=(), chunk=CHUNK):
        """(meta, people [M] labels, float32 [M, D] matrix, [(source, enrolled_at)]) from
        one snapshot, rows grouped by person (sorted) then by id.

        The matrix is allocated once and filled `chunk` rows at a time, so
        peak memory is the float32 matrix plus one chunk of BLOBs."""
        try:
            with self.read() as db:
                meta = self.meta()
                if meta is None:
                    raise StoreError(f"{str(self.path)!r} has no meta row; it was never set up.")
                count = db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
                dim = meta["dim"]
                if count and (not isinstance(dim, int) or dim < 1):
                    raise StoreError(f"{str(self.path)!r}: meta row has dim={dim!r} for "
                                     f"{count} embeddings.")
                matrix = np.empty((count, dim or 0), np.float32)
                labels, sources = [], []
                cursor = db.execute("SELECT id, person, source, enrolled_at, vector FROM embeddings "
                                    "ORDER BY person, id")
                at = 0
                while True:
                    batch = cursor.fetchmany(chunk)
                    if not batch:
                        break
                    for row_id, person, source, enrolled_at, blob in batch:
                        if person in reserved or not isinstance(person, str) or not person:
                            raise StoreError(
                                f"{str(self.path)!r}, embeddings row id={row_id}: person "
                                f"{person!r} is reserved or empty. Rename it (UPDATE embeddings "
                                f"SET person = ... WHERE id = {row_id}) or remove the row.")
                        if not isinstance(blob, bytes) or len(blob) != 4 * dim:
                            size = len(blob) if isinstance(blob, bytes) else type(blob).__name__
                            raise StoreError(
                                f"{str(self.path)!r}, embeddings row id={row_id} (person "
                                f"{person!r}): vector has {size} bytes, not {4 * dim} "
                                f"({dim} float32). Remove the person and enroll again.")
                        labels.append(person)
                        sources.append((source, enrolled_at))
                    block = matrix[at:at + len(batch)]
                    block[:] = np.frombuffer(b"".join(r[4] for r in batch), "<f4").reshape(
                        len(batch), dim)
                    finite = np.isfinite(block).all(axis=1)
                    if not finite.all():
                        row_id, person = batch[int(np.flatnonzero(~finite)[0])][:2]
                        raise StoreError(
                            f"{str(self.path)!r}, embeddings row id={row_id} (person "
                            f"{person!r}): vector holds NaN or inf. Remove the person "
                            f"and enroll again.")
                    at += len(batch)
                if at != count:
                    raise StoreError(f"{str(self.path)!r} changed size while being read.")
        except sqlite3.DatabaseError as error:
            raise self._corrupt(error) from None
        return meta, labels, matrix, sources

    # -- persisted search indexes ------------------------------------------------------

    def index_record(self, name):
        """{"generation", "file", "sha256"} of the persisted index `name`, or None."""
        try:
            row = self.db.execute("SELECT generation, file, sha256 FROM search_index "
                                  "WHERE name = ?", (name,)).fetchone()
        except sqlite3.OperationalError:  # a gallery from before the table
            return None
        return None if row is None else dict(zip(("generation", "file", "sha256"), row))

    def record_index(self, name, generation, file, sha256) -> bool:
        """Record that `file` (beside the database) indexes `generation`.

        Nothing is recorded, and False returned, when the database has moved
        past `generation` meanwhile: the file is stale already."""
        with self.write() as db:
            db.execute(_SEARCH_INDEX_DDL)
            if db.execute("SELECT generation FROM meta WHERE id = 1").fetchone() != (generation,):
                return False
            db.execute("INSERT OR REPLACE INTO search_index (name, generation, file, sha256, "
                       "built_at) VALUES (?, ?, ?, ?, ?)", (name, generation, file, sha256, _now()))
        return True

    def integrity_check(self) -> list:
        """The problems `PRAGMA integrity_check` reports ([] when "ok")."""
        try:
            result = [r[0] for r in self.db.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as error:
            return [str(error)]
        return [] if result == ["ok"] else result
