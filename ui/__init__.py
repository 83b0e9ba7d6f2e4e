"""The app side of EOS Explorer: everything Streamlit-specific that the pages share.

Where a number comes from and where it is drawn:

* computed by the engine (``eos_core``: pipeline, gap, metrics, oversampling, projection) and
  saved in the run folder (``gap.json``, ``methods.json``, ``phase1.json``, ``*.npz``);
* read and cached here (:mod:`ui.cache`, :mod:`ui.synthetic`, :mod:`ui.maps`);
* drawn by :mod:`ui.figures` (plain plotly, no Streamlit), one module per kind of chart;
* laid out by the thin page scripts in ``app_pages/``.

Modules: :mod:`ui.state` (session and URL state), :mod:`ui.cache` (store, datasets, loaded runs),
:mod:`ui.jobs` (background jobs on ``concurrent.futures``), :mod:`ui.training` (training jobs
through ``eos_core.pipeline``), :mod:`ui.maps` (the run's UMAP map), :mod:`ui.synthetic`
(synthetic points on the map), :mod:`ui.warmup`, :mod:`ui.uploads`, :mod:`ui.widgets`,
:mod:`ui.labels`.
"""
