"""Taking secrets out of text the status report and the log lines show:
credentials in URLs and long token-like strings.

The status report is readable by credentials that may not stop the
server, and log lines travel far. What they show comes from places the
package does not control: the message of a hook's exception (a database
URL with its password) and the paths of requests in flight (a password
reset link with its token in the path). Both go through :func:`redact`
before anyone sees them.
"""

from __future__ import annotations

import re

#: What a redacted part is replaced with.
REDACTED = "[redacted]"

#: ``scheme://user:password@`` (or ``scheme://token@``): everything between
#: the scheme and the ``@`` goes.
_URL_CREDENTIALS = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#@]+@")

#: Runs of the characters tokens are made of (base64, base64url, hex,
#: UUIDs). Path separators, dots, spaces and punctuation end a run.
_RUN = re.compile(r"[A-Za-z0-9_\-+=~]{16,}")


def _token_like(run: str) -> bool:
    has_digit = any(c.isdigit() for c in run)
    has_alpha = any(c.isalpha() for c in run)

    if has_digit and has_alpha:
        # Random tokens of 16 characters or more almost always mix both;
        # words and identifiers rarely do.
        return True

    has_upper = any(c.isupper() for c in run)
    has_lower = any(c.islower() for c in run)
    # Mixed case without digits (base64 that happens to have none), or
    # anything very long.
    return (len(run) >= 24 and has_upper and has_lower) or len(run) >= 40


def redact(text: str) -> str:
    """Replace credentials in URLs and long token-like strings in
    ``text`` with :data:`REDACTED`.

    >>> redact("could not connect to postgres://app:pw@db/app")
    'could not connect to postgres://[redacted]@db/app'
    >>> redact("GET /reset/pwreset-8f3a9c2e71b44d0f1a2b (3.0 s)")
    'GET /reset/[redacted] (3.0 s)'
    """
    text = _URL_CREDENTIALS.sub(rf"\1{REDACTED}@", text)
    return _RUN.sub(lambda m: REDACTED if _token_like(m.group(0)) else m.group(0), text)
