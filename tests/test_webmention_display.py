"""How webmentions show in a thread: replies as comments, likes as one line."""

from __future__ import annotations

from lxml import html as lxml_html
from sitebuilder import ROOT, add_entry, build, small_site, utc

from replik.thread import build_thread

KINDS = {
    "reply": dict(author="Anna Beispiel", url="https://anna.example/",
                  body="Ich sehe das *anders*.", title="Antwort an Dialogfeld"),
    "like": dict(author="Bernd", url="https://bernd.example/", body=""),
    "mention": dict(author="Clara", body="Siehe den Beitrag bei Dialogfeld.",
                    title="Linkschau"),
}


def _entries(root):
    made = {}
    for n, (kind, fields) in enumerate(KINDS.items()):
        made[kind] = add_entry(
            root, "post", fields["body"], utc(2026, 3, 5, 10 + n, 0), type="webmention",
            author=fields["author"], url=fields.get("url", ""), title=fields.get("title", ""),
            source=f"https://{kind}.example/post",
            extra={"Webmention-Kind": kind, "Author-Photo": "javascript:alert(1)"
                   if kind == "like" else "https://anna.example/me.jpg"},
        )
    return made


def test_nodes_by_kind(tmp_path):
    made = _entries(tmp_path)
    _, flat = build_thread(list(made.values()))
    reply, like, mention = flat
    assert not reply.is_linkback and reply.author == "Anna Beispiel"
    assert reply.url == "https://anna.example/" and "<em>anders</em>" in reply.html
    assert reply.photo == "https://anna.example/me.jpg"
    assert like.is_reaction and like.author == "Bernd" and like.photo == ""
    assert mention.is_linkback and mention.author == "Linkschau"
    assert mention.url == "https://mention.example/post"
    assert str(mention.html).startswith("<p>[…] Siehe")


def test_real_theme_shows_replies_likes_and_mentions(tmp_path):
    small_site(tmp_path, [("post", "Ein Beitrag", "2026-03-01 09:00")], theme=ROOT / "theme")
    made = _entries(tmp_path)
    out = build(tmp_path)
    doc = lxml_html.fromstring((out / "post" / "index.html").read_text())

    def node(kind):
        return doc.get_element_by_id(f"comment-{made[kind].id}")

    reply = node("reply")
    assert reply.xpath("string(.//*[@class='comment-author'])").strip() == "Anna Beispiel"
    assert reply.xpath(".//div[@class='comment-body']//em")[0].text == "anders"
    assert reply.xpath(".//a[@class='comment-reply']")  # a reply can be answered
    # The reply links to where it was written, beside its date.
    [via] = reply.xpath(".//p[@class='comment-date']/a[@class='comment-source']")
    assert via.get("href") == "https://reply.example/post" and via.text == "Quelle"
    assert via.get("rel") == "nofollow ugc"
    like = node("like")
    assert "comment-reaction" in like.get("class")
    assert "Bernd" in like.text_content() and "mag diesen Beitrag." in like.text_content()
    assert not like.xpath(".//img")  # a javascript: photo is never shown
    mention = node("mention")
    assert "comment-linkback" in mention.get("class")
    assert "[…] Siehe den Beitrag bei Dialogfeld. […]" in mention.text_content()
    # A mention's title is its link to the source already.
    assert not mention.xpath(".//a[@class='comment-source']")


def test_a_linkback_without_excerpt_shows_its_title_alone(tmp_path):
    small_site(tmp_path, [("post", "Ein Beitrag", "2026-03-01 09:00")], theme=ROOT / "theme")
    made = {
        kind: add_entry(tmp_path, "post", body, utc(2026, 3, 5, 10 + n, 0), type=kind,
                        title=f"Nur ein Bild ({kind})", source=f"https://{kind}.example/p",
                        extra={"Webmention-Kind": "mention"} if kind == "webmention" else {})
        for n, (kind, body) in enumerate([("pingback", ""), ("webmention", " \n "),
                                          ("trackback", "Mit Text.")])
    }
    out = build(tmp_path)
    doc = lxml_html.fromstring((out / "post" / "index.html").read_text())
    for kind in ("pingback", "webmention"):
        node = doc.get_element_by_id(f"comment-{made[kind].id}")
        assert node.xpath("string(.//*[@class='comment-author'])").strip() == (
            f"Nur ein Bild ({kind})")
        body = node.xpath(".//div[@class='comment-body']")[0]
        assert body.text_content().strip() == "" and "[…]" not in node.text_content()
    with_text = doc.get_element_by_id(f"comment-{made['trackback'].id}")
    assert "[…] Mit Text. […]" in with_text.text_content()
