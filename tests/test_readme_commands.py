"""Every `replik …` line in the README and docs names a real command and real options,
and the README's way of putting `replik` on PATH works as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from replik.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
VENV = Path(sys.executable).parent.parent


def shell_blocks(path: Path) -> list[str]:
    """The contents of the file's ```sh (or untyped) code blocks."""
    blocks: list[str] = []
    lines: list[str] | None = None
    language = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            if lines is None:
                lines, language = [], line.strip()[3:]
            else:
                if language in ("", "sh", "bash", "console"):
                    blocks.append("\n".join(lines))
                lines = None
        elif lines is not None:
            lines.append(line.strip())
    return blocks


def replik_lines(path: Path) -> list[str]:
    """Each `replik …` invocation in the file's code blocks, without comments."""
    found = []
    for block in shell_blocks(path):
        for line in block.splitlines():
            code = line.split("#", 1)[0]
            for part in re.split(r"&&|\||;|/ (?=replik )", code):
                part = part.strip()
                if part.startswith("replik ") or part.startswith(".venv/bin/replik "):
                    found.append(part)
    return found


def resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    command: click.Command = main
    rest = list(words)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"no command {rest[0]!r} under {command.name!r}"
        command, rest = sub, rest[1:]
    return command, rest


def option_names(command: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for param in command.params:
        names.update(getattr(param, "opts", []))
        names.update(getattr(param, "secondary_opts", []))
    return names


CASES = [(path.name, line) for path in DOCS for line in replik_lines(path)]


def test_the_docs_show_replik_commands() -> None:
    assert len(CASES) > 20


@pytest.mark.parametrize(("source", "line"), CASES)
def test_documented_command_exists(source: str, line: str) -> None:
    words = line.replace("[", " ").replace("]", " ").replace("|", " ").split()[1:]
    # Options of the group itself (--settings FILE) come before the subcommand.
    while words and words[0] == "--settings":
        words = words[2:]
    command, rest = resolve(words)
    assert not isinstance(command, click.Group), f"{source}: {line!r} names only a group"
    known = option_names(command)
    for word in rest:
        if word.startswith("--"):
            name = word.split("=", 1)[0]
            assert name in known, f"{source}: {line!r}: {command.name} has no option {name}"


def test_readme_puts_replik_on_path_before_using_it() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    readme = [line for source, line in CASES if source == "README.md"]
    first_use = min(text.index(line) for line in readme)
    assert ". .venv/bin/activate" in text[:first_use]


def test_activating_the_venv_puts_replik_on_path(tmp_path: Path) -> None:
    # A shell whose PATH knows nothing of the venv, as after a fresh `make serve`.
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if not p.startswith(str(VENV)))
    env = {**{k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}, "PATH": path}
    before = subprocess.run(["bash", "-c", "command -v replik"], env=env,
                            capture_output=True, text=True)
    assert before.returncode != 0 or not before.stdout.startswith(str(VENV))
    after = subprocess.run(
        ["bash", "-c", f". {VENV}/bin/activate && replik --help"], env=env, cwd=tmp_path,
        capture_output=True, text=True)
    assert after.returncode == 0, after.stderr
    assert "moderate comments" in after.stdout


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_the_docs_reach_a_file_and_its_heading() -> None:
    broken = []
    for doc in DOCS:
        for link in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", link):
                continue
            path, _, fragment = link.partition("#")
            target = (doc.parent / path).resolve() if path else doc
            if not target.exists():
                broken.append(f"{doc.name}: {link}")
                continue
            text = target.read_text(encoding="utf-8") if target.suffix == ".md" else ""
            if fragment and fragment not in {_anchor(h) for h in re.findall(r"^#+ (.+)$", text,
                                                                         re.M)}:
                broken.append(f"{doc.name}: {link}")
    assert broken == []
