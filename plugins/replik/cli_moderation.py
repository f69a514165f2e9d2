"""Moderation from the command line: list, show, approve, spam, ham, trash, restore,
delete, reply, edit."""

from __future__ import annotations

import click

commands: list[click.Command] = []
