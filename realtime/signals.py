"""Make Ctrl-C and `kill` end a run through the normal `with`-block cleanup.

The saved video is readable at every moment (`realtime.writer`), but its last second, still in
the encoder's current fragment, only reaches the file when the writer's `close()` runs, so an
interrupted run must unwind through it. Python already turns SIGINT into `KeyboardInterrupt`,
but SIGTERM (what `kill`, `timeout` and process managers send) terminates without running any
cleanup. `graceful_interrupts` makes both raise `KeyboardInterrupt`; `deferred_interrupts` keeps
a second signal from aborting that cleanup half way. SIGKILL cannot be caught: it costs the last
second of video and nothing more.

Signal handlers can only be installed from the main thread; elsewhere both helpers do nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _install(handler: _Handler) -> dict[int, _Handler]:
    previous = {}
    for signum in _SIGNALS:
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, handler)
    return previous


def _restore(previous: dict[int, _Handler]) -> None:
    for signum, handler in previous.items():
        # None means a handler installed outside Python, which cannot be reinstated.
        signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")


@contextmanager
def graceful_interrupts() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise `KeyboardInterrupt` in the main thread.

    SIGINT is included because a process started in the background by a non-interactive shell
    inherits SIGINT as ignored, and Python then never installs its own Ctrl-C handler.
    """
    if not _on_main_thread():
        yield
        return
    previous = _install(_raise_interrupt)
    try:
        yield
    finally:
        _restore(previous)


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold back SIGINT and SIGTERM during the block, then deliver the first one that came.

    Wraps short cleanup that must finish (draining and releasing a video writer). The held-back
    signal is re-raised once the previous handlers are back, so it has exactly the effect it
    would have had (`KeyboardInterrupt`, termination or nothing). The delay is bounded by the
    cleanup itself, and SIGKILL still ends a process that is truly stuck.
    """
    if not _on_main_thread():
        yield
        return
    received: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = _install(record)
    try:
        yield
    finally:
        _restore(previous)
    if received:
        signal.raise_signal(received[0])
