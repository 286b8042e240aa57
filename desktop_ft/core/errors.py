"""Errors meant to be read by a person."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment, with a message that says what to do.

    The CLI prints ``str(error)`` as one line (``--debug`` shows the traceback, with the
    original cause chained). The window shows :attr:`window_message` — the same advice
    phrased with the window's controls instead of command-line flags — in its banner, and
    :attr:`details` (e.g. the underlying exception) behind a "Details" disclosure.
    """

    def __init__(self, message: str, *, window_message: str | None = None,
                 details: str | None = None):
        super().__init__(message)
        self.window_message = window_message or message
        self.details = details


def describe_exception(e: BaseException) -> str:
    """``TypeName: first line`` — for the details of a wrapped low-level error."""
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:500] if text else ''}".rstrip(": ")
