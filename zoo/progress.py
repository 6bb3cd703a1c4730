"""Progress lines for a long command step that prints nothing on its own.

They go to stderr, so that stdout holds only the command's result (for
example `zoo eval`'s JSON).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time


@contextlib.contextmanager
def heartbeat(what: str, every: float = 10.0, stream=None):
    """Say that `what` runs, and that it still runs, until the block ends.

    Prints `zoo: WHAT ...` at once, `zoo: WHAT ... Ns` every `every` seconds
    while the block runs, and `zoo: WHAT: done in Ns` when it ends without an
    error (an error prints its own line).

    Args:
        what: the step, e.g. "evaluating fmnist_cnn (published weights)".
        every: seconds between two lines.
        stream: where to print; default `sys.stderr`.
    """
    if every <= 0:
        raise ValueError(f"every must be positive. Received: every={every!r}")
    out = stream or sys.stderr
    start = time.perf_counter()
    done = threading.Event()

    def say(text):
        print(f"zoo: {text}", file=out, flush=True)

    def beat():
        while not done.wait(every):
            say(f"{what} ... {time.perf_counter() - start:.0f}s")

    say(f"{what} ...")
    thread = threading.Thread(target=beat, name="zoo-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    say(f"{what}: done in {time.perf_counter() - start:.0f}s")
