"""The daily digest against a real SMTP server (aiosmtpd on 127.0.0.1) and a real store.

What an analyst would see is asserted on: the message that arrived, parsed back with the
standard library, its subject, its text and HTML parts, and what the store remembers.
"""

from __future__ import annotations

import email
import hashlib
import importlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest

from pipeline import digest as digest_mod
from pipeline import stories
from pipeline.config import Config, build_config
from pipeline.digest import build_message, run_digest, safe_url
from pipeline.errors import DigestError
from pipeline.importance import importance
from pipeline.models import Article
from pipeline.store import Store
from pipeline.textwidth import width

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
from aiosmtpd.smtp import AuthResult, LoginPassword

Controller = aiosmtpd_controller.Controller
NOW = datetime(2025, 4, 3, 5, 30, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ fixtures
class Inbox:
    """An aiosmtpd handler that keeps every message it accepted."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(e.content, policy=default_policy)  # type: ignore[misc]
                for e in self.envelopes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A real SMTP server on 127.0.0.1 that can be stopped and started on the same port."""

    def __init__(self, port: int | None = None, **smtp_kwargs: Any) -> None:
        self.port = port or free_port()
        self.inbox = Inbox()
        self.kwargs = smtp_kwargs
        self.controller: Any = None

    def start(self) -> Server:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port,
                                     **self.kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def server() -> Any:
    srv = Server().start()
    yield srv
    srv.stop()


def make_config(tmp_path: Path, port: int, *, env: dict[str, str] | None = None,
                **digest: Any) -> Config:
    settings: dict[str, Any] = {
        "to": ["Analyst Desk <analyst@example.com>", "lead@example.org"],
        "from": "Tidings — Rassegna <tidings@example.net>",
        "smtp_host": "127.0.0.1", "smtp_port": port, "timezone": "Europe/Rome",
    }
    settings.update(digest)
    user = {"store": {"path": str(tmp_path / "tidings.db")}, "digest": settings}
    return build_config(user, path=tmp_path / "tidings.toml", env=env or {})


@pytest.fixture
def store(tmp_path: Path) -> Any:
    st = Store.open(tmp_path / "tidings.db")
    yield st
    st.close()


def add(store: Store, config: Config, *, url: str, title: str, text: str, lang: str = "en",
        source: str = "evwire", title_en: str | None = None, text_en: str | None = None,
        status: str | None = None, entities: tuple[str, ...] = ("Xiaomi",),
        relevant: bool = True, join: int | None = None, alone: bool = False,
        seen: datetime = NOW - timedelta(hours=2)) -> Article:
    """Store one article as a pass would: fingerprint, index keys, placement, save
    (`join`: into that story, `alone`: as a new story, whatever placement would say)."""
    if status is None:
        status = "not_needed" if lang == "en" else ("done" if text_en else "pending")
    article = Article(
        url=url, source=source, title=title, text=text, lang=lang, title_en=title_en,
        text_en=text_en, translation_status=status, relevant=relevant,
        entities=list(entities) if relevant else [], fetched_at=seen.isoformat(),
        published_at=seen.isoformat(),
        content_hash=hashlib.sha256((url + text).encode()).hexdigest())
    fp = stories.fingerprint(article)
    keys = stories.index_keys(fp)
    if alone:
        placement = stories.Placement(evidence={"signal": "test"})
    elif join is None:
        candidates = store.candidates(keys, around=article.fetched_at, window_days=10)
        placement = stories.place(article, fp, candidates, config.stories)
    else:
        placement = stories.Placement(story_id=join, evidence={"signal": "test"})
    story = store.story(placement.story_id) if placement.story_id else None
    flag = stories.flag_now(article, placement, story, config.stories)
    return store.save_article(article, placement, fp, keys, flag=flag).article


XIAOMI_TEXT = ("Xiaomi has signed an agreement with the Beijing Yizhuang district to build the "
               "second phase of its car factory. The plant will add 150,000 vehicles a year. "
               "Construction starts in June.")
BAIC_TEXT = ("BAIC BluePark and CATL will build a battery plant in Beijing. The joint venture "
             "targets 20 GWh. Production is planned for 2026.")
ZH_TITLE = "小米汽车亦庄工厂二期正式投产"
ZH_TEXT = ("小米汽车亦庄工厂二期今天正式投产。"
           "新工厂年产能十五万辆。雷军出席了仪式。")
IT_TITLE = "Xiaomi, al via il secondo stabilimento di Pechino: più veicoli elettrici"
IT_TEXT = "Xiaomi ha avviato la produzione nel secondo stabilimento. La capacità sale."


@pytest.fixture
def filled(store: Store, tmp_path: Path, server: Server) -> dict[str, Any]:
    """Three flagged stories (English + Italian, English, Chinese pending), one unflagged."""
    config = make_config(tmp_path, server.port)
    x = add(store, config, url="https://evwire.example/xiaomi-yizhuang",
            title="Xiaomi signs deal for second Yizhuang car factory", text=XIAOMI_TEXT,
            seen=NOW - timedelta(hours=5))
    add(store, config, url="https://autoblog.example.it/xiaomi-stabilimento", title=IT_TITLE,
        text=IT_TEXT, lang="it", source="autoblog-it",
        title_en="Xiaomi starts its second Beijing plant: more electric vehicles",
        text_en="Xiaomi has started production at the second plant. Capacity grows.",
        join=x.story_id, seen=NOW - timedelta(hours=4))
    b = add(store, config, url="https://drivelines.example/baic-catl",
            title="BAIC and CATL to build battery plant in Beijing", text=BAIC_TEXT,
            source="drivelines", entities=("BAIC",), seen=NOW - timedelta(hours=3))
    # Production start of phase two, a development of its own: stored as its own story
    # (placement would link it to the signing through 十五万, 亦庄 and 雷军; stories are
    # tested in test_stories.py, the digest here).
    z = add(store, config, url="https://qiche.example.cn/xiaomi-erqi", title=ZH_TITLE,
            text=ZH_TEXT, lang="zh", source="qiche", alone=True,
            seen=NOW - timedelta(hours=1))
    u = add(store, config, url="https://evwire.example/xiaomi-phone",
            title="Xiaomi launches a new phone", text="A phone. It has a camera.",
            relevant=False, seen=NOW - timedelta(hours=1))
    describe(store, x.story_id, importance=3.6)  # two outlets, two languages, in the headline
    describe(store, z.story_id, importance=2.0)
    describe(store, b.story_id, importance=1.9)
    return {"config": config, "flagged": [x.story_id, b.story_id, z.story_id],
            "unflagged": u.story_id, "server": server}


def describe(store: Store, story_id: int | None, **columns: Any) -> None:
    """Set what the story stage computes (published_at, importance, follows …)."""
    sets = ", ".join(f"{name} = ?" for name in columns)
    store.db.execute(f"UPDATE stories SET {sets} WHERE id = ?", [*columns.values(), story_id])
    store.db.conn.commit()


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def unsent(store: Store) -> set[int]:
    return {r[0] for r in store.db.execute(
        "SELECT id FROM stories WHERE flagged = 1 AND digest_id IS NULL")}


# ------------------------------------------------------------------------------ sending
def test_digest_arrives_with_both_parts_and_exactly_the_flagged_stories(
        store: Store, filled: dict[str, Any]) -> None:
    config, server = filled["config"], filled["server"]
    result = run_digest(config, store, since=None, output=None, send=True, now=NOW)

    assert result.sent and result.story_count == 3 and result.digest_id
    assert "sent to analyst@example.com, lead@example.org" in result.reason
    [envelope] = server.inbox.envelopes
    assert sorted(envelope.rcpt_tos) == ["analyst@example.com", "lead@example.org"]
    assert envelope.mail_from == "tidings@example.net"
    [message] = server.inbox.messages
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Subject"] == "tidings: 3 new developments — Xiaomi, BAIC"
    assert message["Date"] and message["Message-ID"].endswith("@example.net>")
    assert message["From"].addresses[0].display_name == "Tidings — Rassegna"
    text, html = parts(message)
    for body in (text, html):
        assert "Xiaomi signs deal for second Yizhuang car factory" in body
        assert "BAIC and CATL to build battery plant in Beijing" in body
        assert ZH_TITLE in body
        assert "Xiaomi launches a new phone" not in body  # not flagged
        for url in ("https://evwire.example/xiaomi-yizhuang",
                    "https://qiche.example.cn/xiaomi-erqi",
                    "https://autoblog.example.it/xiaomi-stabilimento",
                    "https://drivelines.example/baic-catl"):
            assert url in body
        assert "translation pending" in body
    # one card per story, the most important first
    assert text.index("1.  Xiaomi signs deal") < text.index(f"2.  {ZH_TITLE}") \
        < text.index("3.  BAIC and CATL")
    assert html.index("Xiaomi signs deal") < html.index(ZH_TITLE) < html.index("BAIC and CATL")
    assert "importance 3.6" in text and "importance 3.6" in html
    # what the store remembers: one digest, exactly the flagged stories marked
    row = store.db.execute("SELECT id, sent_at, recipients, story_count, message_id "
                           "FROM digests").fetchall()
    assert len(row) == 1 and row[0][0] == result.digest_id and row[0][3] == 3
    assert json.loads(row[0][2]) == ["analyst@example.com", "lead@example.org"]
    assert row[0][4] == message["Message-ID"]
    marked = dict(store.db.execute("SELECT id, digest_id FROM stories").fetchall())
    assert {sid for sid, d in marked.items() if d == result.digest_id} == set(filled["flagged"])
    assert marked[filled["unflagged"]] is None


def test_second_send_sends_nothing_new(store: Store, filled: dict[str, Any]) -> None:
    config, server = filled["config"], filled["server"]
    run_digest(config, store, since=None, output=None, send=True, now=NOW)
    again = run_digest(config, store, since=None, output=None, send=True,
                       now=NOW + timedelta(minutes=5))
    assert not again.sent and again.story_count == 0 and again.digest_id is None
    assert "nothing new" in again.reason
    assert len(server.inbox.envelopes) == 1
    assert store.db.execute("SELECT COUNT(*) FROM digests").fetchone()[0] == 1


def test_new_story_after_a_digest_goes_out_alone(store: Store, filled: dict[str, Any]) -> None:
    config, server = filled["config"], filled["server"]
    run_digest(config, store, since=None, output=None, send=True, now=NOW)
    add(store, config, url="https://evwire.example/baic-arcfox", entities=("BAIC",),
        title="Arcfox adds a night shift at its Zhenjiang plant",
        text="Arcfox adds a night shift. Output rises.", seen=NOW + timedelta(minutes=10))
    later = run_digest(config, store, since=None, output=None, send=True,
                       now=NOW + timedelta(hours=1))
    assert later.sent and later.story_count == 1
    text, _ = parts(server.inbox.messages[-1])
    assert "Arcfox adds a night shift" in text and "Yizhuang" not in text
    assert server.inbox.messages[-1]["Subject"] == "tidings: 1 new development — BAIC"


def test_server_down_marks_nothing_then_sends_once_when_back(
        store: Store, tmp_path: Path, filled: dict[str, Any]) -> None:
    down = Server()  # a port nobody listens on
    config = make_config(tmp_path, down.port)
    with pytest.raises(DigestError) as info:
        run_digest(config, store, since=None, output=None, send=True, now=NOW)
    assert f"127.0.0.1:{down.port}" in str(info.value)
    assert "cannot connect" in str(info.value)
    assert unsent(store) == set(filled["flagged"])
    assert store.db.execute("SELECT COUNT(*) FROM digests").fetchone()[0] == 0

    down.start()
    try:
        result = run_digest(config, store, since=None, output=None, send=True,
                            now=NOW + timedelta(minutes=15))
        assert result.sent and result.story_count == 3
        again = run_digest(config, store, since=None, output=None, send=True,
                           now=NOW + timedelta(minutes=20))
        assert not again.sent
    finally:
        down.stop()
    assert len(down.inbox.envelopes) == 1
    assert unsent(store) == set()


def test_server_refusing_the_message_marks_nothing(
        store: Store, tmp_path: Path, filled: dict[str, Any]) -> None:
    class Refuse(Inbox):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "554 5.7.1 Message rejected as spam"

    srv = Server()
    srv.inbox = Refuse()
    srv.start()
    try:
        config = make_config(tmp_path, srv.port)
        with pytest.raises(DigestError, match=r"127\.0\.0\.1:\d+: .*554 5\.7\.1"):
            run_digest(config, store, since=None, output=None, send=True, now=NOW)
    finally:
        srv.stop()
    assert unsent(store) == set(filled["flagged"])


def test_partly_refused_recipients_are_named_and_the_digest_recorded(
        store: Store, tmp_path: Path, filled: dict[str, Any]) -> None:
    class NoLead(Inbox):
        async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                              rcpt_options: list[str]) -> str:
            if address == "lead@example.org":
                return "550 5.1.1 No such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    srv = Server()
    srv.inbox = NoLead()
    srv.start()
    try:
        result = run_digest(make_config(tmp_path, srv.port), store, since=None, output=None,
                            send=True, now=NOW)
    finally:
        srv.stop()
    assert result.sent and "refused by the server for lead@example.org" in result.reason
    assert [e.rcpt_tos for e in srv.inbox.envelopes] == [["analyst@example.com"]]
    recipients = store.db.execute("SELECT recipients FROM digests").fetchone()[0]
    assert json.loads(recipients) == ["analyst@example.com"]
    assert unsent(store) == set()

