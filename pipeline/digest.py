"""The daily digest: which flagged stories go out, and the email that carries them.

`build_message` is pure: stories in, an `EmailMessage` out (``multipart/alternative``,
text/plain and text/html rendered from the Jinja2 templates beside this module, headers
encoded as RFC 5322 / RFC 2047 ask). `run_digest` is the one function the command line and
the daemon call: it asks the store for the flagged stories no digest has carried yet,
builds the message, writes it to a file and/or hands it to `mailer.send_message`, and
records the digest only after the SMTP server accepted it, so no story is sent twice and
none is lost.

Layout of a digest: one section per watched entity (in watchlist order), newest story
first. A story about two watched entities is listed in full once, under the first of them
in watchlist order, and named in a short "also" line under each of the others.
"""

from __future__ import annotations

import email.policy
import json
import re
import textwrap
import unicodedata
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

from .config import Config, DigestConfig
from .errors import DigestError
from .sentences import split_sentences
from .store import Store

__all__ = ["DigestArticle", "DigestResult", "DigestStory", "build_message", "run_digest",
           "stories_from_rows"]

SUMMARY_SENTENCES = 2
SUMMARY_CHARS = 320
PENDING_NOTE = "translation pending"
OTHER_GROUP = "Other"
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
class DigestStory:
    """One flagged story, with everything the digest shows of it."""

    id: int
    headline: str  # English headline (or the original while translation is pending)
    original_headline: str | None  # the original-language headline of a translated lead
    lang: str  # language of the lead article
    summary: str  # lead sentences, in English when there is a translation
    translation_pending: bool  # summary/headline are still in the original language
    first_seen: datetime
    entities: list[str]
    languages: list[str]
    articles: list[DigestArticle] = field(default_factory=list)

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

    now = _aware(now or datetime.now(UTC))
    start = now - (since or config.digest.since)
    window = f"the last {_interval_text(since or config.digest.since)}"
    last = store.last_digest()
    if since is None and last is not None:
        # the default window reaches back to the last digest sent, so the stories of a day
        # whose digest failed or was missed go out with the next one
        previous = _parse_time(last["created_at"])
        if previous < start:
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
        since_last = f" (last digest sent {last['sent_at']})" if last else ""
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
def stories_from_rows(rows: Sequence[dict[str, Any]], *,
                      watch_order: Sequence[str] = ()) -> list[DigestStory]:
    """Turn the store's digest rows (`Store.digest_stories`) into `DigestStory`s, newest
    first. Entities are put in watchlist order. Pure."""
    rank = {name: i for i, name in enumerate(watch_order)}
    out: list[DigestStory] = []
    for row in rows:
        lead = row.get("lead") or {}
        articles = [DigestArticle(url=a["url"], source=a["source"], lang=a.get("lang") or "",
                                  title=_oneline(a.get("title") or a.get("title_en") or a["url"]),
                                  duplicate=a.get("duplicate_of") is not None)
                    for a in row.get("articles", [])]
        lang = (lead.get("lang") or "").lower()
        english_lead = lang.split("-")[0] == "en" or not lang
        text_en = lead.get("text_en") or ""
        title = _oneline(lead.get("title") or "")
        title_en = _oneline(lead.get("title_en") or "")
        headline = _oneline(row.get("title_en") or "") or title_en or title or "(untitled)"
        original = None
        if not english_lead and title_en and title and title != headline:
            original = title
        if english_lead:
            summary, pending = lead_sentences(lead.get("text") or "", "en"), False
        elif text_en:
            summary, pending = lead_sentences(text_en, "en"), False
        else:
            summary, pending = lead_sentences(lead.get("text") or "", lang), True
        entities = _as_list(row.get("entities"))
        entities.sort(key=lambda e: (rank.get(e, len(rank)), e))
        out.append(DigestStory(
            id=int(row["id"]), headline=headline, original_headline=original, lang=lang,
            summary=summary,
            translation_pending=pending, first_seen=_parse_time(row["first_seen"]),
            entities=entities, languages=sorted(_as_list(row.get("languages"))),
            articles=articles))
    out.sort(key=lambda s: (s.first_seen, s.id), reverse=True)
    return out


