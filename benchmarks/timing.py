"""Wall-clock timing of inference engines on one input, shared by the speed benchmarks.

Engines are timed in blocks: each runs its warm-up calls once, then
`repeats` timed calls split into `rounds` blocks, the engines taking turns
block by block. A slow drift of the machine's load (other processes) then
hits every engine alike, while one block is long enough that an engine's
thread pools spinning down after the previous engine's block matter little.
"""

import dataclasses
import math
import time

import numpy as np

WARMUP = 3
ROUNDS = 3


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds per call of one engine on one input of `batch` rows."""

    batch: int
    seconds: tuple

    @property
    def median(self):
        return float(np.median(self.seconds))

    @property
    def p95(self):
        return float(np.percentile(self.seconds, 95))

    @property
    def throughput(self):
        """Rows (images, pairs or codes) per second at the median call time."""
        return self.batch / self.median


def warm_up(engines, feeds, calls=WARMUP):
    """Call every engine `calls` times on each feed (traces, compiles, thread
    pools); engines that raise are dropped.

    Args:
        engines: `{name: call(feed)}`.
        feeds: the feeds the engines will be timed on.
        calls: warm-up calls per engine and feed.

    Returns:
        `(ready, failed)`: the engines that ran, and `{name: "ErrorType: first line"}`.
    """
    ready, failed = {}, {}
    for name, call in engines.items():
        try:
            for feed in feeds:
                for _ in range(calls):
                    call(feed)
        except Exception as error:  # an engine that cannot run this graph is reported, not fatal
            failed[name] = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:160]}"
        else:
            ready[name] = call
    return ready, failed


def measure(engines, feed, repeats, rounds=ROUNDS) -> dict:
    """Time warmed-up engines on `feed`.

    Args:
        engines: `{name: call(feed)}`, already warmed up (see `warm_up`).
        feed: `{input name: array}`; its first axis is the batch.
        repeats: timed calls per engine (rounded up to a multiple of `rounds`).
        rounds: blocks per engine, taken in turns.

    Returns:
        `{name: Timing}`.
    """
    if repeats < 1 or rounds < 1:
        raise ValueError(f"repeats and rounds must be >= 1. Received: repeats={repeats}, rounds={rounds}")
    batch = len(next(iter(feed.values())))
    block = math.ceil(repeats / rounds)
    seconds = {name: [] for name in engines}
    for _ in range(rounds):
        for name, call in engines.items():
            seconds[name] += [_seconds(call, feed) for _ in range(block)]
    return {name: Timing(batch, tuple(s)) for name, s in seconds.items()}


def _seconds(call, feed):
    start = time.perf_counter()
    call(feed)
    return time.perf_counter() - start
