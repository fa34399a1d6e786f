"""The one exception type for bad input; the CLI prints it as one line and exits with status 2."""


class GanasError(Exception):
    """A problem with the user's input: the message names the problem and the fix."""
