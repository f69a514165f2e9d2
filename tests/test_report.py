"""The dialogue report, computed from a fixture whose answers are known."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from test_desk_site import add_entry, make_site, settings_for

from replik.chart import weekly_chart
from replik.cli import main
from replik.report import build_report, p90
from replik.store import Store

H = 3600


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def build_fixture(root: Path) -> tuple[Path, dict[str, str]]:
    conf = make_site(root, posts=4)
    return conf, populate(root)


def populate(root: Path) -> dict[str, str]:
    """Two articles, every kind of case; the expected figures are worked out below."""
    store = Store(root / "comments")
    ids: dict[str, str] = {}
    log: list[dict] = []

    def entry(name, article, state, when, **fields):
        ids[name] = add_entry(store, article, state, when=when, author=name, **fields).id

    def decided(name, action, frm, to, when):
        log.append({"time": when.isoformat(), "actor": "anna", "action": action,
                    "entry": ids[name], "from": frm, "to": to})

    def staff(name, parent, when):
        entry(name, store.get(ids[parent]).article, "approved", when, staff=True,
              reply_to=ids[parent], body="Danke!")
        log.append({"time": when.isoformat(), "actor": "anna", "action": "reply",
                    "entry": ids[name], "from": "", "to": "approved"})

    entry("c0", "post-1", "approved", t(1, 10))  # before the period
    entry("c1", "post-1", "approved", t(2, 10))
    decided("c1", "approve", "pending", "approved", t(2, 10, 30))
    staff("s1", "c1", t(2, 12))
    entry("c2", "post-1", "approved", t(3, 9))
    decided("c2", "approve", "pending", "approved", t(3, 11))
    staff("s2", "c2", t(4, 9))
    staff("s2b", "c2", t(5, 9))  # a second answer does not count
    entry("c3", "post-1", "approved", t(4, 8), body="Hallo?  Noch   jemand da?")
    decided("c3", "approve", "pending", "approved", t(4, 8, 15))
    entry("p1", "post-1", "approved", t(5, 10), type="pingback", source="https://x.example/")
    entry("c4", "post-2", "spam", t(9, 10))
    decided("c4", "spam", "pending", "spam", t(9, 10, 10))
    entry("c5", "post-2", "trash", t(10, 10))
    decided("c5", "trash", "pending", "trash", t(10, 11))
    entry("c6", "post-2", "approved", t(10, 12))
    decided("c6", "approve", "pending", "approved", t(10, 12, 30))
    decided("c6", "edit", "approved", "approved", t(10, 13))
    staff("s6", "c6", t(10, 18))
    entry("w1", "post-2", "pending", t(11, 10), type="webmention", source="https://y.example/")
    entry("c7", "post-2", "approved", t(19, 23))  # after the period
    (root / "comments" / "audit.log").write_text(
        "".join(json.dumps(item) + "\n" for item in log), encoding="utf-8")
    return ids


@pytest.fixture
def fixture(tmp_path: Path):
    return build_fixture(tmp_path / "site")


def test_overall_figures(fixture) -> None:
    conf, ids = fixture
    report = build_report(settings_for(conf), t(2, 0), t(17, 0), now=t(20, 0))
    overall = report["overall"]
    assert overall["received"] == {"comment": 6, "pingback": 1, "trackback": 0,
                                   "webmention": 1}
    assert overall["received_total"] == 8
    assert (overall["approved"], overall["spam"], overall["trash"], overall["pending"]) == \
        (5, 1, 1, 1)
    # 600, 900, 1800, 1800, 3600, 7200 seconds to a decision
    assert overall["decision_median"] == 1800
    assert overall["reader_comments_approved"] == 4 and overall["answered"] == 3
    assert overall["answer_share"] == 0.75
    # first answers after 2 h, 6 h and 24 h
    assert overall["answer_median"] == 6 * H
    assert overall["answer_p90"] == 24 * H
    assert [u["id"] for u in overall["unanswered"]] == [ids["c3"]]
    assert overall["unanswered"][0]["excerpt"] == "Hallo? Noch jemand da?"


def test_per_article_and_weekly(fixture) -> None:
    conf, ids = fixture
    report = build_report(settings_for(conf), t(2, 0), t(17, 0), now=t(20, 0))
    one, two = report["articles"]["post-1"], report["articles"]["post-2"]
    assert one["received"]["comment"] == 3 and one["received"]["pingback"] == 1
    assert (one["approved"], one["decision_median"]) == (4, 1800)
    assert one["answer_share"] == pytest.approx(2 / 3)
    assert (one["answer_median"], one["answer_p90"]) == (13 * H, 24 * H)
    assert (two["approved"], two["spam"], two["trash"], two["pending"]) == (1, 1, 1, 1)
    assert (two["decision_median"], two["answer_share"]) == (1800, 1.0)
    assert (two["answer_median"], two["answer_p90"]) == (6 * H, 6 * H)
    assert two["unanswered"] == []
    assert [(w["week"], w["answer_share"], w["answer_median"]) for w in report["weeks"]] == [
        ("2026-03-02", pytest.approx(2 / 3), 13 * H),
        ("2026-03-09", 1.0, 6 * H),
        ("2026-03-16", None, None),
    ]


def test_answer_within_decides_what_is_waiting(fixture) -> None:
    conf, ids = fixture
    settings = settings_for(conf)
    # Just 20 hours after c3 arrived it is not yet overdue at 24 hours, but is at 12.
    assert build_report(settings, t(2, 0), t(17, 0), now=t(5, 4))["overall"]["unanswered"] == []
    settings = settings.replace(REPLIK_ANSWER_WITHIN=12)
    late = build_report(settings, t(2, 0), t(17, 0), now=t(5, 4))["overall"]["unanswered"]
    assert [u["id"] for u in late] == [ids["c3"]]


def test_p90_is_nearest_rank() -> None:
    assert p90([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) == 9
    assert p90([5]) == 5 and p90([]) is None


def test_cli_table_json_csv(fixture) -> None:
    conf, ids = fixture
    runner = CliRunner()
    base = ["--settings", str(conf), "report", "--since", "2026-03-02", "--until", "2026-03-16"]
    data = json.loads(runner.invoke(main, [*base, "--json"], catch_exceptions=False).output)
    assert data["overall"]["answer_share"] == 0.75
    assert data["overall"]["answer_p90"] == 86400
    rows = list(csv.DictReader(io.StringIO(
        runner.invoke(main, [*base, "--csv"], catch_exceptions=False).output)))
    assert [r["article"] for r in rows] == ["(all)", "post-1", "post-2"]
    assert rows[0]["answer_median"] == "21600.0" and rows[2]["spam"] == "1"
    table = runner.invoke(main, base, catch_exceptions=False).output
    assert "75 %" in table and "6.0 h" in table and "24.0 h" in table and ids["c3"] in table
    bad = runner.invoke(main, [*base[:3], "--since", "März"])
    assert bad.exit_code == 2 and "is not a date" in bad.output


@pytest.mark.parametrize(("query", "message"), [
    ("until=9999-12-31", "from the year 2 to the year 9998"),
    ("since=0001-01-01T00:00%2B05:00", "from the year 2 to the year 9998"),
    ("since=9999-12-31T23:00-05:00&until=9999-12-31", "from the year 2 to the year 9998"),
    ("since=1800-01-01&until=2026-03-16", "at most 100 years"),
    ("since=März", "Dates are written like"),
])
def test_report_json_with_dates_at_the_calendars_edge_is_400(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, query: str, message: str) -> None:
    from test_desk import logged_in
    from test_desk_site import Served, hash_env

    hash_env(monkeypatch)
    served = Served(tmp_path / "site")  # its minimal theme has no catalogs: English
    try:
        client = logged_in(served)
        answer = client.get(f"/moderate/report.json?{query}",
                            headers={"Accept": "application/json"})
        page = client.get(f"/moderate/?{query}")
    finally:
        served.close()
    assert answer.status_code == 400 and message in answer.json()["message"]
    assert page.status_code == 400 and message in page.text


def test_cli_report_at_the_calendars_edge_is_a_usage_error(fixture) -> None:
    conf, _ids = fixture
    base = ["--settings", str(conf), "report"]
    for args, message in ((["--until", "9999-12-31"], "outside the years 2 to 9998"),
                          (["--since", "1800-01-01"], "at most 100 years")):
        result = CliRunner().invoke(main, [*base, *args])
        assert result.exit_code == 2 and message in result.output, result.output


def test_passwd_prints_a_hash_that_logs_in(tmp_path: Path) -> None:
    from werkzeug.security import check_password_hash

    conf = make_site(tmp_path, posts=1, moderators={"anna": "REPLIK_PASSWORD_ANNA"})
    result = CliRunner().invoke(main, ["--settings", str(conf), "passwd", "anna"],
                                input="geheim-genug-1\ngeheim-genug-1\n")
    assert result.exit_code == 0
    digest = result.stdout.strip().splitlines()[-1]
    assert digest.startswith("scrypt:") and check_password_hash(digest, "geheim-genug-1")
    assert "REPLIK_PASSWORD_ANNA" in result.output
    short = CliRunner().invoke(main, ["--settings", str(conf), "passwd", "anna"],
                               input="kurz\nkurz\n")
    assert short.exit_code == 1


def test_chart_is_labelled_svg() -> None:
    svg = str(weekly_chart([
        {"week": "2026-03-02", "answer_share": 2 / 3, "answer_median": 13 * H,
         "reader_comments_approved": 3},
        {"week": "2026-03-09", "answer_share": None, "answer_median": None,
         "reader_comments_approved": 0},
    ]))
    assert svg.startswith("<svg") and "<title" in svg and "<desc" in svg
    assert "67 %" in svg and "13.0 h" in svg and "no reader comments" in svg
    assert "<script" not in svg and "style=" not in svg


def year_of_weeks() -> list[dict]:
    """53 weeks, most with answers and varying times, some without reader comments."""
    weeks = []
    for number in range(53):
        day = date(2026, 1, 5) + timedelta(weeks=number)
        empty = number % 7 == 3
        weeks.append({"week": day.isoformat(), "reader_comments_approved": 0 if empty else 3,
                      "answer_share": None if empty else (number % 4) / 3,
                      "answer_median": None if empty else (1 + number % 9) * 1.7 * H})
    return weeks


def text_boxes(svg: str) -> list[tuple[str, float, float, float, float]]:
    """Each <text>'s box, its width estimated at 0.6 em a character (real sans-serif
    digits are about 0.55 em): (text, left, top, right, bottom)."""
    boxes = []
    for element in etree.fromstring(svg.encode()).iter("{http://www.w3.org/2000/svg}text"):
        size = 12 if element.get("class") == "chart-heading" else 11
        width = len(element.text) * size * 0.6
        x, y = float(element.get("x")), float(element.get("y"))
        left = {"middle": x - width / 2, "end": x - width}.get(element.get("text-anchor"), x)
        boxes.append((element.text, left, y - size, left + width, y + size * 0.25))
    return boxes


@pytest.mark.parametrize("weeks", [1, 4, 13, 53])
def test_chart_labels_never_overlap(weeks: int) -> None:
    svg = str(weekly_chart(year_of_weeks()[:weeks], locale="de"))
    boxes = text_boxes(svg)
    for index, one in enumerate(boxes):
        assert one[1] >= 0 and one[3] <= 640, f"{one[0]!r} sticks out of the chart"
        for other in boxes[index + 1:]:
            overlap = one[1] < other[3] and other[1] < one[3] and \
                one[2] < other[4] and other[2] < one[4]
            assert not overlap, f"{one[0]!r} overlaps {other[0]!r}"
    texts = [box[0] for box in boxes]
    # Still labelled: the first week, the axes, and numbers on the chart.
    assert "5.1." in texts and "100 %" in texts and "0 h" in texts
    assert sum(text.endswith(" h") for text in texts) >= min(weeks, 5)
    if weeks <= 13:  # room for every week's date
        assert sum(text.endswith(".") for text in texts) == weeks


def test_chart_and_durations_follow_the_language() -> None:
    from replik.report import hours

    assert hours(3.4 * H, "de") == "3,4 h" and hours(3.4 * H) == "3.4 h"
    assert hours(45 * 60, "de") == "45 min" and hours(3 * 86400, "de") == "3,0 d"
    weeks = year_of_weeks()[:3]
    german = str(weekly_chart(weeks, locale="de"))
    english = str(weekly_chart(weeks, locale="en"))
    assert "1,7 h" in german and "1.7 h" not in german and "5.1." in german
    assert "1.7 h" in english and "1/5" in english
