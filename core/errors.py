"""The one base of every PredictionDex error, with a hint that says what to do.

Callers catch `PredictionDexError` once (the CLIs print `error: <message>` and exit 2; the
dashboard shows the message and its hint). Code never decides by reading an error's text: an
error that another module must act on carries a `kind` instead.
"""

from __future__ import annotations


class PredictionDexError(Exception):
    """A refusal or failure the user can act on.

    Attributes:
        hint: what to do about it, one sentence (may be empty when the message already says it).
            Each subclass sets a default; a raise site may give a more precise one.
    """

    default_hint: str = ""

    def __init__(self, message: str = "", *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = self.default_hint if hint is None else hint

    @property
    def message(self) -> str:
        """The message on one line (whitespace collapsed)."""
        return " ".join(str(self).split()) or type(self).__name__

    def full_text(self) -> str:
        """The message followed by the hint, on one line, as a user sees it."""
        return f"{self.message} {self.hint}".strip()
