"""The one exception type the data room raises for problems a user can fix."""


class DataError(Exception):
    """Bad input data: the message names the file (and line or byte) and the fix."""