def lead_sentences(text: str, lang: str, *, sentences: int = SUMMARY_SENTENCES,
                   limit: int = SUMMARY_CHARS) -> str:
    """The first sentences of `text`, cut to about `limit` characters. Pure."""
    out = ""
    for sentence in split_sentences(text, lang or "en"):
        joiner = "" if not out or _is_cjk(lang) else " "
        if out and len(out) + len(joiner) + len(sentence) > limit:
            break
        out += joiner + sentence
        if len(split_sentences(out, lang or "en")) >= sentences:
            break
    if len(out) > limit:
        out = out[:limit].rsplit(" ", 1)[0] if not _is_cjk(lang) else out[:limit // 2]
        out = out.rstrip(" ,;:") + "…"
    return out


# ------------------------------------------------------------------------------ building
def build_message(stories: list[DigestStory], *, config: DigestConfig, now: datetime,
                  watch_order: Sequence[str] = ()) -> EmailMessage:
    """The digest email for `stories`: ``multipart/alternative`` (text/plain, text/html),
    UTF-8 subject and names encoded per RFC 2047, Date and Message-ID. Pure.

    Everything that came from a web page reaches the HTML part escaped (Jinja2 autoescape),
    and only http/https URLs become links."""
    now = _aware(now)
    tz = _zone(config.timezone)
    groups = group_stories(stories, watch_order=watch_order)
    subject = subject_line(stories, groups)
    context = {
        "subject": subject,
        "groups": groups,
        "story_count": len(stories),
        "generated": _local(now, tz),
        "timezone": config.timezone,
        "local": lambda dt: _local(dt, tz),
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
    message["X-Tidings-Stories"] = ",".join(str(s.id) for s in stories) or "none"
    message.set_content(_wrap_lines(text), subtype="plain", charset="utf-8",
                        cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


@dataclass(slots=True)
class DigestGroup:
    name: str
    stories: list[DigestStory]
    also: list[DigestStory]  # stories listed under another entity that mention this one


def group_stories(stories: Sequence[DigestStory], *,
                  watch_order: Sequence[str] = ()) -> list[DigestGroup]:
    """Sections of the digest: one per entity, watchlist order, newest story first."""
    rank = {name: i for i, name in enumerate(watch_order)}
    groups: dict[str, DigestGroup] = {}
    ordered = sorted(stories, key=lambda s: (s.first_seen, s.id), reverse=True)
    for story in ordered:
        entities = sorted(story.entities, key=lambda e: (rank.get(e, len(rank)), e))
        home = entities[0] if entities else OTHER_GROUP
        groups.setdefault(home, DigestGroup(home, [], [])).stories.append(story)
        for other in entities[1:]:
            groups.setdefault(other, DigestGroup(other, [], [])).also.append(story)
    return sorted(groups.values(),
                  key=lambda g: (g.name == OTHER_GROUP, rank.get(g.name, len(rank)), g.name))


def subject_line(stories: Sequence[DigestStory], groups: Sequence[DigestGroup]) -> str:
    count = len(stories)
    if not count:
        return "tidings: no new developments"
    names = ", ".join(g.name for g in groups if g.stories or g.also)
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


def _wrap(text: str, width: int = 72, indent: str = "") -> str:
    """Wrap for the plain-text part. Chinese and Japanese characters are twice as wide as
    Latin ones and have no spaces between words, so such text wraps at half the width."""
    wide = sum(1 for c in text if unicodedata.east_asian_width(c) in "WF")
    if wide > len(text) // 3:
        width = max(20, width // 2)
    lines = textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent,
                          break_on_hyphens=False, break_long_words=wide > 0)
    return "\n".join(lines)


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
    return _aware(dt).astimezone(tz).strftime("%a %d %b %Y, %H:%M %Z")


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _parse_time(value: str | None) -> datetime:
    try:
        return _aware(datetime.fromisoformat(str(value)))
    except ValueError:
        return datetime.fromtimestamp(0, UTC)


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    return [str(v) for v in value or []]


def _oneline(text: str) -> str:
    return " ".join(text.split())


def _is_cjk(lang: str) -> bool:
    return (lang or "").lower().split("-")[0] in ("zh", "ja")


def _interval_text(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _sentence(what: str, notes: list[str]) -> str:
    return f"{what}: {'; '.join(notes)}."
