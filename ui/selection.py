"""What the map's selection shows (pages 2 and 3): a per-class/split summary, a paged image grid, a CSV
export, the k nearest real training points of a clicked point, and the per-point gap used for colouring
(the engine's ``eos_core.gap.same_class_gap``, cached per run).

The selection comes back from :func:`ui.map_component.map_chart` as a list of point ids. Every helper
here works from the page's points table (``id``, ``x``, ``y``, ``class_name``, ``split``, optional
``pred``, ``image``), so thousands of selected ids cost one ``isin`` and the images are built only for
the page on screen (:data:`PAGE_SIZE` a page).

Point ids, one scheme on every page (hover, card, grid, CSV): a training row ``r`` is ``r``, a test row
``r`` is ``n_train + r`` and a synthetic row ``s`` (page 3, per oversampler) is ``n_train + n_test + s``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

PAGE_SIZE = 48
CSV_COLUMNS: dict[str, str] = {"id": "id", "class_name": "class", "split": "split", "pred": "prediction",
                               "x": "x", "y": "y"}


# ------------------------------------------------------------------------------------ pure helpers
def selected_rows(points: pd.DataFrame, ids: Sequence[Any]) -> pd.DataFrame:
    """The rows of ``points`` whose ``id`` is in ``ids``, in ``points`` order (one vectorised lookup)."""
    if not len(ids):
        return points.iloc[:0]
    return points[points["id"].isin(list(ids))]


def selection_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Counts of selected points per class (rows) and split (columns), with totals.

    Returns
    -------
    DataFrame, (classes + 1, splits + 2)
        ``class`` then one column per split present (train, test, synthetic order) and ``total``;
        classes ordered by count, largest first; the last row is ``all``.
    """
    if rows.empty:
        return pd.DataFrame({"class": [], "total": []})
    tab = pd.crosstab(rows["class_name"].astype(str), rows["split"].astype(str))
    tab = tab[[s for s in ("train", "test", "synthetic") if s in tab.columns]]
    tab["total"] = tab.sum(axis=1)
    tab = tab.sort_values("total", ascending=False, kind="stable")
    tab.loc["all"] = tab.sum(axis=0)
    return tab.rename_axis("class").reset_index()


def selection_csv(rows: pd.DataFrame) -> str:
    """The selected rows as CSV: ``id, class, split, prediction, x, y`` (prediction empty when unknown)."""
    out = pd.DataFrame({new: (rows[old] if old in rows.columns else pd.Series([""] * len(rows), index=rows.index))
                        for old, new in CSV_COLUMNS.items()})
    return out.to_csv(index=False)


