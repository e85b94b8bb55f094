"""JSON error responses: every refusal names the problem in a JSON body."""

from __future__ import annotations

import collections.abc as cabc

from flask import jsonify
from flask import Response


def json_error(
    status: int,
    error: str,
    message: str,
    headers: cabc.Mapping[str, str] | None = None,
) -> Response:
    """Build ``{"error": error, "message": message}`` with ``status``.

    :param status: The HTTP status code.
    :param error: A short machine-readable code, such as ``"unauthorized"``.
    :param message: A sentence for people; never a secret.
    :param headers: Extra response headers.
    """
    rv = jsonify({"error": error, "message": message})
    rv.status_code = status

    if headers:
        rv.headers.update(headers)

    return rv
