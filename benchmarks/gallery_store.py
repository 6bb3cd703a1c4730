"""The SQLite gallery store: concurrent CLI writers with a reader, kill -9 at random
points, and scale (enroll time, database size, load time, identify queries/s against
the bare search function, peak RSS).

    python -m benchmarks.gallery_store [--writers 8] [--enrolls 25] [--kills 10]
                                       [--sizes 10000 100000 1000000] [--queries 1000]

Each part runs in fresh subprocesses (peak RSS is per size). Nothing is read from
cards; every figure is measured on this run.
"""

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ARTIFACT = REPO / "saved_models" / "siamese_contrastive"
DIM, K, BATCH, PER_PERSON = 64, 10, 10_000, 10


def _python(code, *args, **kwargs):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                            cwd=REPO, text=True, **kwargs)


WORKER = """
    import sys
    from zoo.cli import main
    gallery, worker, count, images, model = sys.argv[1:6]
    for i in range(int(count)):
        code = main(["gallery", "enroll", "--gallery", gallery, "--model", model,
                     "--person", f"w{worker}_{i}", images])
        print(f"ack {worker} {i} {code}", flush=True)
"""

READER = """
    import contextlib, io, pathlib, sys
    from zoo.cli import main
    gallery, images, stop = sys.argv[1:4]
    reads = failed = 0
    while not pathlib.Path(stop).exists():
        for argv in (["gallery", "list", "--gallery", gallery],
                     ["gallery", "identify", "--gallery", gallery, images]):
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                code = main(argv)
            reads, failed = reads + 1, failed + (code != 0)
    print(reads, failed, flush=True)
"""


def concurrency(writers, enrolls, tmp) -> dict:
    images = tmp / "two.npy"
    np.save(images, np.random.default_rng(0).integers(0, 256, (2, 28, 28), np.uint8))
    gallery, stop = tmp / "concurrent", tmp / "stop"
    subprocess.run([sys.executable, "-m", "zoo.cli", "gallery", "enroll", "--gallery", gallery,
                    "--model", ARTIFACT, "--person", "seed", images], check=True, cwd=REPO,
                   capture_output=True)
    reader = _python(READER, gallery, images, stop, stdout=subprocess.PIPE)
    start = time.perf_counter()
    procs = [_python(WORKER, gallery, w, enrolls, images, ARTIFACT, stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL) for w in range(writers)]
    outs = [p.communicate()[0] for p in procs]
    seconds = time.perf_counter() - start
    stop.touch()
    reads, failed = map(int, reader.communicate()[0].split())
    acked = [l.split() for o in outs for l in o.splitlines() if l.startswith("ack ")]
    ok = {f"w{w}_{i}" for _, w, i, code in acked if code == "0"}
    from zoo.store import Store

    with Store(gallery / "gallery.db") as store:
        present = {p for p, n in store.people() if n == 2}
    return {"writers": writers, "enrolls": writers * enrolls, "acknowledged": len(ok),
            "lost": len(ok - present), "failed enrolls": writers * enrolls - len(ok),
            "reads": reads, "failed reads": failed, "seconds": round(seconds, 2),
            "enrolls/s": round(writers * enrolls / seconds, 1)}


KILLED = """
    import sys
    import numpy as np
    from zoo.retrieval import Gallery
    gallery = Gallery.load(sys.argv[1])
    rng = np.random.default_rng(int(sys.argv[2]))
    for i in range(50):
        gallery.enroll_embeddings(f"k{sys.argv[2]}_{i}", rng.normal(size=(20, 64)))
        print(i, flush=True)
"""


def kills(rounds, tmp) -> dict:
    from zoo.retrieval import Gallery
    from zoo.store import Store

    folder = tmp / "killed"
    Gallery(distance="cosine").save(folder)
    rng = np.random.default_rng(1)
    missing = torn = bad = acked_total = 0
    for r in range(rounds):
        child = _python(KILLED, folder, r, stdout=subprocess.PIPE)
        stop_after = int(rng.integers(1, 50))
        acked = []
        for line in child.stdout:
            acked.append(int(line))
            if len(acked) >= stop_after:
                time.sleep(float(rng.uniform(0, 0.01)))  # land anywhere in the next write
                break
        child.send_signal(signal.SIGKILL)
        child.wait()
        acked += [int(x) for x in child.stdout.read().splitlines()]
        acked_total += len(acked)
        with Store(folder / "gallery.db") as store:
            bad += bool(store.integrity_check())
            counts = dict(store.people())
        missing += sum(counts.get(f"k{r}_{i}") != 20 for i in acked)
        torn += sum(n != 20 for p, n in counts.items())
    return {"rounds": rounds, "acknowledged": acked_total, "missing": missing,
            "torn writes": torn, "integrity failures": bad}


