"""Figures, one module per kind: :mod:`~ui.figures.maps`, :mod:`~ui.figures.gap`,
:mod:`~ui.figures.closure`, :mod:`~ui.figures.heads`, :mod:`~ui.figures.training`, and
:mod:`~ui.figures.common` helpers.

Plain numpy / pandas / plotly: no Streamlit and no engine computation, so every function is
unit-testable and cheap to import. Each takes the numbers to draw (per-class arrays, the saved
JSON's dicts) and returns a ``plotly.graph_objects.Figure``.
"""
