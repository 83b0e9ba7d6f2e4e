"""Warm-up: import torch once per process in a script thread, and compile UMAP's numba code in a
background thread, a few seconds after the first page is drawn, so the first map is quick.

``EOS_NO_WARMUP=1`` turns both off (e.g. to time the bare first page).
"""

from __future__ import annotations

import os
import threading

import streamlit as st

_THREADS_SET = False
_WARM_LOCK = threading.Lock()
_WARM_THREAD: threading.Thread | None = None
_WARMED = threading.Event()  # the delayed warm-up ran in this process (the fragment stops)
WARM_UP_DELAY_S = 3.0
_WARM_ARMED = "_eos_warm_up_armed"


def import_engine() -> None:
    """Import torch (through ``eos_core.pipeline``) in the script thread.

    Importing torch in a worker thread while the page runs scipy code is unsafe: scipy's
    array-API helpers peek at ``sys.modules["torch"]`` and fail on a half-initialised module. So
    torch is imported here, before any job thread starts, and never first in a thread.

    It also sets torch's intra-op threads once per process: ``$EOS_TORCH_THREADS``, else one less
    than the CPU count (at least 1). The app shares its cores between a training thread, map jobs
    and page reruns; with every core given to torch, spinning OpenMP workers made a 3-epoch digits
    phase 1 take 24 s instead of 0.6 s on the project's busy 2-core box.
    """
    global _THREADS_SET
    import eos_core.pipeline  # noqa: F401

    if not _THREADS_SET:
        pin_torch_threads()
        _THREADS_SET = True


def torch_threads() -> int:
    """The app's torch thread count: ``$EOS_TORCH_THREADS``, else one less than the CPU count."""
    env = os.environ.get("EOS_TORCH_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else max(1, (os.cpu_count() or 1) - 1)


def pin_torch_threads() -> None:
    """Set torch's thread count (:func:`torch_threads`) for the calling thread.

    Called at the start of every training job in its worker thread too: the OpenMP thread count
    is per thread, and a map computed earlier in the same worker (numba, through UMAP) can leave
    it changed, which changes the order of float sums and so the last bits of a run's results.
    """
    import torch

    torch.set_num_threads(torch_threads())


def _compile_umap() -> None:
    from eos_core.maps import warm_up_umap

    try:
        warm_up_umap()
    except Exception:  # noqa: BLE001 — best effort: the first real map then compiles instead
        import logging

        logging.getLogger(__name__).warning("UMAP warm-up failed", exc_info=True)


def start_warm_up() -> threading.Thread | None:
    """Once per process: import torch here (see :func:`import_engine`), then compile UMAP
    (``eos_core.maps.warm_up_umap``) in a background thread. Returns that thread (the same
    one on every call; ``join()`` it to wait), or None when ``EOS_NO_WARMUP=1``."""
    global _WARM_THREAD
    if os.environ.get("EOS_NO_WARMUP") == "1":
        return None
    with _WARM_LOCK:
        if _WARM_THREAD is None:
            import_engine()
            _WARM_THREAD = threading.Thread(target=_compile_umap, name="eos-umap-warmup", daemon=True)
            _WARM_THREAD.start()
        return _WARM_THREAD


def warm_up_later(delay_s: float = WARM_UP_DELAY_S) -> None:
    """Run :func:`start_warm_up` ``delay_s`` seconds after this run's page reached the browser,
    not during it (``app.py`` calls this last on every run).

    The torch import must happen in a script thread (never first in a worker, see
    :func:`import_engine`), but importing it at the end of the first run made that run ~1.5 s
    longer and competed for the CPU cores with the browser drawing the first page. So a tiny
    fragment with ``run_every`` is armed instead: its timer starts in the browser once the page is
    there, and its first tick imports torch and starts the UMAP compilation thread, then reruns
    the page once without the fragment, which stops the timer. Once warmed up (per process),
    nothing is drawn. Starting training imports torch anyway if that comes first."""
    if os.environ.get("EOS_NO_WARMUP") == "1" or _WARMED.is_set():
        return
    st.session_state[_WARM_ARMED] = True

    @st.fragment(run_every=delay_s)
    def _tick() -> None:
        if st.session_state.pop(_WARM_ARMED, False):
            return  # drawn by the full run: only arm the timer
        start_warm_up()
        _WARMED.set()
        st.rerun()  # a full run that no longer draws this fragment: its timer stops

    with st.sidebar:  # an empty fragment: keep it out of the page's layout
        _tick()
