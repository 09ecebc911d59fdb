"""The daily digest: which flagged stories go out, and the email that carries them.

`build_message` is pure: stories in, an `EmailMessage` out (``multipart/alternative``,
text/plain and text/html rendered from the Jinja2 templates beside this module, headers
encoded as RFC 5322 / RFC 2047 ask). `run_digest` is the one function the command line and
the daemon call: it asks the store for the flagged stories no digest has carried yet,
builds the message, writes it to a file and/or hands it to `mailer.send_message`, and
records the digest only after the SMTP server accepted it, so no story is sent twice and
none is lost.

Layout of a digest: one card per story, the most important first (`stories.importance`,
see pipeline/importance.py; then the most recently published). A card gives the English
headline (and the original beside it when translated), the publication date and when
tidings first saw it, the outlets and languages, the importance, the earlier story it
follows, a summary of two or three content sentences (pipeline/summary.py) and a link to
every article. Every time is shown in `digest.timezone`, with its abbreviation.
"""

from __future__ import annotations

import email.policy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2

from . import textwidth
from .config import Config, DigestConfig
from .errors import ConfigError, DigestError
from .models import DigestRow, parse_time
from .store import Store
from .summary import summarize

__all__ = ["TEXT_WIDTH", "DigestArticle", "DigestFollow", "DigestResult", "DigestStory",
           "build_message", "order_stories", "run_digest", "stories_from_rows"]

#: Display columns of the plain-text part: no line is wider, bare URLs excepted.
TEXT_WIDTH = 72
PENDING_NOTE = "translation pending"
LANGUAGE_NAMES = {"en": "English", "it": "Italian", "zh": "Chinese", "ja": "Japanese",
                  "fr": "French", "de": "German", "es": "Spanish"}


# ------------------------------------------------------------------------------ records
@dataclass(slots=True)
class DigestArticle:
    """One article of a story, as the digest links to it."""

    url: str
    source: str
    lang: str
    title: str
    duplicate: bool = False  # a syndicated copy of another article of the story

    @property
    def href(self) -> str | None:
        """The URL when it is safe to make a link of it (http or https), else None."""
        return safe_url(self.url)


@dataclass(slots=True)
class DigestFollow:
    """The earlier story a story continues (`stories.follows`)."""

    id: int
    headline: str
    published: datetime | None  # its publication time (else first seen), if known
    url: str | None = None  # its lead article

    @property
    def href(self) -> str | None:
        return safe_url(self.url)


@dataclass(slots=True)
class DigestStory:
    """One flagged story, with everything the digest shows of it."""

    id: int
    headline: str  # English headline (or the original while translation is pending)
    original_headline: str | None  # the original-language headline of a translated lead
    lang: str  # language of the lead article
    summary: str  # content sentences of the lead, in English when there is a translation
    translation_pending: bool  # summary/headline are still in the original language
    first_seen: datetime
    entities: list[str]
    languages: list[str]
    articles: list[DigestArticle] = field(default_factory=list)
    published: datetime | None = None  # stories.published_at, else its lead's, if known
    importance: float | None = None  # stories.importance (None until it is computed)
    follows: DigestFollow | None = None

    @property
    def sources(self) -> list[str]:
        return sorted({a.source for a in self.articles})


@dataclass(slots=True)
class DigestResult:
    story_count: int
    message: EmailMessage | None
    output: Path | None
    sent: bool
    digest_id: int | None
    reason: str  # a sentence for the terminal


