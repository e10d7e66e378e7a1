"""mvae.Error and its subclasses: one per mvae_status (mvae/common.h)."""


class Error(Exception):
    """A failure reported by mvae. str(e) is mvae's message (the text the `mvae` command prints
    after "mvae: error: "); e.status is the mvae_status code, e.status_name its name."""

    status_name = "error"

    def __init__(self, message, status=0):
        super().__init__(message)
        self.message = message
        self.status = status


class InvalidError(Error, ValueError):
    """MVAE_ERR_INVALID: a bad argument, shape, config value or experiment file."""
    status_name = "invalid"


class FileError(Error):
    """MVAE_ERR_IO: a file or directory is missing, unreadable or unwritable (or a run is locked)."""
    status_name = "io"


class FormatError(Error):
    """MVAE_ERR_FORMAT: a corrupted or foreign file (checkpoint, data set)."""
    status_name = "format"


class PluginError(Error):
    """MVAE_ERR_PLUGIN: a plugin is missing, has the wrong ABI or misbehaved."""
    status_name = "plugin"


class NumericError(Error, ArithmeticError):
    """MVAE_ERR_NUMERIC: NaN or Inf (a diverged training step)."""
    status_name = "numeric"


class OutOfMemoryError(Error, MemoryError):
    """MVAE_ERR_NOMEM."""
    status_name = "nomem"


class Interrupted(Error):
    """MVAE_ERR_INTERRUPTED: training stopped on request; the run directory resumes."""
    status_name = "interrupted"


_BY_STATUS = {1: InvalidError, 2: FileError, 3: FormatError, 4: PluginError, 5: NumericError,
              6: OutOfMemoryError, 7: Interrupted}


def error_for(status):
    return _BY_STATUS.get(status, Error)