SCALE = """
    import json, resource, sys, time
    from pathlib import Path
    import numpy as np
    from benchmarks.search import dataset
    from zoo import search
    from zoo.retrieval import Gallery
    n, queries, folder, batch, per = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), \\
        int(sys.argv[4]), int(sys.argv[5])
    vectors, probes = dataset(n, queries)
    Gallery(distance="cosine").save(folder)
    writer = Gallery.load(folder, rows=False)  # writes through, holds no rows
    start = time.perf_counter()
    writer.enroll_many([f"p{i // per:07d}" for i in range(n)], vectors, batch=batch,
                       progress=True)  # one transaction per batch
    enroll = time.perf_counter() - start
    writer._store.close()
    size = sum(f.stat().st_size for f in folder.iterdir())
    start = time.perf_counter()
    gallery = Gallery.load(folder)
    load = time.perf_counter() - start
    gallery.identify_embeddings(probes[:10], K := 10)  # warm-up, builds the index
    start = time.perf_counter()
    gallery.identify_embeddings(probes, K)
    gallery_s = time.perf_counter() - start
    groups = gallery._index().groups
    start = time.perf_counter()
    search.numpy_top_k(groups, probes, K, "cosine")
    bare_s = time.perf_counter() - start
    faiss_qps = "-"
    try:
        import faiss  # noqa: F401
    except ImportError:
        pass
    else:
        Gallery.load(folder, faiss_above=0).identify_embeddings(probes[:1], K)  # persists it
        indexed = Gallery.load(folder, faiss_above=0)
        indexed.identify_embeddings(probes[:10], K)  # reads gallery.faiss
        start = time.perf_counter()
        indexed.identify_embeddings(probes, K)
        faiss_qps = round(queries / (time.perf_counter() - start))
    print(json.dumps({"vectors": n, "enroll s": round(enroll, 2),
                      "enrolls/s": round(n / enroll), "db MiB": round(size / 2**20, 1),
                      "load s": round(load, 2), "identify q/s": round(queries / gallery_s),
                      "bare search q/s": round(queries / bare_s),
                      "identify / bare": round(gallery_s / bare_s, 2),
                      "faiss identify q/s": faiss_qps,
                      "peak RSS MiB": round(resource.getrusage(resource.RUSAGE_SELF)
                                             .ru_maxrss / 1024)}))
"""


def scale(sizes, queries, tmp) -> list:
    rows = []
    for n in sizes:
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(SCALE), str(n),
                              str(queries), str(tmp / f"scale{n}"), str(BATCH),
                              str(PER_PERSON)], cwd=REPO, check=True, text=True,
                             stdout=subprocess.PIPE)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def table(rows) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def report(writers=8, enrolls=25, kill_rounds=10, sizes=(10_000, 100_000, 1_000_000),
           queries=1000) -> str:
    """The Markdown section: concurrency, kill -9 and scale tables.

    Args:
        writers, enrolls: writer processes and `zoo gallery enroll` calls each.
        kill_rounds: processes killed (kill -9) part-way through 50 enrolls.
        sizes: gallery sizes of the scale table (none: skip it).
        queries: identify queries per size.
    """
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        parts = ["### Gallery store (SQLite; `python -m benchmarks.gallery_store`)\n",
                 f"Concurrent CLI enrolls ({writers} processes x {enrolls}) with a reader "
                 "listing and identifying in a loop:\n",
                 table([concurrency(writers, enrolls, tmp)]) + "\n",
                 f"kill -9 at a random point of 50 enrolls, {kill_rounds} rounds:\n",
                 table([kills(kill_rounds, tmp)]) + "\n"]
        if sizes:
            parts += [f"Scale ({DIM}-d, {PER_PERSON} vectors per person, top-{K} cosine, "
                      f"{queries} queries; faiss reads its index persisted beside the "
                      "database):\n", table(scale(sizes, queries, tmp)) + "\n"]
    return "\n".join(parts)


def run(from_cards=False) -> str:
    """The section of `python -m benchmarks` (nothing here is read from cards)."""
    return report()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--enrolls", type=int, default=25)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args(argv)
    print(report(args.writers, args.enrolls, args.kills, args.sizes, args.queries))


if __name__ == "__main__":
    main()