# ------------------------------------------------------------------------------ the command
def run_digest(config: Config, store: Store, *, since: timedelta | None, output: Path | None,
               send: bool, now: datetime | None = None) -> DigestResult:
    """Select, build, write (`output`) and/or send (`send`) the digest.

    Selected: flagged stories no digest carried yet, seen (first seen, or joined by an
    article) within `since` before `now`. When `since` is None the window is
    `digest.since`, stretched back to the last digest sent if that is older.

    Stories are marked as sent (a `digests` row and their `digest_id`) only after the SMTP
    server accepted the message, in one transaction. A refused or unreachable server raises
    `DigestError` and marks nothing. Without `send` nothing is marked: `output` is a preview.
    """
    from . import mailer  # SMTP lives there; imported here so building never needs it

    if send and not any(_recipients(config.digest)):
        raise ConfigError(str(config.path), "digest.to", "no recipients to send the digest "
                          'to: set it, e.g. to = ["analyst@example.com"]')
    now = _aware(now or datetime.now(UTC))
    start = now - (since or config.digest.since)
    window = f"the last {_interval_text(since or config.digest.since)}"
    last_sent = store.last_digest_at()
    previous = parse_time(last_sent)
    # the default window reaches back to the last digest sent, so the stories of a day
    # whose digest failed or was missed go out with the next one
    if since is None and previous is not None and previous < start:
        when = _local(previous, _zone(config.digest.timezone))
        start, window = previous, f"since the last digest ({when})"
    threshold = start.astimezone(UTC).replace(microsecond=0).isoformat()
    rows = store.digest_stories(since=threshold)
    watch_order = [w.name for w in config.watch]
    stories = stories_from_rows(rows, watch_order=watch_order)
    message = build_message(stories, config=config.digest, now=now, watch_order=watch_order)
    count = len(stories)
    what = f"{count} new flagged {'story' if count == 1 else 'stories'} from {window}"

    notes: list[str] = []
    if output is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_bytes(message_bytes(message))
        except OSError as exc:
            raise DigestError(f"cannot write the digest to {output}: {exc}") from exc
        notes.append(f"wrote {output}")

    if not send:
        notes.append("not sent, nothing marked (add --send to send it)")
        return DigestResult(count, message, output, False, None, _sentence(what, notes))

    if count == 0 and not config.digest.send_empty:
        since_last = (f" (last digest sent {_local(previous, _zone(config.digest.timezone))})"
                      if previous else "")
        notes.append(f"nothing new to send{since_last}; an empty digest is not sent "
                     "unless digest.send_empty = true")
        return DigestResult(0, message, output, False, None, _sentence(what, notes))

    refused = mailer.send_message(message, config.digest) or {}
    accepted = [r for r in _recipients(config.digest) if r not in refused]
    sent_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    digest_id = store.record_digest(
        [s.id for s in stories], created_at=now.astimezone(UTC).replace(microsecond=0)
        .isoformat(), sent_at=sent_at, recipients=accepted, message_id=str(message["Message-ID"]))
    server = f"{config.digest.smtp_host}:{config.digest.smtp_port}"
    notes.append(f"sent to {', '.join(accepted)} via {server} (digest #{digest_id})")
    if refused:
        notes.append(f"refused by the server for {', '.join(sorted(refused))}")
    return DigestResult(count, message, output, True, digest_id, _sentence(what, notes))


def message_bytes(message: EmailMessage) -> bytes:
    """The message as RFC 5322 bytes (CRLF line ends), as written to a `.eml` file."""
    return message.as_bytes(policy=email.policy.SMTP)


# ------------------------------------------------------------------------------ selection
def stories_from_rows(rows: Sequence[DigestRow], *,
                      watch_order: Sequence[str] = ()) -> list[DigestStory]:
    """Turn the store's digest rows (`Store.digest_stories`) into `DigestStory`s, most
    important first (`order_stories`). Entities are put in watchlist order. Pure."""
    rank = {name: i for i, name in enumerate(watch_order)}
    out: list[DigestStory] = []
    for row in rows:
        story, lead = row.story, row.lead
        articles = [DigestArticle(url=a.url, source=a.source, lang=a.lang,
                                  title=_oneline(a.title or a.title_en or a.url),
                                  duplicate=a.duplicate_of is not None)
                    for a in row.articles]
        lang = (lead.lang if lead else "").lower()
        english_lead = lang.split("-")[0] == "en" or not lang
        text_en = (lead.text_en if lead else None) or ""
        title = _oneline(lead.title if lead else "")
        title_en = _oneline((lead.title_en if lead else None) or "")
        headline = _oneline(story.title_en) or title_en or title or "(untitled)"
        original = None
        if not english_lead and title_en and title and title != headline:
            original = title
        text = lead.text if lead else ""
        if english_lead:
            summary, pending = summarize(text, "en"), False
        elif text_en:
            summary, pending = summarize(text_en, "en"), False
        else:
            summary, pending = summarize(text, lang), True
        entities = sorted(story.entities, key=lambda e: (rank.get(e, len(rank)), e))
        follows = None
        if row.follows is not None:
            follows = DigestFollow(
                id=row.follows.id,
                headline=_oneline(row.follows.title_en) or f"story {row.follows.id}",
                published=parse_time(row.follows.published_at), url=row.follows.url)
        out.append(DigestStory(
            id=story.id, headline=headline, original_headline=original, lang=lang,
            summary=summary, translation_pending=pending,
            first_seen=parse_time(story.first_seen) or datetime.now(UTC),
            entities=entities, languages=sorted(story.languages), articles=articles,
            published=parse_time(story.published_at) or parse_time(
                lead.published_at if lead else None),
            importance=story.importance, follows=follows))
    return order_stories(out)


def order_stories(stories: Sequence[DigestStory]) -> list[DigestStory]:
    """Most important first; among equals (or before importance is computed) the most
    recently published, then the newest story. Pure."""
    def key(s: DigestStory) -> tuple[float, float, int]:
        published = s.published or s.first_seen
        return (-(s.importance or 0.0), -published.timestamp(), -s.id)
    return sorted(stories, key=key)


