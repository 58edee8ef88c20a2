"""The error type for bad user input: CLIs print its message on one line instead of a traceback."""


class InputError(ValueError):
    """Bad input (option, file, row or key); the message names what is wrong and what was expected."""
