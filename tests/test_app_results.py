"""ui.results: reading and arranging a run's saved results (no Streamlit session)."""

from __future__ import annotations

from types import SimpleNamespace

from ui.results import one_run_per_seed, run_seed


def test_one_run_per_seed_keeps_the_first_run_of_each_seed() -> None:
    runs = [SimpleNamespace(id=i, config={"train": {"seed": s}}) for i, s in enumerate([0, 1, 0, 2, 1])]
    kept, repeats = one_run_per_seed(runs)
    assert [r.id for r in kept] == [0, 1, 3] and [r.id for r in repeats] == [2, 4]
    assert run_seed(SimpleNamespace(config={})) == 0 and run_seed(SimpleNamespace(config=None)) == 0
