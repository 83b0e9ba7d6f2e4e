"""What healing the run store did: opening it (:func:`eos_core.store.open_index`) or
``python -m eos_core repair`` (:func:`eos_core.store.repair`) fill one :class:`RepairReport`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ._check import QUARANTINE


@dataclass
class RepairReport:
    """What :func:`~eos_core.store.repair` (or opening the store) did."""

    rebuilt: str | None = None                                    # why the index was rebuilt
    imported: list[str] = field(default_factory=list)             # folders that had no row
    restored: list[str] = field(default_factory=list)             # damaged rows rewritten from folders
    dropped: list[str] = field(default_factory=list)              # rows whose folder is gone
    quarantined: list[tuple[str, str, str]] = field(default_factory=list)  # (run, file, reason) moved aside
    unreadable: list[str] = field(default_factory=list)           # damage left in place (see `list`)
    interrupted: list[str] = field(default_factory=list)          # dead "running" runs now recorded
    removed_tmp: list[Path] = field(default_factory=list)
    removed_folders: list[str] = field(default_factory=list)      # half-created, empty run folders

    def lines(self) -> list[str]:
        """One line per action, for the CLI; each moved file names its run and the reason."""
        out = [f"rebuilt the index from the run folders ({self.rebuilt})"] if self.rebuilt else []
        out += [f"moved {what} of run {rid} to {QUARANTINE}/{rid}/ ({reason})"
                for rid, what, reason in self.quarantined]
        for label, items in (("imported run folders missing from the index", self.imported),
                             ("restored damaged index rows from their folders", self.restored),
                             ("dropped index rows whose folder is gone", self.dropped),
                             ("marked dead running runs interrupted", self.interrupted),
                             ("removed half-created run folders", self.removed_folders),
                             ("left runs whose damage repair cannot fix (`list` says why)", self.unreadable)):
            if items:
                more = ", ..." if len(items) > 5 else ""
                out.append(f"{label}: {len(items)} ({', '.join(map(str, items[:5]))}{more})")
        if self.removed_tmp:
            out.append(f"removed orphan temporary files: {len(self.removed_tmp)}")
        return out or ["nothing to repair"]
