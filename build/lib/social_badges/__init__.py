"""Social badges: the company's channels on every page, as SVG badges and in the post feeds.

Configure ``SOCIAL_CHANNELS`` in pelicanconf.py (see docs/social.md). Icons: Simple
Icons (CC0 1.0) and our own drawings, credited in ``icons/README.md``.
"""


def register() -> None:
    """Pelican's plugin entry point (PLUGINS = ["social_badges"])."""
    from .plugin import register as _register

    _register()
