"""The WSGI app: comment intake, linkback endpoints and the moderation desk."""

from .app import create_app

__all__ = ["create_app"]