def test_output_without_send_is_a_preview(store: Store, tmp_path: Path,
                                          filled: dict[str, Any]) -> None:
    out = tmp_path / "out" / "digest.eml"
    result = run_digest(filled["config"], store, since=None, output=out, send=False, now=NOW)
    assert not result.sent and result.output == out and result.story_count == 3
    assert "nothing marked" in result.reason
    raw = out.read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")  # RFC 5322 line ends
    message = email.message_from_bytes(raw, policy=default_policy)
    assert message.get_content_type() == "multipart/alternative"
    assert ZH_TITLE in parts(message)[0]  # type: ignore[arg-type]
    assert unsent(store) == set(filled["flagged"])
    assert filled["server"].inbox.envelopes == []


def test_since_window(store: Store, filled: dict[str, Any]) -> None:
    config = filled["config"]
    old = add(store, config, url="https://evwire.example/old", title="Old Xiaomi plant news",
              text="Old news. Very old.", seen=NOW - timedelta(days=3))
    day = run_digest(config, store, since=None, output=None, send=False, now=NOW)
    assert day.story_count == 3
    week = run_digest(config, store, since=timedelta(days=7), output=None, send=False, now=NOW)
    assert week.story_count == 4
    carried = week.message["X-Tidings-Stories"]  # type: ignore[index]
    assert old.story_id in {int(i) for i in carried.split(",")}


