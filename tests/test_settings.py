"""The typed settings: every REPLIK_* name has a default, and mistakes stop with a message."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
from click.testing import CliRunner
from sitebuilder import small_site, write_project_conf

from replik.cli import main
from replik.settings import (
    ENVIRONMENT_ONLY,
    PELICAN_NAMES,
    Settings,
    SettingsError,
    load_settings,
    setting_name,
)

ROOT = Path(__file__).resolve().parents[1]
NAMES = {setting_name(f.name) for f in fields(Settings) if f.name != "pelican"}
# REPLIK_ names that are no settings: environment variables and the app's own config keys.
NOT_SETTINGS = ENVIRONMENT_ONLY | {
    "REPLIK_PASSWORD_", "REPLIK_SMTP_", "REPLIK_PASSWORD_ANNA", "REPLIK_PASSWORD_BERT",
    "REPLIK_PASSWORD_LOCAL_SERVE", "REPLIK_SITEURL", "REPLIK_SEND_LINKBACKS",
    "REPLIK_STORE_PATH", "REPLIK_OUTPUT_PATH", "REPLIK_BODY_LIMITS", "REPLIK_DESK_PREFIX",
}


def _shown(value: object) -> str:
    return repr(list(value) if isinstance(value, tuple) else value).replace("'", '"')


def test_every_replik_name_the_code_and_theme_use_is_a_setting() -> None:
    files = [*ROOT.glob("plugins/**/*.py"), *ROOT.glob("theme/**/*.html"),
             *ROOT.glob("plugins/replik/templates/**/*.html"),
             ROOT / "pelicanconf.py", ROOT / "publishconf.py"]
    used = {name for path in files
            for name in re.findall(r"\bREPLIK_[A-Z0-9_]+", path.read_text(encoding="utf-8"))}
    assert used - NOT_SETTINGS - NAMES == set()
    # The project's own files pass the check.
    assert load_settings(ROOT / "pelicanconf.py").max_depth == 5
    assert load_settings(ROOT / "publishconf.py").siteurl.startswith("https://")


def test_an_empty_configuration_gets_every_default() -> None:
    settings = Settings.from_mapping({})
    assert settings == Settings()
    assert settings.lang == "de" and settings.store == "comments" and settings.max_depth == 5
    assert settings.required_fields == ("author", "body")
    # Pelican's dict gets every REPLIK_* value (the templates read them).
    assert {n for n in settings.pelican if n.startswith("REPLIK_")} == {
        n for n in NAMES if n.startswith("REPLIK_")}
    assert settings.pelican["REPLIK_FEED_LATEST"] == "feeds/comments.atom.xml"


def test_overrides_by_name_and_by_field() -> None:
    settings = Settings.from_mapping({"REPLIK_MAX_DEPTH": 3, "DEFAULT_LANG": "en"})
    assert (settings.max_depth, settings.lang) == (3, "en")
    changed = settings.replace(REPLIK_CLOSE_AFTER_DAYS=30)
    assert (changed.max_depth, changed.close_after_days, settings.close_after_days) == (3, 30, 0)
    assert Settings(max_depth=2).replace(SITEURL="https://x.example").max_depth == 2


def test_an_unknown_name_asks_did_you_mean() -> None:
    with pytest.raises(SettingsError, match=re.escape(
            "unknown setting REPLIK_MAX_DEPT; did you mean REPLIK_MAX_DEPTH?")):
        Settings.from_mapping({"REPLIK_MAX_DEPT": 3})
    with pytest.raises(SettingsError) as caught:
        Settings.from_mapping({"REPLIK_ZZZZZZ": 1})
    assert "did you mean" not in str(caught.value)
    # Other plugins' names and Pelican's are none of our business.
    assert Settings.from_mapping({"SOCIAL_CHANNELS": [], "ANYTHING": 1}).max_depth == 5


def test_a_secret_in_the_file_is_refused_with_a_hint() -> None:
    with pytest.raises(SettingsError, match="REPLIK_SMTP_PASSWORD is read from the environment"):
        Settings.from_mapping({"REPLIK_SMTP_PASSWORD": "geheim"})


@pytest.mark.parametrize(("name", "value", "message"), [
    ("REPLIK_MAX_DEPTH", "five", "REPLIK_MAX_DEPTH must be an integer, not 'five' (str)"),
    ("REPLIK_MAX_DEPTH", True, "REPLIK_MAX_DEPTH must be an integer, not True (bool)"),
    ("REPLIK_MAX_DEPTH", 2.5, "REPLIK_MAX_DEPTH must be an integer, not 2.5 (float)"),
    ("REPLIK_FETCH_TIMEOUT", "5", "REPLIK_FETCH_TIMEOUT must be a number, not '5' (str)"),
    ("REPLIK_BABEL_DATES", "yes", "REPLIK_BABEL_DATES must be True or False, not 'yes' (str)"),
    ("REPLIK_HSTS", None, "REPLIK_HSTS must be a string, not None (NoneType)"),
    ("REPLIK_MODERATION_KEYS", ["viagra", 3],
     "REPLIK_MODERATION_KEYS must be a list of strings, not ['viagra', 3] (list)"),
    ("REPLIK_MODERATORS", ["anna"],
     "REPLIK_MODERATORS must be a dict of strings, not ['anna'] (list)"),
])
def test_a_wrong_type_names_the_setting_and_the_type(name, value, message) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_mapping({name: value})


def test_whole_numbers_for_numbers_and_comma_lists_for_lists() -> None:
    settings = Settings.from_mapping({"REPLIK_FETCH_TIMEOUT": 3,
                                      "REPLIK_NOTIFY_EMAILS": "a@example.org, b@example.org"})
    assert settings.fetch_timeout == 3.0 and isinstance(settings.fetch_timeout, float)
    assert settings.notify_emails == ("a@example.org", "b@example.org")


def test_a_settings_object_cannot_be_changed_in_place() -> None:
    with pytest.raises(AttributeError):
        Settings().max_depth = 3  # type: ignore[misc]


@pytest.mark.parametrize("command", [["list"], ["serve", "--port", "1"]])
def test_the_cli_prints_one_line_and_exits_1(tmp_path, command) -> None:
    conf = write_project_conf(tmp_path, PATH=str(tmp_path), REPLIK_MAX_DEPTH="five")
    result = CliRunner().invoke(main, ["--settings", str(conf), *command])
    assert result.exit_code == 1, result.output
    assert "REPLIK_MAX_DEPTH must be an integer, not 'five' (str)" in result.output
    assert "Traceback" not in result.output and result.output.startswith("Error: ")
    conf = write_project_conf(tmp_path, PATH=str(tmp_path), REPLIK_MAX_DEPT=3)
    result = CliRunner().invoke(main, ["--settings", str(conf), *command])
    assert result.exit_code == 1
    assert "did you mean REPLIK_MAX_DEPTH?" in result.output


def test_a_pelican_build_with_a_bad_setting_stops_with_the_message(tmp_path) -> None:
    conf = small_site(tmp_path, [("post", "Ein Beitrag", "2026-03-05 10:00")],
                      REPLIK_FEED_LATEST_COUNTS=10)
    result = subprocess.run([sys.executable, "-m", "pelican", "-s", str(conf)], cwd=tmp_path,
                            capture_output=True, text=True, env={**os.environ, "COLUMNS": "300"})
    said = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 1, said
    assert ("unknown setting REPLIK_FEED_LATEST_COUNTS; did you mean REPLIK_FEED_LATEST_COUNT?"
            in said)
    assert "Traceback" not in said
    assert not (tmp_path / "output" / "post" / "index.html").exists()


def test_the_docs_list_every_setting_with_its_default() -> None:
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^\| `(REPLIK_[A-Z0-9_]+)` \| `(.*?)` \|", text, re.M))
    expected = {setting_name(f.name): _shown(f.default if f.default is not MISSING
                                             else f.default_factory())
                for f in fields(Settings) if f.name != "pelican" and f.name not in PELICAN_NAMES}
    assert documented == expected
    assert "docs/settings.md" in (ROOT / "README.md").read_text(encoding="utf-8")
