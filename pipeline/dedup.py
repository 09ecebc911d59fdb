"""First-level duplicates: canonical URLs and exact content hashes.

A syndicated copy or the same URL with tracking parameters is the same article; these
pure functions decide identity before anything touches the store.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that only say where a click came from. Exact names, then prefixes.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "msclkid", "yclid", "mc_cid", "mc_eid", "spm", "scm",
    "igshid", "ref", "ref_src", "referrer", "cmpid", "icid", "ocid", "ncid", "_ga", "from",
    "share", "share_source", "wt.mc_id", "src", "s_cid", "tracking",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "wt_", "hmsr", "hmpl", "hmcu", "hmkw", "hmci", "at_")

_WS = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def strip_tracking(url: str) -> str:
    """Remove click-tracking parameters and the fragment, keep every other parameter."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))


def canonical_url(url: str, page_canonical: str | None = None) -> str:
    """The identity of an article: the page's own canonical link when it is on the same
    site (a canonical pointing elsewhere marks a syndicated copy, handled by the content
    hash), else the fetched URL; normalised by courlan, tracking parameters removed."""
    from courlan import normalize_url  # here: importing courlan costs ~50 ms, and reading
    chosen = url                       # feeds (`strip_tracking`) does not need it
    if page_canonical and page_canonical.startswith(("http://", "https://")) \
            and _host(page_canonical) == _host(url):
        chosen = page_canonical
    try:
        normalised = normalize_url(chosen, strict=False)
    except (ValueError, AttributeError):
        normalised = chosen
    return strip_tracking(normalised)


def _host(url: str) -> str:
    """The site a URL belongs to: host and port (two ports are two sites), no www."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = parts.port if parts.port not in (None, default) else None
    return f"{host}:{port}" if port else host


def normalise_text(text: str) -> str:
    """Text reduced to what identifies the content: NFKC, case-folded, no punctuation,
    single spaces. Boilerplate differences in whitespace or quotes do not change it."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _PUNCT.sub(" ", text)
    return _WS.sub(" ", text).strip()


def content_hash(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()
