"""A fixed pool of *daemon* worker threads that run submitted callables in order.

Why not ``concurrent.futures.ThreadPoolExecutor``: the interpreter joins an executor's workers at
exit, so a server asked to stop (SIGTERM, Ctrl-C) waited for the running training step to end —
more than a minute for a step the engine cannot interrupt (a UMAP fit). Daemon workers let the
process exit once :mod:`ui.shutdown` has cancelled every job and given each a few seconds to record
it. The futures are ``concurrent.futures.Future`` objects, so ``cancel()`` on a queued one works as
with an executor.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class WorkerPool:
    """``workers`` daemon threads taking ``(future, fn, args)`` from one FIFO queue.

    Parameters
    ----------
    workers : int
        Threads (at least one), started on the first :meth:`submit`.
    name : str
        Thread name prefix (``<name>_<i>``), as ``ThreadPoolExecutor``'s ``thread_name_prefix``.
    """

    def __init__(self, workers: int, name: str) -> None:
        self.workers = max(1, int(workers))
        self.name = name
        self._queue: queue.SimpleQueue[tuple[Future, Callable[..., Any], tuple]] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Queue ``fn(*args)``; the returned future holds its result or exception."""
        fut: Future = Future()
        self._queue.put((fut, fn, args))
        self._start()
        return fut

    @property
    def threads(self) -> list[threading.Thread]:
        with self._lock:
            return list(self._threads)

    def _start(self) -> None:
        with self._lock:
            while len(self._threads) < self.workers:
                # daemon=True explicitly: a thread inherits the flag of the thread that starts it.
                t = threading.Thread(target=self._work, name=f"{self.name}_{len(self._threads)}", daemon=True)
                t.start()
                self._threads.append(t)

    def _work(self) -> None:
        while True:
            fut, fn, args = self._queue.get()
            if not fut.set_running_or_notify_cancel():  # cancelled while queued: never run it
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as err:  # noqa: BLE001 — handed to whoever reads the future
                fut.set_exception(err)