def test_old_story_flagged_today_is_included(store: Store, filled: dict[str, Any]) -> None:
    """A story first seen days ago becomes a development when relevant coverage joins it."""
    config = filled["config"]
    quiet = add(store, config, url="https://evwire.example/supplier",
                title="Beijing chassis supplier expands", text="A supplier expands. Quietly.",
                relevant=False, seen=NOW - timedelta(days=4))
    add(store, config, url="https://evwire.example/supplier-xiaomi", join=quiet.story_id,
        title="Xiaomi picks the chassis supplier for its Yizhuang factory",
        text="Xiaomi picks the supplier. The factory grows.", seen=NOW - timedelta(hours=1))
    result = run_digest(config, store, since=None, output=None, send=False, now=NOW)
    assert result.story_count == 4
    text, _ = parts(result.message)  # type: ignore[arg-type]
    assert "Beijing chassis supplier expands" in text
    assert "Xiaomi picks the chassis supplier" in text


def test_failed_day_is_carried_by_the_next_digest(store: Store, tmp_path: Path,
                                                  filled: dict[str, Any]) -> None:
    """Day 1 sent; day 2's digest fails; day 3's digest carries day 2's stories too."""
    config, server = filled["config"], filled["server"]
    run_digest(config, store, since=None, output=None, send=True, now=NOW)
    add(store, config, url="https://drivelines.example/day2", entities=("BAIC",),
        title="BAIC recalls 2,000 Arcfox cars", text="A recall. Two thousand cars.",
        seen=NOW + timedelta(hours=20))
    down = make_config(tmp_path, free_port())
    with pytest.raises(DigestError):
        run_digest(down, store, since=None, output=None, send=True, now=NOW + timedelta(days=1))
    day3 = run_digest(config, store, since=None, output=None, send=True,
                      now=NOW + timedelta(days=2))
    assert day3.sent and day3.story_count == 1 and "since the last digest" in day3.reason
    assert "BAIC recalls 2,000 Arcfox cars" in parts(server.inbox.messages[-1])[0]
    assert unsent(store) == set() and len(server.inbox.envelopes) == 2


