"""Keep secrets out of everything certcheck prints, logs, stores or sends.

Configuration values marked secret (webhook URLs, signing secrets, passwords,
database URLs) and every value that came from an environment variable are
registered here; :meth:`Redactor.scrub` replaces them in any text before that
text reaches the console, the history database or an alert.
"""

from __future__ import annotations

from urllib.parse import quote, quote_plus

MASK = "***"
#: shorter values are not scrubbed: masking "on" or "1" everywhere would mangle text
_MIN_LENGTH = 4


class Redactor:
    def __init__(self, secrets: set[str] | None = None) -> None:
        self._secrets: set[str] = set()
        for secret in secrets or ():
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < _MIN_LENGTH:
            return
        self._secrets.update({secret, quote(secret, safe=""), quote_plus(secret)})

    def scrub(self, text: str) -> str:
        # Longest first, so a URL that contains a shorter secret is masked whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def __contains__(self, text: str) -> bool:
        return any(secret in text for secret in self._secrets)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"
