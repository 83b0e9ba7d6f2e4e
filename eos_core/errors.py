"""User-facing errors.

Every error a user can cause (a bad parameter, a dataset missing offline, a NaN loss) is an
``EOSError`` whose ``str()`` is one clear sentence, so the CLI and the app can show it as is,
without a traceback.
"""


class EOSError(Exception):
    """Base class of errors whose message is meant for the user."""


class ConfigError(EOSError, ValueError):
    """A parameter is out of range or inconsistent."""


class DatasetUnavailable(EOSError, FileNotFoundError):
    """A dataset cannot be loaded (missing offline, not an image folder, corrupt files)."""


class TrainingDiverged(EOSError, RuntimeError):
    """The loss became NaN or infinite."""


class Cancelled(EOSError):
    """The user cancelled a long-running job."""
