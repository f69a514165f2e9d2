"""The app's JSON answers: one encoder, one shape for a refusal.

A refusal reads ``{"ok": false, "message": …, "errors": {field: text}}`` wherever
it comes from (intake, preview, an HTTP error), so scripts handle them alike.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, request


def wants_json() -> bool:
    """Does the client ask for JSON (a JSON body, or Accept preferring it to HTML)?"""
    if request.is_json:
        return True
    accept = request.accept_mimetypes
    return accept["application/json"] > accept["text/html"]


def json_response(data: dict[str, Any], status: int = 200) -> Response:
    """``jsonify`` without its per-call provider look-ups: the same bytes
    (sorted keys, ASCII, compact, a final newline) and the same content type."""
    body = json.dumps(data, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    return current_app.response_class(body + "\n", status=status, mimetype="application/json")


def json_refusal(status: int, message: str, errors: dict[str, str] | None = None) -> Response:
    """A refused request: what went wrong, and per form field what to correct."""
    return json_response({"ok": False, "message": message, "errors": errors or {}}, status)