def page_count(n: int, page_size: int = PAGE_SIZE) -> int:
    """Pages needed for ``n`` items (at least 1)."""
    return max(1, -(-int(n) // int(page_size)))


def page_slice(n: int, page: int, page_size: int = PAGE_SIZE) -> slice:
    """Rows of page ``page`` (1-based, clamped to the valid range) out of ``n`` items."""
    page = min(max(int(page), 1), page_count(n, page_size))
    start = (page - 1) * page_size
    return slice(start, min(start + page_size, int(n)))


def caption(row: Any) -> str:
    """Grid caption of one point: ``#id · class · split``, and ``✓`` or ``→ predicted`` when known."""
    text = f"#{row.id} · {row.class_name} · {row.split}"
    pred = getattr(row, "pred", None)
    if isinstance(pred, str) and pred:
        text += " ✓" if pred == row.class_name else f" → {pred}"
    return text


def image_source(x_train: np.ndarray, train_idx: np.ndarray, x_test: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Images by point id (train rows, then test rows): ``rows -> (len(rows), H, W[, C])``.

    ``train_idx`` maps a run's training row to the dataset's row (the run keeps a subset of the classes'
    images); test rows are the dataset's test set in order.
    """
    n_train = len(train_idx)
    train_idx = np.asarray(train_idx, np.int64)

    def get(rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, np.int64)
        out = np.empty((len(rows), *x_train.shape[1:]), dtype=x_train.dtype)
        tr = rows < n_train
        out[tr] = x_train[train_idx[rows[tr]]]
        out[~tr] = x_test[rows[~tr] - n_train]
        return out

    return get


def method_warnings(methods: dict | None, method: str) -> list[str]:
    """The oversampler's one-line warnings from the run's ``methods.json`` (``[m]["warnings"]``; absent: none)."""
    entry = (methods or {}).get(method) or {}
    return [str(w) for w in (entry.get("warnings") or [])]


# ------------------------------------------------------------------------------------ run data (cached)
def run_map(run_id: str, *, start: bool = True) -> tuple[dict[str, np.ndarray], str, Any]:
    """The run's 2-D map ``(arrays, kind, job)``: the one place the pages read it. ``ui.maps.get_map``
    reads the map the engine saved with the run (``eos_core.store.load_map``); only an old run
    without one gets a PCA preview and a job that computes it with ``eos_core.maps.compute_map``."""
    from ui import maps

    return maps.get_map(run_id, start=start)


@st.cache_data(max_entries=8, show_spinner="Measuring each point's distance to its class…")
def _run_gaps(root: str, run_id: str, version: float) -> tuple[np.ndarray, np.ndarray]:
    from eos_core.gap import same_class_gap
    from ui import cache

    e = cache.phase1_cached(root, run_id, version).embeddings
    return (same_class_gap(e.train_emb, e.train_y, e.train_emb, e.train_y, is_train=True),
            same_class_gap(e.train_emb, e.train_y, e.test_emb, e.test_y))


def run_gaps(run_id: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-point gap (``eos_core.gap.same_class_gap``) of the run's train ``(N,)`` and test ``(M,)`` points, once
    per run."""
    from ui import cache

    return _run_gaps(cache.runs_root(), run_id, cache.version(cache.get_store(), run_id))


def nearest_training(run_id: str, query: np.ndarray, *, k: int, classes: Sequence[str], train_y: np.ndarray,
                     png_of: Callable[[np.ndarray], list[bytes]], skip_row: int | None = None) -> pd.DataFrame:
    """The ``k`` nearest real training points of one embedding ``query`` (D,): ``id, class_name, distance, png``
    (``skip_row``: a training point's own row, left out)."""
    from ui.synthetic import nearest_real

    dist, idx = nearest_real(run_id, np.asarray(query, np.float32)[None, :], k=k + (skip_row is not None))
    keep = [(int(i), float(d)) for i, d in zip(idx[0], dist[0], strict=True) if int(i) != skip_row][:k]
    rows = np.asarray([i for i, _ in keep], np.int64)
    return pd.DataFrame({"id": rows, "class_name": [str(classes[int(train_y[r])]) for r in rows],
                         "distance": [d for _, d in keep], "png": png_of(rows)})


# ------------------------------------------------------------------------------------ Streamlit panel
def selection_panel(
    points: pd.DataFrame, sel: dict, *, key: str, thumbs: Callable[[pd.DataFrame], list[bytes]] | None,
    neighbours: Callable[[Any], pd.DataFrame | None] | None = None, card: Callable[[Any], None] | None = None,
) -> pd.DataFrame:
    """Summary table, paged image grid, CSV export and (one point) its card and nearest training points.

    Parameters
    ----------
    points : DataFrame
        The map's points (see the module docstring).
    sel : dict
        ``map_chart``'s return value.
    key : str
        Widget key prefix (one per map).
    thumbs : callable, optional
        Rows of ``points`` (one page) -> PNG bytes, one per row.
    neighbours : callable, optional
        A point id -> DataFrame ``id, class_name, distance, png`` of its nearest real training points.
    card : callable, optional
        Draws extra lines for a single selected point (e.g. a synthetic point's provenance).

    Returns
    -------
    DataFrame
        The selected rows.
    """
    rows = selected_rows(points, sel.get("ids") or [])
    if rows.empty:
        st.caption("Click a point, or drag a box or lasso (toolbar), to see its images here. "
                   "Double-click the map to clear.")
        return rows
    if len(rows) == 1:
        _point_card(rows.iloc[0], key=key, thumbs=thumbs, neighbours=neighbours, card=card)
        return rows
    how = {"box": "box", "lasso": "lasso"}.get(sel.get("mode") or "", "selection")
    with st.container(key=f"{key}_multi"):
        st.markdown(f"**{len(rows):,} points selected** ({how})")
        st.dataframe(selection_summary(rows), hide_index=True)
        st.download_button("Download the selected rows (CSV)", selection_csv(rows),
                           file_name=f"{key}_selection.csv", mime="text/csv", key=f"{key}_csv")
        n_pages = page_count(len(rows))
        page_key = f"{key}_page"
        if st.session_state.get(f"{key}_seq") != sel.get("seq"):  # a new selection starts on page 1
            st.session_state[f"{key}_seq"] = sel.get("seq")
            st.session_state[page_key] = 1
        page = 1
        if n_pages > 1:
            page = int(st.number_input(f"Page (of {n_pages}, {PAGE_SIZE} images each)", 1, n_pages, key=page_key))
        part = rows.iloc[page_slice(len(rows), page)]
        if thumbs is not None:
            st.image(thumbs(part), caption=[caption(r) for r in part.itertuples(index=False)], width=92)
    return rows


def _point_card(row: pd.Series, *, key: str, thumbs, neighbours, card) -> None:
    with st.container(border=True, key=f"{key}_card"):
        st.markdown(f"**#{row['id']}** · class **{row['class_name']}** · {row['split']}"
                    + (f" · predicted {row['pred']}" if isinstance(row.get("pred"), str) else ""))
        if thumbs is not None:
            st.image(thumbs(row.to_frame().T), caption=[caption(row_t) for row_t in row.to_frame().T.itertuples(
                index=False)], width=112)
        if card is not None:
            card(row["id"])
    if neighbours is None:
        return
    nb = neighbours(row["id"])
    if nb is None or nb.empty:
        return
    st.markdown(f"**Nearest real training points** (k = {len(nb)}, embedding space)")
    st.image(list(nb["png"]), caption=[f"#{i} · {c} · d={d:.2f}" for i, c, d in
                                      zip(nb["id"], nb["class_name"], nb["distance"], strict=True)], width=80)
