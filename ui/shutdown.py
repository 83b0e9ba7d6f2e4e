"""Stopping the server stops its jobs: every job is cancelled when the process shuts down.

How ``streamlit run`` stops (Streamlit 1.67, ``streamlit.web.bootstrap._set_up_signal_handler``):
its SIGTERM / SIGINT / SIGQUIT handler schedules ``Server.stop()`` on the event loop; the loop ends,
``streamlit run`` returns, and Python shuts down — it stops the main thread, then joins every
non-daemon thread. Nothing on that path knows the app's jobs. Chaining Streamlit's handler is not
open to an app: ``signal.signal`` works only in the main thread, where no app code runs (scripts
run in their own threads), so it would take Streamlit's private event loop.

The hook here uses only the public ``threading`` API and covers every way the server stops: a
non-daemon thread, started with the job registry, waits for the main thread to end, then cancels
every job (queued ones never start) and waits up to :data:`SHUTDOWN_WAIT_S` for the running ones to
record it — the engine records the run ``cancelled`` in the run store as the cancel reaches its next
check (per batch in training and embedding, per method in phase 2, per epoch of the head). The job
workers are daemon threads (:mod:`ui.worker_pool`), so a step that cannot be interrupted (the
UMAP fit, once the run is finished; one oversampler's fit) does not hold the process; a run cut
mid-phase reads ``interrupted`` once its lease expires, as after a ``kill -9``.
"""

from __future__ import annotations

import gc
import sys
import threading
from typing import Protocol

SHUTDOWN_WAIT_S = 3.0  # + ~1 s for Streamlit to stop + ~1 s of exit: the 5 s a stop may take
SERVER_STOPPED_TEXT = "Cancelled: the server was stopped."

_WATCHER: threading.Thread | None = None
_LOCK = threading.Lock()


class Stoppable(Protocol):
    def shutdown(self, message: str, timeout: float) -> list: ...


def stop_jobs_at_exit(manager: Stoppable, *, wait_s: float = SHUTDOWN_WAIT_S) -> threading.Thread:
    """Start (once per process) the thread that cancels ``manager``'s jobs when the process exits.

    Returns
    -------
    threading.Thread
        The watcher (``eos-shutdown``); a second call returns the first one.
    """
    global _WATCHER
    with _LOCK:
        if _WATCHER is None:
            # daemon=False explicitly: threads started from a Streamlit script thread inherit
            # daemon=True, and a daemon thread would not be waited for at exit.
            _WATCHER = threading.Thread(target=_wait_then_stop, args=(manager, wait_s), name="eos-shutdown",
                                        daemon=False)
            _WATCHER.start()
        return _WATCHER


def _wait_then_stop(manager: Stoppable, wait_s: float) -> None:
    threading.main_thread().join()  # returns as the interpreter shuts down
    left = manager.shutdown(SERVER_STOPPED_TEXT, wait_s)
    # The interpreter's last full garbage collections walk every live object (torch, umap, the
    # caches): 2-4 s on a loaded 2-core machine, longer than the cancel itself. Nothing here needs
    # finalizers of cyclic garbage at exit, so leave every object to the OS.
    gc.freeze()
    if left:
        print(f"EOS Explorer: {len(left)} job(s) still running {wait_s:g} s after the cancel; exiting anyway.",
              file=sys.stderr)
