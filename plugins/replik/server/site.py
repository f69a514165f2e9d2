"""The built site, served by the app itself: ``replik serve`` only (in production a
web server serves ``output/``). Registered last, so its catch-all rule sorts after
every feature route; deleted posts (``output/gone.map``, see replik/gone.py) answer
410 Gone."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, redirect, request, send_from_directory
from flask.blueprints import BlueprintSetupState

from ..gone import GoneList

bp = Blueprint("replik_site", __name__)


@bp.record
def _gone_list(setup: BlueprintSetupState) -> None:
    setup.app.extensions["replik_gone"] = GoneList(Path(setup.app.config["REPLIK"].output_path))


@bp.get("/", defaults={"path": ""})
@bp.get("/<path:path>")
def site(path: str) -> Response:
    deleted: GoneList = current_app.extensions["replik_gone"]
    output = deleted.output
    if request.path in deleted:
        # A stale copy of the page may still lie in output/: the post is gone.
        if (output / "404.html").is_file():
            response = send_from_directory(output, "404.html")
            response.status_code = 410
            return response
        abort(410)
    target = (output / path).resolve()
    try:
        target.relative_to(output.resolve())
    except ValueError:
        abort(404)
    if target.is_dir():
        if path and not path.endswith("/"):
            return redirect("/" + path + "/", code=301)  # type: ignore[return-value]
        path = (path + "index.html") if path else "index.html"
    # No such file: send_from_directory raises the app's 404 (the built 404.html for a
    # browser, as nginx's error_page shows it; JSON for a script, see server/app.py).
    return send_from_directory(output, path)
