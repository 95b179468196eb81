"""Progress lines for long phases (the stateful test: sequences done / total, events per second,
ETA), written to the terminal while the phase runs.

What it knows: counting and formatting, and how to reach the terminal from inside a test through
public pytest API: the `terminalreporter` plugin's write_line, inside `capsys.disabled()` so
output capturing does not swallow the line (without a terminal reporter, e.g. `-p no:terminal`,
stderr). Under pytest-xdist a worker's output is never shown, so workers get no writer at all
(`terminal_writer` returns None) and the run's numbers are in the test's report instead.
What it does not know: what a sequence or an event is (the caller counts them).
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable

INTERVAL_SECONDS = 5.0  # between two progress lines


class Progress:
    """Counts units (`sequence()`) and events (`event()`) and writes a line at most every
    `interval` seconds, plus `finish()`'s last line. `clock` is injectable for tests."""

    def __init__(self, label: str, total: int, write: Callable[[str], None] | None,
                 interval: float = INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.label, self.total, self.write, self.interval, self.clock = label, total, write, interval, clock
        self.started = self.last = clock()
        self.done = 0
        self.events = 0
        self.failed_at: int | None = None  # `done` when the first failure was seen (then shrinking)

    def say(self, text: str) -> None:
        if self.write is not None:
            self.write(f"{self.label}: {text}")

    def sequence(self) -> None:
        """One more sequence started: the previous ones are done."""
        self.done += 1
        self._maybe_report()

    def failure(self, events: int) -> None:
        """The first failing sequence (later ones are the shrinker's replays): say so once."""
        if self.failed_at is None:
            self.failed_at = self.done
            self.say(f"a sequence failed after {events} events")

    def event(self) -> None:
        self.events += 1
        self._maybe_report()

    def _maybe_report(self) -> None:
        now = self.clock()
        if self.write is not None and now - self.last >= self.interval:
            self.last = now
            self.say(self.line(now))

    def line(self, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        elapsed = max(now - self.started, 1e-9)
        if self.failed_at is not None:
            return f"shrinking the failing sequence: {self.done - self.failed_at} replays, {self.events} events"
        # the current sequence is still running; Hypothesis may run a few more than `total` (it
        # does not count the examples it discards), so the count stops at the total
        finished = min(max(self.done - 1, 0), self.total)
        text = f"{finished}/{self.total} sequences, {self.events} events, {self.events / elapsed:.0f} events/s"
        if finished:
            eta = (self.total - finished) * elapsed / finished
            text += f", ETA {_duration(eta)}"
        return text

    def finish(self, outcome: str = "done") -> None:
        elapsed = self.clock() - self.started
        rate = self.events / elapsed if elapsed > 0 else 0.0
        self.say(f"{outcome}: {self.done} sequences, {self.events} events in {_duration(elapsed)} ({rate:.0f} events/s)")


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def terminal_writer(config, capsys) -> Callable[[str], None] | None:
    """A function writing one line to the terminal during a test, or None under an xdist worker."""
    if hasattr(config, "workerinput"):
        return None
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    # Under -q the result letters of earlier tests ("...") stay on the current line and pytest's
    # write_line does not start a new one there, so the first line this writer writes ends it.
    quiet = [config.get_verbosity() < 0]

    def write(line: str) -> None:
        with capsys.disabled():
            if reporter is not None:
                if quiet[0]:
                    quiet[0] = False
                    reporter.write("\n")
                reporter.write_line(line)
            else:
                print(line, file=sys.stderr, flush=True)
    return write
