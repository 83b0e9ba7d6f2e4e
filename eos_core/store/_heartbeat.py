"""The heartbeat that tells a live run from a dead one.

While a run is ``running``, its process renews the run's lease every ``interval_s`` seconds from a
daemon thread (:class:`Heartbeat`); a ``running`` run whose lease expired is reported
``interrupted`` by :class:`~eos_core.store.RunStore`. A beat that fails (a locked or full disk) is
logged and retried on the next tick: the thread outlives it, or every run of the process would
soon look dead to the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

_log = logging.getLogger(__name__)


class Heartbeat:
    """A daemon thread calling ``beat(run_id)`` for each run of this process every ``interval_s`` seconds.

    Parameters
    ----------
    interval_s : float
        Seconds between beats.
    beat : Callable[[str], bool]
        Renews one run's lease; False when the run is no longer running here (it is then dropped).
    """

    def __init__(self, interval_s: float, beat: Callable[[str], bool]) -> None:
        self.interval_s = interval_s
        self.beat = beat
        self.runs: set[str] = set()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.failing: set[str] = set()  # runs whose last beat raised: logged once per streak

    def add(self, run_id: str) -> None:
        with self.lock:
            self.runs.add(run_id)
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="eos-heartbeat", daemon=True)
                self.thread.start()

    def discard(self, run_id: str) -> None:
        with self.lock:
            self.runs.discard(run_id)
            self.failing.discard(run_id)

    def owns(self, run_id: str) -> bool:
        return run_id in self.runs

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval_s)  # a daemon thread: nothing to wait for but time
            with self.lock:
                runs = list(self.runs)
                if not runs:  # the thread ends with the last run; add() starts a new one
                    self.thread = None
                    return
            for rid in runs:
                self._beat_once(rid)

    def _beat_once(self, run_id: str) -> None:
        """One beat; an exception is logged (once until the run beats again), never raised."""
        try:
            alive = self.beat(run_id)
        except Exception:  # noqa: BLE001 - a missed beat must not end the thread: the next one may work
            if run_id not in self.failing:
                self.failing.add(run_id)
                _log.warning("The heartbeat of run %s failed; retrying every %.3g s (other processes see the run "
                             "interrupted if it keeps failing).", run_id, self.interval_s, exc_info=True)
            return
        if run_id in self.failing:
            self.failing.discard(run_id)
            _log.info("The heartbeat of run %s works again.", run_id)
        if not alive:
            self.discard(run_id)
