"""User-facing errors: the command line prints them as one line and exits with code 2."""


class UserError(ValueError):
    """Bad input from the user; the message says what was wrong and what to do."""
