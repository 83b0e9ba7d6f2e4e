"""The run store: a SQLite index beside one folder per run, crash-safe writes, the one reader and writer
of each artifact, damage checks and repair.

The modules are private; import from the package (names load on first use, see :mod:`eos_core._lazy`).
"""

from .._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "_atomic": ("TMP_PREFIX", "disk_error", "atomic_write", "atomic_write_bytes"),
    "_check": (
        "REPAIR", "QUARANTINE", "STATUSES", "damaged_run", "missing_file", "is_number", "is_int", "json_kind",
        "config_problem", "metrics_problem", "record_problem"
    ),
    "_heartbeat": ("Heartbeat",),
    "_index": (
        "RUN_ID_RE", "RECORD", "COLUMNS", "SCHEMA", "TMP_MIN_AGE_S", "HALF_MAX_AGE_S", "RunIndex", "prepare_root",
        "is_corrupt", "index_error", "check_index", "open_index", "rebuild_index", "folder_row", "import_run",
        "run_folders", "import_orphans", "import_unindexed", "sweep_temp_files"
    ),
    "_job_tags": ("JOB_ARTIFACT", "JOB_ID_RE", "tag_run", "job_of_run", "run_of_job"),
    "_repair": ("WHOLE_RUN", "quarantine", "artifact_damage", "repair"),
    "_report": ("RepairReport",),
    "_results": (
        "Embeddings", "Phase1Result", "MethodResult", "MapArrays", "MAP_NAME", "MAP_ROWS_NAME", "save_phase1",
        "save_history", "save_method", "save_map", "synthetic_arrays", "load_synthetic", "load_phase1",
        "load_history", "load_gap", "load_phase1_summary", "load_method_summary", "load_methods", "load_head",
        "load_map", "has_phase1", "has_map"
    ),
    "_results_check": (
        "phase1_problem", "method_problem", "gap_problem", "history_problem", "embeddings_problem",
        "synthetic_problem"
    ),
    "_store": (
        "STALE_BEATS", "UnknownRun", "RunRecord", "default_runs_dir", "default_heartbeat_s", "new_run_id", "RunStore"
    ),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
