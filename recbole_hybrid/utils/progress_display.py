"""What a person waiting on a run sees between its summary lines; off with ``show_progress: False``.

A run prints one summary line per epoch (``trainer.fit_and_test``, on stdout). The work between them, and before
the first (loading the dataset, building the item graph), can take minutes; this module shows it on stderr:

- in a terminal (stderr is a tty): a tqdm bar per epoch and per validation, with steps, rate and ETA, cleared when
  it ends, so the summary lines read as before;
- elsewhere (a log file, a Ray worker): plain lines such as
  ``train epoch 3: step 120/400 (30%)  4.1 steps/s  ETA 1:08``, at most one per ``LINE_EVERY_S`` seconds (and
  only at a new tenth of the epoch), and at least one per ``QUIET_S`` seconds while steps finish;
- in both: a line when a long phase starts and one when it ends, with its time (``phase``): the data, the item
  graph (``from cache`` when it was read from ``graph_cache_dir``), the final evaluation; and for validation in
  plain lines, when it took ``NOTICEABLE_S`` or more the last time.

Progress never changes a number: it reads a clock per step, draws no random number, changes no batch and
synchronises no device (the steps/s of an asynchronous CUDA loop is the rate at which steps are queued, which
converges on the true rate after the first steps).
"""

from __future__ import annotations

import io
import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

#: Plain lines: at most one per this many seconds, and only when the task reached a new tenth since the last one.
LINE_EVERY_S = 30.0
#: Plain lines: one at the next finished step once this many seconds passed without a line, tenth or not.
QUIET_S = 60.0
#: Plain lines: a validation is announced (start and end) when the previous one took at least this long.
NOTICEABLE_S = 5.0


def progress_enabled(config: Any) -> bool:
    """``config["show_progress"]`` as a bool; False where the config has no such key (a bare mapping)."""
    try:
        value = config["show_progress"]
    except (KeyError, TypeError, IndexError):
        return False
    return bool(value)


def display_mode(setting: Any) -> str | None:
    """``"bar"`` (stderr is a terminal now), ``"lines"`` (anything else) or None (``show_progress`` is off).

    ``setting``: a config (its ``show_progress``) or the bool itself.
    """
    if not (setting if isinstance(setting, bool) else progress_enabled(setting)):
        return None
    try:  # a terminal of no width (a pseudo-terminal nobody sized) shows no bar: lines there
        tty = sys.stderr.isatty() and os.get_terminal_size(sys.stderr.fileno()).columns > 0
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):  # a closed, bare or in-memory stream
        tty = False
    return "bar" if tty else "lines"


def say(line: str) -> None:
    """One progress line on stderr, after what stdout still buffers, so that a log of both keeps their order.

    Written with ``tqdm.write``: a bar on screen (``experiments``' bar of runs) is cleared for it and redrawn.
    """
    from tqdm import tqdm

    try:
        sys.stdout.flush()
    except (AttributeError, OSError, ValueError):
        pass
    tqdm.write(line, file=sys.stderr)
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass


def echo(line: str) -> None:
    """``print`` that flushes: a run's summary lines reach a log file (block-buffered stdout) when they happen."""
    print(line, flush=True)


def format_duration(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``; ``?`` when not finite."""
    if not math.isfinite(seconds):
        return "?"
    whole = int(round(max(seconds, 0.0)))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_seconds(seconds: float) -> str:
    """``0.4s``, ``41.0s`` or ``3:05`` (m:ss from a minute on)."""
    return f"{seconds:.1f}s" if seconds < 60 else format_duration(seconds)


def format_rate(done: int, elapsed: float, unit: str) -> str:
    """``4.1 steps/s``, or ``2.5 s/step`` below one a second."""
    if done <= 0 or elapsed <= 0:
        return f"? {unit}s/s"
    rate = done / elapsed
    return f"{rate:.1f} {unit}s/s" if rate >= 1 else f"{1 / rate:.1f} s/{unit}"


class Steps:
    """The progress of one task of ``total`` steps: ``update(n)`` after steps finish, ``close()`` at its end.

    ``mode`` is ``display_mode``'s: a tqdm bar, plain lines (module docstring) or nothing (None, and every call is
    a no-op). A plain line is never printed at the last step: the line that ends the task follows right away.
    """

    def __init__(self, total: int, desc: str, mode: str | None, unit: str = "step") -> None:
        self.total, self.desc, self.mode, self.unit = int(total), desc, mode, unit
        self.done = 0
        self.start = self.last = time.perf_counter()
        self.tenth = 0
        self.bar = None
        if mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc=desc, unit=unit, leave=False, file=sys.stderr,
                            dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        if self.mode is None:
            return
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        if self.done >= self.total:
            return
        now = time.perf_counter()
        tenth = self.done * 10 // max(self.total, 1)
        quiet = now - self.last
        if (tenth > self.tenth and quiet >= LINE_EVERY_S) or quiet >= QUIET_S:
            self.tenth, self.last = tenth, now
            say(self.line(now))

    def line(self, now: float | None = None) -> str:
        """``<desc>: step <done>/<total> (<pct>%)  <rate>  ETA <m:ss>``."""
        elapsed = (time.perf_counter() if now is None else now) - self.start
        left = (self.total - self.done) * elapsed / self.done if self.done else math.inf
        percent = 100 * self.done / max(self.total, 1)
        return (f"{self.desc}: {self.unit} {self.done}/{self.total} ({percent:.0f}%)  "
                f"{format_rate(self.done, elapsed, self.unit)}  ETA {format_duration(left)}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "Steps":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class PhaseEnd:
    """How a ``phase`` ended: ``how`` (``done``, ``built``, ``from cache``, ...) and a ``detail`` after the time."""

    how: str = "done"
    detail: str = ""


@contextmanager
def phase(enabled: bool, label: str, what: str) -> Iterator[PhaseEnd]:
    """``<label>: <what> ...`` now and ``<label>: <how> in <time><detail>`` at the end (``PhaseEnd``), when enabled.

    A phase that raises prints no end line: the error is the last thing said.
    """
    end = PhaseEnd()
    if not enabled:
        yield end
        return
    say(f"{label}: {what} ...")
    start = time.perf_counter()
    yield end
    say(f"{label}: {end.how} in {format_seconds(time.perf_counter() - start)}{end.detail}")
