"""Replik: moderated comments, pingbacks and webmentions for a Pelican blog."""

__version__ = "0.1.0"


def register() -> None:
    """Pelican's plugin entry point (PLUGINS = ["replik"])."""
    from .plugin import register as _register

    _register()
