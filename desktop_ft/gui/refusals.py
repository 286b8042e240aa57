"""Why an operation cannot run now, said in the window's banner.

:class:`Refusals` is the one place that turns a refusal (training is running, nothing is
trained yet) or a :class:`~desktop_ft.core.errors.UserError` into the session's ``error``
signal — in the window's wording (``window_message``), never a command-line flag."""

from __future__ import annotations

from desktop_ft.core.errors import UserError


class Refusals:
    """Routes errors to ``session.error(message, details)``; the checks return whether
    the operation may go on."""

    def __init__(self, session):
        self._session = session

    def say(self, message: str, details: str = "") -> None:
        self._session.error.emit(message, details)

    def user_error(self, e: UserError) -> None:
        self.say(e.window_message, e.details or "")

    def while_training(self, what: str) -> bool:
        """True (and said) when training runs: ``what`` must wait."""
        if self._session.training:
            self.say(f"Training is running; stop it before {what}.")
        return self._session.training

    def trained(self, what: str) -> bool:
        """Whether ``what`` may run: not while training, and only after training."""
        if self.while_training(what):
            return False
        if self._session.bundle is None or self._session.result is None:
            self.say("Train a model first.")
            return False
        return True
