"""The one exception type users see: a message that names what was wrong and how to fix it."""


class DistganError(Exception):
    """Bad input or an unrecoverable run condition. The CLI prints it as one line and exits 2."""
