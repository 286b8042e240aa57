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


class Worded(str):
    """A message that is not an error (a scan warning, say): ``str`` is the CLI's
    sentence, which may name command-line flags; :attr:`window` says the same with the
    window's controls. It stays a plain string wherever one is expected (JSON, printing).

    >>> w = Worded("Consider --class-weights.", window="Tick Class weights on Train.")
    >>> str(w), window_text(w)
    ('Consider --class-weights.', 'Tick Class weights on Train.')
    """

    window: str

    def __new__(cls, message: str, *, window: str | None = None):
        self = super().__new__(cls, message)
        self.window = window or message
        return self


def window_text(message: str) -> str:
    """How the window shows ``message``: a :class:`Worded` message's window wording."""
    return getattr(message, "window", message)


def describe_exception(e: BaseException) -> str:
    """``TypeName: first line`` — for the details of a wrapped low-level error."""
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:500] if text else ''}".rstrip(": ")


# Libraries whose own exceptions all mean "could not fetch": kagglehub's are not OSErrors
# (NotFoundError, UnauthenticatedError …), nor are httpx's or http.client's (IncompleteRead).
_FETCHING_LIBRARIES = ("requests", "urllib3", "httpx", "httpcore", "kagglehub",
                       "huggingface_hub", "http")


def is_fetch_error(e: BaseException) -> bool:
    """Whether ``e`` says a file could not be fetched or found — no network, a server's
    refusal, a missing or unreadable file: what advice about working offline fits. A
    fault in the code (a TypeError, an AttributeError …) is not one, and must not be
    disguised as one."""
    return isinstance(e, OSError) or \
        type(e).__module__.split(".")[0] in _FETCHING_LIBRARIES


# Libraries whose exceptions refuse a file's contents (a truncated safetensors header …).
_FILE_FORMAT_LIBRARIES = ("safetensors", "h5py", "tokenizers")


def is_refused_file_error(e: BaseException) -> bool:
    """Whether ``e`` says a model source's files are not what they should be: a file
    format library refusing their contents, or keras-hub's ValueError for a preset or
    folder it cannot use. Its cause is what the user needs, without offline advice."""
    return isinstance(e, ValueError) or \
        type(e).__module__.split(".")[0] in _FILE_FORMAT_LIBRARIES
