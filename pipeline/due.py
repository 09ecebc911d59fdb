"""When things are due: source backoff, jitter, first run after a restart, the missed digest.

Pure timing policy shared by `tidings run` (which sources a pass leaves out) and the daemon
(when each job fires). Nothing here reads the clock unless no `now` is given. A pass in
which no source could be reached for a network error (`unreachable`) is the network's
fault, not the sources': it counts toward no backoff.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from .models import SkippedSource, SourceState, parse_time

BACKOFF_CAP = timedelta(hours=24)
# How a failed name lookup reads in an httpx ConnectError (glibc, musl, macOS, Windows).
_DNS = re.compile(r"\[Errno -\d+\]|name resolution|Name or service not known|nodename nor "
                  r"servname|No address associated|getaddrinfo failed", re.IGNORECASE)


def backoff_interval(every: timedelta, failures: int) -> timedelta:
    """A failing source waits twice as long after each failure, up to a cap."""
    if failures <= 0:
        return every
    doubled: timedelta = every * (2 ** min(failures, 16))
    return min(doubled, max(every, BACKOFF_CAP))


def next_due(every: timedelta, failures: int, now: datetime | None = None) -> str:
    """The ISO 8601 time a source is due again after a pass with `failures` in a row."""
    now = now or datetime.now(UTC)
    return (now + backoff_interval(every, failures)).replace(microsecond=0).isoformat()


def backed_off(state: SourceState | None, now: datetime | None = None) -> bool:
    """True while a failing source waits out its backoff."""
    if state is None or not state.consecutive_failures:
        return False
    due = parse_time(state.next_due_at)
    return due is not None and due > (now or datetime.now(UTC))


def backing_off(states: dict[str, SourceState | None],
                now: datetime | None = None) -> list[SkippedSource]:
    """The sources a pass leaves out because they wait out a backoff, and until when."""
    return [SkippedSource(name, f"backing off after {state.consecutive_failures} failed "
                          f"{'pass' if state.consecutive_failures == 1 else 'passes'} in a row",
                          state.next_due_at or "")
            for name, state in states.items() if state is not None and backed_off(state, now)]


def jitter_for(every: timedelta) -> float:
    """A little jitter so sources do not all fire on the same second: 10%, at most 60 s."""
    return min(every.total_seconds() * 0.1, 60.0)


def first_run_at(state: SourceState | None, every: timedelta, now: datetime) -> datetime:
    """When a source should first run after a (re)start: now if it is due or never ran,
    else at its recorded due time (failures already doubled into `next_due_at`)."""
    due = parse_time(state.next_due_at) if state else None
    if state is None or due is None:
        return now
    return max(now, min(due, now + backoff_interval(every, state.consecutive_failures)))


def missed_digest_time(at: str, tz: str, now: datetime, last_digest: datetime | None,
                       grace: timedelta) -> datetime | None:
    """The scheduled digest time that passed without a digest, if within the grace period."""
    zone = ZoneInfo(tz)
    hour, minute = (int(x) for x in at.split(":"))
    local_now = now.astimezone(zone)
    scheduled = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if scheduled > local_now:
        scheduled -= timedelta(days=1)
    if last_digest is not None and last_digest >= scheduled:
        return None
    if local_now - scheduled > grace:
        return None
    return scheduled


def network_failure(error: str) -> str | None:
    """"dns" or "connect" when a source's error says its host could not be reached at all
    (the connection failed, or its name did not resolve; also when it happened fetching
    robots.txt); None for any other failure (an HTTP status, a bad feed, a slow answer)."""
    if "ConnectError" not in error and "ConnectTimeout" not in error:
        return None
    return "dns" if _DNS.search(error) else "connect"


def unreachable(failures: Iterable[tuple[str, str]], sources: int) -> str | None:
    """The one-line verdict when every one of a pass's `sources` failed (`failures`:
    (host, error) per failed source), every failure is a network error, and they are on
    two hosts or more; else None. One host that cannot be reached says nothing of the
    network (a dead domain, a host down): that source backs off as any failing one."""
    failures = list(failures)
    kinds = {host: network_failure(error) for host, error in failures}
    if len(kinds) < 2 or len(failures) < sources or None in kinds.values():
        return None
    dns = sum(kind == "dns" for kind in kinds.values())
    connect = len(kinds) - dns
    hosts = f"all {len(kinds)} hosts"
    if not connect:
        what = f"DNS failed for {hosts}"
    elif not dns:
        what = f"no connection could be made to {hosts}"
    else:
        what = (f"DNS failed for {dns} {_plural(dns, 'host')}, no connection to the "
                f"other {connect}")
    return f"no source could be reached: is the network up? {what}"


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"
