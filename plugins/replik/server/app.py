"""The app factory. Each feature is a blueprint in its own module."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from flask import Flask

from ..settings import load_settings, store_path

# Modules that define ``bp`` (a Blueprint) and optionally ``init_app(app)``.
BLUEPRINT_MODULES: list[str] = []


def create_app(
    settings_path: str | os.PathLike[str] = "pelicanconf.py",
    settings: dict[str, Any] | None = None,
    **overrides: Any,
) -> Flask:
    """Build the app from the blog's pelicanconf.py (or a ready settings dict)."""
    if settings is None:
        settings = load_settings(settings_path)
    settings = {**settings, **overrides}
    app = Flask(__name__)
    app.config["REPLIK"] = settings
    app.config["REPLIK_STORE_PATH"] = str(store_path(settings))
    app.config["REPLIK_OUTPUT_PATH"] = str(Path(settings["OUTPUT_PATH"]))
    for name in BLUEPRINT_MODULES:
        module = importlib.import_module(name)
        app.register_blueprint(module.bp)
        if hasattr(module, "init_app"):
            module.init_app(app)
    return app