def test_empty_digest_is_not_sent_unless_configured(store: Store, tmp_path: Path,
                                                    server: Server) -> None:
    config = make_config(tmp_path, server.port)
    result = run_digest(config, store, since=None, output=None, send=True, now=NOW)
    assert not result.sent and result.story_count == 0
    assert "send_empty" in result.reason and server.inbox.envelopes == []

    config = make_config(tmp_path, server.port, send_empty=True)
    result = run_digest(config, store, since=None, output=None, send=True, now=NOW)
    assert result.sent and result.digest_id
    [message] = server.inbox.messages
    assert message["Subject"] == "tidings: no new developments"
    assert "No new flagged stories" in parts(message)[0]


# ------------------------------------------------------------------------------ content
HOSTILE_TITLE = "<script>alert(1)</script> Xiaomi plant"
HOSTILE_ATTR = '"><img src=x onerror=alert(1)> BAIC'


def test_hostile_titles_arrive_as_text(store: Store, tmp_path: Path, server: Server) -> None:
    config = make_config(tmp_path, server.port)
    s = add(store, config, url="https://evil.example/a", title=HOSTILE_TITLE,
            text="<b>Bold</b> claims & more. Second sentence.")
    add(store, config, url="javascript:alert(document.cookie)", title=HOSTILE_ATTR,
        text="Copy text. More.", source="evil", join=s.story_id)
    run_digest(config, store, since=None, output=None, send=True, now=NOW)
    text, html = parts(server.inbox.messages[0])
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Xiaomi plant" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt; BAIC" in html
    assert "&lt;b&gt;Bold&lt;/b&gt; claims &amp; more." in html
    assert 'href="javascript:' not in html.lower() and "href='javascript:" not in html.lower()
    assert '<a href="https://evil.example/a"' in html
    # the plain part keeps the text exactly as the page gave it
    assert HOSTILE_TITLE in text and HOSTILE_ATTR in text
    assert "<b>Bold</b> claims & more." in text