# ------------------------------------------------------------------------------ building
def build_message(stories: list[DigestStory], *, config: DigestConfig, now: datetime,
                  watch_order: Sequence[str] = ()) -> EmailMessage:
    """The digest email for `stories`: ``multipart/alternative`` (text/plain, text/html),
    UTF-8 subject and names encoded per RFC 2047, Date and Message-ID. Pure.

    Everything that came from a web page reaches the HTML part escaped (Jinja2 autoescape),
    and only http/https URLs become links."""
    now = _aware(now)
    tz = _zone(config.timezone)
    ordered = order_stories(stories)
    counts = entity_counts(ordered, watch_order=watch_order)
    subject = subject_line(ordered, counts)
    context = {
        "subject": subject,
        "stories": ordered,
        "counts": counts,
        "story_count": len(ordered),
        "generated": _local(now, tz),
        "timezone": config.timezone,
        "local": lambda dt: _local(dt, tz),
        "local_date": lambda dt: _local_date(dt, tz),
        "width": TEXT_WIDTH,
        "PENDING_NOTE": PENDING_NOTE,
    }
    text = _environment(False).get_template("digest.txt.j2").render(context)
    html = _environment(True).get_template("digest.html.j2").render(context)

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = _address(config.from_, "digest.from", default_name="tidings")
    if config.to:
        message["To"] = [_address(a, "digest.to") for a in config.to]
    message["Date"] = format_datetime(now.astimezone(tz))
    message["Message-ID"] = make_msgid(idstring="digest", domain=_msgid_domain(config.from_))
    message["X-Tidings-Stories"] = ",".join(str(s.id) for s in ordered) or "none"
    message.set_content(_wrap_lines(text), subtype="plain", charset="utf-8",
                        cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def entity_counts(stories: Sequence[DigestStory], *,
                  watch_order: Sequence[str] = ()) -> list[tuple[str, int]]:
    """(watched entity, stories about it), in watchlist order, for the subject and header."""
    rank = {name: i for i, name in enumerate(watch_order)}
    counts: dict[str, int] = {}
    for story in stories:
        for entity in story.entities:
            counts[entity] = counts.get(entity, 0) + 1
    return sorted(counts.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))


def subject_line(stories: Sequence[DigestStory], counts: Sequence[tuple[str, int]]) -> str:
    count = len(stories)
    if not count:
        return "tidings: no new developments"
    names = ", ".join(name for name, _ in counts) or "other"
    noun = "development" if count == 1 else "developments"
    return f"tidings: {count} new {noun} — {names}"


def safe_url(url: str | None) -> str | None:
    """`url` if it is an absolute http(s) URL that can safely be a link, else None."""
    if not url or any(c in url for c in "\x00\r\n\t "):
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def language_name(code: str) -> str:
    base = (code or "").lower().split("-")[0]
    return LANGUAGE_NAMES.get(base, code or "unknown")


# ------------------------------------------------------------------------------ helpers
@cache
def _environment(html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline", "templates"),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = _wrap
    env.filters["language_name"] = language_name
    return env


def _wrap(text: str, width: int = TEXT_WIDTH, indent: str = "",
          subsequent: str | None = None) -> str:
    """Wrap for the plain-text part by display columns: Chinese characters are two
    columns wide, and a number with its unit ("15.98万") is never split (textwidth)."""
    return "\n".join(textwidth.wrap(text, width, initial_indent=indent,
                                    subsequent_indent=indent if subsequent is None
                                    else subsequent))


def _wrap_lines(text: str) -> str:
    """Keep every plain-text line well under the RFC 5322 limit (998), whatever a page
    sent (an endless URL, a text without spaces)."""
    out = []
    for line in text.splitlines():
        while len(line) > 900:
            out.append(line[:900])
            line = line[900:]
        out.append(line)
    return "\n".join(out) + "\n"


def _address(value: str, key: str, *, default_name: str = "") -> Address:
    name, addr = parseaddr(value)
    if not addr or "@" not in addr:
        raise DigestError(f"{key}: {value!r} is not an email address")
    try:
        return Address(display_name=name or default_name, addr_spec=addr)
    except (ValueError, IndexError) as exc:
        raise DigestError(f"{key}: {value!r} is not an email address: {exc}") from exc


def _recipients(config: DigestConfig) -> list[str]:
    return [parseaddr(a)[1] for a in config.to]


def _msgid_domain(from_: str) -> str:
    addr = parseaddr(from_)[1]
    domain = addr.rpartition("@")[2]
    return domain if re.fullmatch(r"[A-Za-z0-9.-]+", domain or "") else "tidings.localhost"


def _zone(name: str) -> ZoneInfo | Any:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return UTC


def _local(dt: datetime, tz: Any) -> str:
    """A time as the analyst reads it: in `digest.timezone`, with its abbreviation."""
    return _aware(dt).astimezone(tz).strftime("%a %d %b %Y, %H:%M %Z")


def _local_date(dt: datetime, tz: Any) -> str:
    return _aware(dt).astimezone(tz).strftime("%d %b %Y")


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _oneline(text: str) -> str:
    return " ".join(text.split())


def _interval_text(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _sentence(what: str, notes: list[str]) -> str:
    return f"{what}: {'; '.join(notes)}."
