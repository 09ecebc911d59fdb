"""robots.txt (RFC 9309): parse once per host, match each URL in linear time.

Pure: text in, `RobotsRules` out. A site controls this file, so everything is bounded: the
first `MAX_ROBOTS_CHARS` of it are read (RFC 9309 asks crawlers to read at least 500 KiB),
at most `MAX_RULES` rules and `MAX_WILDCARDS` wildcards are kept, and a pattern is matched
without a regular expression. A pattern holds only literal text, `*` (any characters) and a
final `$` (the end), so it is split at its `*`s once, when parsed; a path matches when the
first piece is its prefix and every later piece is found, leftmost, after the one before
(the last one at the very end when anchored). Leftmost is always right for such patterns,
so one rule costs at most one scan of the path per piece: no backtracking, and a rule like
`Disallow: /*a*a*a*a*a*a*a*a*a*a*a*a*b` costs what its 13 pieces cost, not 13 nested loops.
(Python's `urllib.robotparser` takes `*` and `$` literally and uses the first matching rule,
not the longest; a regular expression built from the pattern backtracks exponentially.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

MAX_ROBOTS_CHARS = 512 * 1024
MAX_RULES = 10_000        # rules kept from the groups that apply to us
MAX_WILDCARDS = 20_000    # `*` pieces over all kept rules
MAX_PATTERN_CHARS = 4096  # a longer rule is ignored
MAX_CRAWL_DELAY = 30.0    # seconds; a site asking for more gets this


@dataclass(frozen=True, slots=True)
class Rule:
    """One Allow/Disallow line, compiled: the pattern's literal pieces between `*`s."""

    allow: bool
    pattern: str  # as written, for messages and for "longest wins"
    pieces: tuple[str, ...]
    anchored: bool

    @classmethod
    def compile(cls, allow: bool, pattern: str) -> Rule:
        anchored = pattern.endswith("$")
        body = pattern[:-1] if anchored else pattern
        pieces = tuple(unquote(piece) for piece in body.split("*"))
        return cls(allow, pattern, pieces, anchored)

    def matches(self, path: str) -> bool:
        """Does the (decoded) path match? O(len(path) + len(pattern)) string scans."""
        pieces = self.pieces
        first = pieces[0]
        if not path.startswith(first):
            return False
        if len(pieces) == 1:
            return not self.anchored or len(path) == len(first)
        pos = len(first)
        for piece in pieces[1:-1]:
            if piece:
                found = path.find(piece, pos)
                if found < 0:
                    return False
                pos = found + len(piece)
        last = pieces[-1]
        if self.anchored:
            return len(path) - pos >= len(last) and path.endswith(last)
        return path.find(last, pos) >= 0


class RobotsRules:
    """robots.txt rules for one crawler, matched as RFC 9309 says.

    The groups naming our product token (case-insensitive) apply, else the `*` groups;
    within them the longest matching path pattern wins and, at equal length, `Allow` wins;
    `*` matches any characters and a final `$` anchors the end.
    """

    __slots__ = ("crawl_delay", "dropped", "rules")

    def __init__(self, rules: list[Rule], crawl_delay: float | None,
                 dropped: int = 0) -> None:
        self.rules = tuple(rules)
        self.crawl_delay = crawl_delay
        self.dropped = dropped  # rules beyond the bounds, not applied

    @classmethod
    def parse(cls, text: str, agent: str) -> RobotsRules:
        agent = agent.lower()
        groups: list[tuple[list[str], list[tuple[bool, str]], list[float]]] = []
        in_agents = False
        for raw in text[:MAX_ROBOTS_CHARS].lstrip("\ufeff").splitlines():
            line = raw.split("#", 1)[0].strip()
            if ":" not in line:
                continue
            field, value = (part.strip() for part in line.split(":", 1))
            field = field.lower()
            if field == "user-agent":
                if not in_agents:
                    groups.append(([], [], []))
                    in_agents = True
                groups[-1][0].append(value.lower())
                continue
            if not groups:
                continue  # rules before any user-agent line belong to no group
            in_agents = False
            if field in ("allow", "disallow") and value:
                groups[-1][1].append((field == "allow", value))
            elif field == "crawl-delay":
                try:
                    delay = float(value)
                except ValueError:
                    continue
                if not math.isnan(delay) and delay >= 0:
                    groups[-1][2].append(min(delay, MAX_CRAWL_DELAY))
        ours = [g for g in groups if any(a != "*" and a == agent for a in g[0])]
        chosen = ours or [g for g in groups if "*" in g[0]]
        rules: list[Rule] = []
        wildcards = dropped = 0
        for allow, pattern in (rule for g in chosen for rule in g[1]):
            stars = pattern.count("*")
            if (len(rules) >= MAX_RULES or len(pattern) > MAX_PATTERN_CHARS
                    or wildcards + stars > MAX_WILDCARDS):
                dropped += 1
                continue
            wildcards += stars
            rules.append(Rule.compile(allow, pattern))
        delays = [d for g in chosen for d in g[2]]
        return cls(rules, max(delays) if delays else None, dropped)

    def _best(self, url: str) -> Rule | None:
        parts = urlsplit(url)
        target = unquote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        best: Rule | None = None
        for rule in self.rules:
            if best is not None and (len(rule.pattern) < len(best.pattern) or (
                    len(rule.pattern) == len(best.pattern) and (best.allow or not rule.allow))):
                continue  # it could not win even if it matched
            if rule.matches(target):
                best = rule
        return best

    def allowed(self, url: str) -> bool:
        if urlsplit(url).path == "/robots.txt":
            return True
        best = self._best(url)
        return best is None or best.allow

    def rule_for(self, url: str) -> str:
        best = self._best(url)
        if best is None:
            return "no rule"
        return f"{'Allow' if best.allow else 'Disallow'}: {best.pattern}"
