"""User-facing errors.

Every error a user can cause (a bad parameter, a dataset missing offline, a NaN loss) is an
``EOSError`` whose ``str()`` is one clear sentence, so the CLI and the app can show it as is,
without a traceback.
"""


class EOSError(Exception):
    """Base class of errors whose message is meant for the user."""


class ConfigError(EOSError, ValueError):
    """A parameter or an input is out of range, of the wrong type or inconsistent.

    Also a ``ValueError``: scikit-learn's estimator contract (bad input raises ``ValueError``)
    holds for :class:`~eos_core.oversampling.EOS`, whose checks raise this.
    """


class DatasetUnavailable(EOSError, FileNotFoundError):
    """A dataset cannot be loaded (missing offline, not an image folder, corrupt files)."""


class TrainingDiverged(EOSError, RuntimeError):
    """The loss became NaN or infinite."""


class Cancelled(EOSError):
    """The user cancelled a long-running job."""


class StoreUnavailable(EOSError, OSError):
    """The runs folder cannot be used (a file, not writable, on a full disk)."""


class DiskFull(StoreUnavailable):
    """A write failed because the disk is full (``ENOSPC``)."""


class DamagedRun(EOSError, ValueError):
    """One run's index record or artifact cannot be read; every other run keeps working."""


class UploadRejected(DatasetUnavailable):
    """An uploaded archive is refused (too large, too many files, unsafe or damaged members)."""