def test_safe_url_only_allows_web_links() -> None:
    assert safe_url("https://x.example/a?b=1") == "https://x.example/a?b=1"
    assert safe_url("http://x.example/") == "http://x.example/"
    for bad in ("javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x", "//x.example",
                "vbscript:x", "https://x.example/\nfoo", "", None, "mailto:a@b.c"):
        assert safe_url(bad) is None


def test_chinese_and_italian_survive_encoding(store: Store, tmp_path: Path,
                                              server: Server) -> None:
    watch = [{"name": "小米", "aliases": ["小米", "Xiaomi"]},
             {"name": "BAIC", "aliases": ["BAIC", "北汽"]}]
    config = build_config(
        {"store": {"path": str(tmp_path / "tidings.db")}, "watch": watch,
         "digest": {"to": ["Ufficio Analisi Città <analisi@example.it>"],
                    "from": "小米 监测 <tidings@example.cn>", "smtp_host": "127.0.0.1",
                    "smtp_port": server.port}},
        path=tmp_path / "t.toml", env={})
    add(store, config, url="https://qiche.example.cn/a", title=ZH_TITLE, text=ZH_TEXT, lang="zh",
        entities=("小米",))
    add(store, config, url="https://autoblog.example.it/b", title=IT_TITLE, text=IT_TEXT,
        lang="it", title_en="Xiaomi starts its second Beijing plant",
        text_en="Xiaomi has started production. Capacity grows.", entities=("BAIC",))
    run_digest(config, store, since=None, output=None, send=True, now=NOW)
    raw = server.inbox.envelopes[0].content
    head = raw.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")  # every header is 7-bit: RFC 2047 encoded words
    assert b"=?utf-8?" in head.lower()
    message = email.message_from_bytes(raw, policy=default_policy)
    assert message["Subject"] == "tidings: 2 new developments — 小米, BAIC"
    assert message["From"].addresses[0].display_name == "小米 监测"
    assert message["To"].addresses[0].display_name == "Ufficio Analisi Città"
    text, html = parts(message)
    for body in (text, html):
        assert ZH_TITLE in body and "小米汽车亦庄工厂二期今天正式投产。" in body
        assert IT_TITLE in " ".join(body.split())  # the original beside the English headline
        assert "Xiaomi starts its second Beijing plant" in body
        assert "translation pending" in body


def test_story_about_two_entities_is_one_card_naming_both(tmp_path: Path) -> None:
    story = digest_mod.DigestStory(
        id=7, headline="Xiaomi and BAIC share a supplier", original_headline=None, lang="en",
        summary="They share one.", translation_pending=False, first_seen=NOW,
        entities=["Xiaomi", "BAIC"], languages=["en"],
        articles=[digest_mod.DigestArticle("https://a.example/1", "a", "en", "T")])
    config = make_config(tmp_path, 25)
    message = build_message([story], config=config.digest, now=NOW,
                            watch_order=["Xiaomi", "BAIC"])
    text, html = parts(message)
    assert text.count("Xiaomi and BAIC share a supplier") == 1
    assert "    Xiaomi, BAIC\n" in text.replace("\r\n", "\n")
    assert html.count(">Xiaomi</span>") == 1 and html.count(">BAIC</span>") == 1
    assert message["Subject"] == "tidings: 1 new development — Xiaomi, BAIC"


def test_card_shows_dates_importance_and_the_story_it_follows(
        store: Store, filled: dict[str, Any]) -> None:
    config = filled["config"]
    x, _b, _z = filled["flagged"]
    earlier = add(store, config, url="https://evwire.example/2021/xiaomi-etown",
                  title="Xiaomi signs deal to build car factory in Beijing's E-Town",
                  text="Xiaomi will build a 300,000-car plant in two phases. Phase one first.",
                  seen=datetime(2021, 11, 28, 9, 30, tzinfo=UTC))
    describe(store, x, published_at="2025-04-02T22:15:00+00:00", follows=earlier.story_id)
    result = run_digest(config, store, since=None, output=None, send=False, now=NOW)
    text, html = parts(result.message)  # type: ignore[arg-type]
    text = text.replace("\r\n", "\n")
    card = text[text.index("1.  Xiaomi signs deal"):text.index("2.  ")]
    # every time in digest.timezone (Europe/Rome: CEST in April), saying so
    assert "Thu 03 Apr 2025, 07:30 CEST (times in Europe/Rome)" in text
    assert "    Published Thu 03 Apr 2025, 00:15 CEST\n" in card
    assert "    First seen Thu 03 Apr 2025, 02:30 CEST\n" in card
    assert "    2 outlets: autoblog-it, evwire\n" in card
    assert "    Languages: English, Italian\n" in card
    assert "Xiaomi · importance 3.6" in card
    follows = " ".join(card[card.index("Follows:"):].split()[:15])
    assert follows.startswith(
        "Follows: Xiaomi signs deal to build car factory in Beijing's E-Town (28 Nov 2021) "
        "https://evwire.example/2021/xiaomi-etown")
    # a story without a follow-up says nothing of one; the BAIC story had no
    # publication date of its own, so its lead article's is shown
    other = text[text.index("3.  BAIC and CATL"):]
    assert "Follows" not in other and "Published Thu 03 Apr 2025, 04:30 CEST" in other
    assert ('Follows: <a href="https://evwire.example/2021/xiaomi-etown"' in html
            and "Xiaomi signs deal to build car factory in Beijing&#39;s E-Town</a>" in html
            and "(28 Nov 2021)" in html)
    assert "Published <span" in html and "00:15 CEST" in html and "importance 3.6" in html


