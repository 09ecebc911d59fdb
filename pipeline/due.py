"""When things are due: source backoff, jitter, first run after a restart, the missed digest.

Pure timing policy shared by `tidings run` (which sources a pass leaves out) and the daemon
(when each job fires). Nothing here reads the clock unless no `now` is given.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from .models import SkippedSource, SourceState, parse_time

BACKOFF_CAP = timedelta(hours=24)


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
                          "passes in a row", state.next_due_at or "")
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
