"""What the command line says when a command is stopped (Ctrl-C or SIGTERM) part-way.

The sentence names what the store holds afterwards: the run that was stopped (recorded
``cancelled`` by the pipeline), or that none had been saved yet, and the runs of earlier seeds of
``run --seeds`` that finished, so the user knows which results exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["Interrupted", "finished_runs"]


class Interrupted(KeyboardInterrupt):
    """A stopped command: why, the run it stopped (``None``: none saved yet), the runs finished before.

    Parameters
    ----------
    reason : str
        ``"cancelled (Ctrl-C)"``, or the SIGTERM handler's reason.
    run_id : str or None
        The run the store had created when the stop came.
    finished : sequence of str
        ``"seed 0 (run <id>)"`` for each earlier seed whose run finished.
    """

    def __init__(self, reason: str, run_id: str | None, finished: Sequence[str] = ()) -> None:
        super().__init__(reason)
        self.reason, self.run_id, self.finished = reason, run_id, list(finished)

    def sentence(self) -> str:
        """One sentence for stderr, ending in a full stop."""
        if self.run_id is None:
            text = f"{self.reason} before a run was saved"
        else:
            text = f"{self.reason}; run {self.run_id} is recorded as cancelled"
        if self.finished:
            text += f", after {', '.join(self.finished)} finished"
        return text + "."


def finished_runs(seeds: Sequence[int | None], results: Sequence[Any]) -> list[str]:
    """``"seed 0 (run <id>)"`` for each seed whose pipeline result is in ``results`` (same order)."""
    return [f"seed {s} (run {r.phase1.run_id})" for s, r in zip(seeds, results, strict=False)]
