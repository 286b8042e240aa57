"""Errors meant to be read by a person."""


class UserError(Exception):
    """A problem with the user's input or environment, with a message that says what to do.

    The CLI prints it as one line without a traceback; the GUI shows it in a message box.
    """
