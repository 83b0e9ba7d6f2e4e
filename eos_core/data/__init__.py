"""The data: built-in datasets, image folders and uploaded zips, the imbalanced subset, and subsampling.

The modules are private; import from the package (names load on first use, see :mod:`eos_core._lazy`).
"""

from .._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "_cache": (
        "CACHE_VERSION", "CACHE_MAX_BYTES", "ARRAYS", "array_cache_dir", "CacheEntry", "cache_entry", "read_cache",
        "write_cache"
    ),
    "_datasets": ("DATASETS", "default_data_dir", "load_dataset", "load_digits"),
    "_folder": (
        "HOLDOUT_TEST_SIZE", "FolderLayout", "folder_subject", "scan_image_folder", "load_image_folder",
        "holdout_per_class"
    ),
    "_imagedata": (
        "ImageData", "data_display_name", "dataset_display_name", "is_upload_folder", "upload_folder_name",
        "zip_display_name"
    ),
    "_imagefiles": (
        "IMAGE_EXTENSIONS", "JPEG_EXTENSIONS", "PIXEL_CAP", "MAX_IMAGES", "ImageFileError", "DecodedImage",
        "jpeg_header", "decode_image_file", "decode_image_files", "decoding_warnings"
    ),
    "_imbalance": ("class_counts", "make_imbalanced"),
    "_subsample": ("snapshot_subsample", "per_class_cap"),
    "_upload_sweep": ("MARKER_SUFFIX", "marker_path", "read_marker", "sweep_uploads"),
    "_uploads": ("ingest_zip", "max_entries", "unique_class_names"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
