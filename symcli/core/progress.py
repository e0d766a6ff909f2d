"""Progress on stderr for long steps (embedding, the cells of a run): a rich bar on a terminal, plain lines
with the time left in logs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def human_duration(seconds: float) -> str:
    """42 -> '42 s', 3300 -> '55 min', 9000 -> '2.5 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class ProgressBar:
    """Progress of `total` `unit` on stderr (used by embed and by runs). On a terminal: a rich bar (label, done
    of total, speed, time left) that hide() takes away while other lines are printed, erased at the end.
    Elsewhere, with `every`: a plain line every `every` seconds and one at the end (so logs of long runs show
    progress too). enabled False: nothing at all."""

    def __init__(self, total: int, label: str, unit: str, enabled: bool = True, every: float | None = 30.0):
        self.total, self.label, self.unit, self.enabled, self.every = total, label, unit, enabled, every
        self.done, self.bar = 0, None

    def __enter__(self) -> ProgressBar:
        self.t0 = self.last = time.monotonic()
        if not self.enabled or not self.total:
            return self
        from rich.console import Console

        console = Console(stderr=True)
        if console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn(self.label),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[speed]}"),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task(self.label, total=self.total, speed="")
        return self

    def speed(self) -> float:
        """Units per second since the start."""
        elapsed = time.monotonic() - self.t0
        return self.done / elapsed if elapsed > 0 else 0.0

    def seconds_left(self) -> float | None:
        """The time left at the speed so far (None before anything is done)."""
        speed = self.speed()
        return (self.total - self.done) / speed if speed else None

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(self.task, advance=n, speed=f"{self.speed():,.1f} {self.unit}/s")
        elif self.enabled and self.every is not None and self.done < self.total:
            if time.monotonic() - self.last >= self.every:
                self.last = time.monotonic()
                self._line()

    def hide(self, fn: Callable) -> Callable:
        """fn, called with the bar taken away (so that the lines it prints stand clear of the bar)."""

        def hidden(*args, **kwargs):
            if self.bar is None:
                return fn(*args, **kwargs)
            self.bar.stop()
            try:
                return fn(*args, **kwargs)
            finally:
                self.bar.start()

        return hidden

    def _line(self) -> None:
        left = self.seconds_left()
        left = f", ~{human_duration(left)} left" if left else ""
        print(
            f"{self.label}: {self.done:,}/{self.total:,} {self.unit}, {self.speed():,.1f} {self.unit}/s{left}",
            file=sys.stderr,
        )

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
        elif self.enabled and self.every is not None:
            self._line()