def test_plain_text_wraps_chinese_by_display_width_and_never_splits_numbers(
        store: Store, tmp_path: Path, server: Server) -> None:
    config = make_config(tmp_path, server.port)
    title = "小米SU7上市首日锁单量突破8.89万台，" * 3 + "雷军称产能将提升至每月2万辆"
    text = ("小米汽车今天宣布，SU7标准版售价为21.59万元，Pro版售价为24.59万元，"
            "Max版售价为29.99万元，上市后订单量超过15.98万辆，远超市场预期的10万辆。"
            "雷军表示，亦庄工厂年产能为15万辆，二期工厂建成后总产能将达到30万辆。"
            "首批车辆将于4月3日开始交付，第一季度交付目标为1.2万辆。")
    add(store, config, url="https://qiche.example.cn/su7", title=title, text=text, lang="zh",
        source="qiche")
    result = run_digest(config, store, since=None, output=None, send=False, now=NOW)
    plain = parts(result.message)[0]  # type: ignore[arg-type]
    lines = plain.replace("\r\n", "\n").split("\n")
    too_wide = [line for line in lines
                if width(line) > digest_mod.TEXT_WIDTH and not line.strip().startswith("http")]
    assert not too_wide
    body = [line for line in lines if "万" in line or "台" in line]
    for number in ("8.89万台", "21.59万元", "24.59万元", "29.99万元", "15.98万辆", "10万辆",
                   "15万辆", "30万辆", "1.2万辆", "2万辆"):
        assert any(number in line for line in body), number
    assert len([line for line in lines if "小米SU7上市首日" in line]) >= 2  # it did wrap


def test_build_message_is_pure_and_deterministic_in_content(tmp_path: Path) -> None:
    config = make_config(tmp_path, 25)
    one = build_message([], config=config.digest, now=NOW)
    two = build_message([], config=config.digest, now=NOW)
    assert parts(one) == parts(two)
    assert one["Date"] == "Thu, 03 Apr 2025 07:30:00 +0200"  # Europe/Rome
    assert one["Message-ID"] != two["Message-ID"]


# ------------------------------------------------------------------------------ SMTP variants
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_with_password_from_environment(store: Store, tmp_path: Path,
                                              filled: dict[str, Any]) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        ok = auth_data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)  # handled=False: the server says 535

    srv = Server(authenticator=authenticator, auth_require_tls=False, auth_required=True).start()
    try:
        wrong = make_config(tmp_path, srv.port, username="digest",
                            env={"TIDINGS_SMTP_PASSWORD": "wrong"})
        with pytest.raises(DigestError, match="login as 'digest' refused"):
            run_digest(wrong, store, since=None, output=None, send=True, now=NOW)
        assert unsent(store) == set(filled["flagged"])

        missing = make_config(tmp_path, srv.port, username="digest", env={})
        with pytest.raises(DigestError, match="TIDINGS_SMTP_PASSWORD is empty"):
            run_digest(missing, store, since=None, output=None, send=True, now=NOW)

        config = make_config(tmp_path, srv.port, username="digest",
                             env={"TIDINGS_SMTP_PASSWORD": PASSWORD})
        assert PASSWORD not in repr(config.digest)
        result = run_digest(config, store, since=None, output=None, send=True, now=NOW)
        assert result.sent and len(srv.inbox.envelopes) == 1
        assert logins[-1] == (b"digest", PASSWORD.encode())
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl is not installed: cannot make a self-signed certificate")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def test_starttls(store: Store, tmp_path: Path, filled: dict[str, Any],
                  certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # trust the test certificate
    srv = Server(tls_context=server_context(certificate), require_starttls=True).start()
    try:
        plain = make_config(tmp_path, srv.port)  # no STARTTLS: the server refuses MAIL
        with pytest.raises(DigestError, match="STARTTLS|530"):
            run_digest(plain, store, since=None, output=None, send=True, now=NOW)
        assert unsent(store) == set(filled["flagged"])
        config = make_config(tmp_path, srv.port, starttls=True)
        result = run_digest(config, store, since=None, output=None, send=True, now=NOW)
        assert result.sent and len(srv.inbox.envelopes) == 1
    finally:
        srv.stop()


def test_starttls_with_untrusted_certificate_fails_cleanly(
        store: Store, tmp_path: Path, filled: dict[str, Any],
        certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", os.devnull)
    srv = Server(tls_context=server_context(certificate), require_starttls=True).start()
    try:
        config = make_config(tmp_path, srv.port, starttls=True)
        with pytest.raises(DigestError, match="TLS failed"):
            run_digest(config, store, since=None, output=None, send=True, now=NOW)
    finally:
        srv.stop()
    assert unsent(store) == set(filled["flagged"])


def test_smtp_over_tls(store: Store, tmp_path: Path, filled: dict[str, Any],
                       certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    srv = Server(ssl_context=server_context(certificate)).start()
    try:
        config = make_config(tmp_path, srv.port, ssl=True)
        result = run_digest(config, store, since=None, output=None, send=True, now=NOW)
        assert result.sent and len(srv.inbox.envelopes) == 1
    finally:
        srv.stop()


# ------------------------------------------------------------------------------ sample
def fill_sample(store: Store, config: Config) -> None:
    """Real-looking stories for the screenshot in docs/digest.png."""

    def hours(h: float) -> datetime:
        return NOW - timedelta(hours=h)

    x = add(store, config, source="cnevpost", seen=hours(6),
            url="https://cnevpost.com/2025/04/03/xiaomi-yizhuang-phase-two/",
            title="Xiaomi signs deal for second car factory in Beijing's Yizhuang",
            text="Xiaomi has signed an agreement with the Beijing Economic-Technological "
                 "Development Area to build the second phase of its EV factory in Yizhuang. "
                 "The new plant will add capacity for 150,000 vehicles a year, taking the "
                 "site to 300,000. Construction is due to start in June.")
    add(store, config, source="motor1-it", lang="it", join=x.story_id, seen=hours(5),
        url="https://www.motor1.com/it/news/xiaomi-secondo-stabilimento-pechino/",
        title="Xiaomi raddoppia a Pechino: firmato l'accordo per il secondo stabilimento",
        text="Xiaomi ha firmato l'accordo per la seconda fase dello stabilimento di Yizhuang. "
             "La capacità salirà a 300.000 veicoli.",
        title_en="Xiaomi doubles up in Beijing: deal signed for the second plant",
        text_en="Xiaomi has signed the agreement for the second phase of the Yizhuang plant. "
                "Capacity will rise to 300,000 vehicles.")
    add(store, config, source="reuters", join=x.story_id, seen=hours(4),
        url="https://www.reuters.com/business/autos/xiaomi-yizhuang-plant-2025-04-03/",
        title="Xiaomi to expand Beijing EV plant as SU7 orders pile up",
        text="Xiaomi to expand. Orders pile up.")
    add(store, config, source="sina-auto", lang="zh", seen=hours(1.33),
        url="https://auto.sina.com.cn/news/2025-04-03/xiaomi-yu7.shtml",
        title="小米YU7下线：亦庄工厂二期开始试生产",
        text="4月3日，小米汽车第二款车型YU7在亦庄工厂二期下线，工厂开始试生产。"
             "雷军表示，新工厂将在年内达到满产。首批车辆预计6月交付。")
    b = add(store, config, source="sole24ore", lang="it", entities=("BAIC",), seen=hours(3),
            url="https://www.ilsole24ore.com/art/baic-catl-batterie-pechino",
            title="Batterie, BAIC e CATL avviano il cantiere del nuovo impianto di Pechino",
            text="BAIC BluePark e CATL hanno avviato il cantiere di un impianto di batterie "
                 "nel distretto di Daxing, a Pechino. La joint venture punta a 20 GWh di "
                 "capacità annua dal 2026.",
            title_en="Batteries: BAIC and CATL break ground on new Beijing plant",
            text_en="BAIC BluePark and CATL have broken ground on a battery plant in Beijing's "
                    "Daxing district. The joint venture aims for 20 GWh of annual capacity "
                    "from 2026.")
    add(store, config, source="caixin", entities=("BAIC",), join=b.story_id, seen=hours(2),
        url="https://www.caixinglobal.com/2025-04-03/baic-catl-battery-plant.html",
        title="BAIC BluePark and CATL break ground on 20 GWh battery plant",
        text="BAIC BluePark and CATL have broken ground. CATL will hold 51%.")
    y = add(store, config, source="yicai", entities=("Xiaomi", "BAIC"), seen=hours(8),
            url="https://www.yicai.com/news/baic-xiaomi-supplier.html",
            title="Xiaomi and BAIC's Arcfox both sign with Beijing chassis supplier",
            text="Xiaomi and BAIC's Arcfox brand have both signed multi-year contracts with a "
                 "Beijing chassis supplier. The deals run to 2028.")
    earlier = add(store, config, source="cnevpost", seen=datetime(2021, 11, 28, 9, 30, tzinfo=UTC),
                  url="https://cnevpost.com/2021/11/28/xiaomi-e-town-factory/",
                  title="Xiaomi signs deal to build car factory in Beijing's E-Town",
                  text="Xiaomi will build a factory with an annual capacity of 300,000 vehicles "
                       "in two phases. Each phase will add 150,000 vehicles.")
    # what the story stage records: publication time, importance, the story followed
    signals = {x.story_id: (3, 2, True, hours(7)), b.story_id: (2, 2, True, hours(20)),
               y.story_id: (1, 1, True, hours(30))}
    for story_id, (outlets, languages, subject, published) in signals.items():
        describe(store, story_id, published_at=published.isoformat(),
                 importance=importance(outlets=outlets, languages=languages, subject=subject,
                                       published_at=published, now=NOW))
    zh = store.db.execute("SELECT story_id FROM articles WHERE source = 'sina-auto'").fetchone()[0]
    describe(store, zh, published_at=hours(2).isoformat(),
             importance=importance(outlets=1, languages=1, subject=True, published_at=hours(2),
                                   now=NOW))
    describe(store, x.story_id, follows=earlier.story_id,
             follows_evidence=json.dumps({"entity": "Xiaomi", "subject": "Yizhuang factory"}))


def test_sample_digest(store: Store, tmp_path: Path) -> None:
    """The digest shown in docs/digest.png. Set $TIDINGS_DIGEST_SAMPLE to a file name to
    write its HTML part there (then screenshot it, see docs/digest.md)."""
    config = make_config(tmp_path, 25)
    fill_sample(store, config)
    result = run_digest(config, store, since=None, output=None, send=False, now=NOW)
    assert result.story_count == 4 and result.message is not None
    assert result.message["Subject"] == "tidings: 4 new developments — Xiaomi, BAIC"
    text, html = parts(result.message)
    assert "Chinese original · translation pending" in html
    assert "Batteries: BAIC and CATL break ground on new Beijing plant" in text
    assert "[IT] Batterie, BAIC e CATL avviano il cantiere" in text
    assert html.count("Xiaomi and BAIC&#39;s Arcfox both sign") == 3  # preview, card, link
    # the most important first: three outlets in two languages lead
    order = ["Xiaomi signs deal for second car factory", "Batteries: BAIC and CATL",
             "小米YU7下线", "Xiaomi and BAIC&#39;s Arcfox"]
    assert [html.index(h, html.index("<table")) for h in order] == \
        sorted(html.index(h, html.index("<table")) for h in order)
    if os.environ.get("TIDINGS_DIGEST_SAMPLE"):
        Path(os.environ["TIDINGS_DIGEST_SAMPLE"]).write_text(html, "utf-8")


# ------------------------------------------------------------------------------ command line
def _cli_has_digest() -> bool:
    try:
        cli = importlib.import_module("pipeline.cli")
    except ImportError:
        return False
    groups = [getattr(cli, name, None) for name in ("cli", "main")]
    return any("digest" in getattr(group, "commands", {}) for group in groups)


@pytest.mark.skipif(not _cli_has_digest(), reason="pipeline.cli has no digest command yet")
def test_cli_digest_output_and_send(store: Store, tmp_path: Path,
                                    filled: dict[str, Any]) -> None:
    # stories seen within the last hours of the real clock, so the default --since fits
    real_now = datetime.now(UTC)
    recent = (real_now - timedelta(hours=1)).replace(microsecond=0).isoformat()
    store.db.execute("UPDATE stories SET first_seen = ?, last_seen = ?", [recent, recent])
    store.db.conn.commit()
    down = free_port()
    toml = tmp_path / "tidings.toml"
    toml.write_text(
        f'[store]\npath = "{tmp_path / "tidings.db"}"\n\n[digest]\n'
        f'to = ["analyst@example.com"]\nfrom = "tidings@example.net"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {down}\n', "utf-8")
    env = {**os.environ, "TIDINGS_CONFIG": str(toml)}
    env.pop("TIDINGS_STORE", None)
    out = tmp_path / "digest.eml"

    def tidings(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pipeline", *args], check=False,
                              cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)

    preview = tidings("digest", "--config", str(toml), "--output", str(out))
    assert preview.returncode == 0, preview.stderr
    assert "nothing marked" in preview.stdout
    message = email.message_from_bytes(out.read_bytes(), policy=default_policy)
    assert ZH_TITLE in parts(message)[0]  # type: ignore[arg-type]
    assert unsent(store) == set(filled["flagged"])

    refused = tidings("digest", "--config", str(toml), "--send")
    assert refused.returncode == 1
    assert f"127.0.0.1:{down}" in refused.stderr + refused.stdout
    assert unsent(store) == set(filled["flagged"])
