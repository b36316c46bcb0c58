"""Business hours: when a person can answer, and how to say when one will be back.

Pure functions of a `BusinessHours` value and a `now` the caller passes (the relay's clock, a
fixed one in tests): nothing here reads the system clock. Hours are local times in the
company's time zone (zoneinfo), so a daylight-saving change moves them with the wall clock.

Written in settings as `HUB_BUSINESS_HOURS="mon-fri 09:00-17:30; sat 10:00-14:00"`,
`HUB_TIME_ZONE=Europe/Berlin`, `HUB_HOLIDAYS=2026-12-25,2026-12-26`. An empty
`HUB_BUSINESS_HOURS` means always open (the behaviour before business hours existed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from knowledge_base.environment import SettingsError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_RULE = re.compile(r"^(?P<days>[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*)\s+(?P<spans>.+)$")
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
#: how far ahead `next_open` looks (a year of holidays is plenty; then "closed" for good)
_HORIZON_DAYS = 400


@dataclass(frozen=True)
class BusinessHours:
    """Open spans per weekday (Monday = 0), in `zone`, closed on `holidays`. `weekly is None`: always open."""

    weekly: tuple[tuple[tuple[time, time], ...], ...] | None
    zone: ZoneInfo
    holidays: frozenset[date] = frozenset()

    @property
    def always_open(self) -> bool:
        return self.weekly is None

    def _spans_on(self, day: date) -> tuple[tuple[time, time], ...]:
        assert self.weekly is not None
        return () if day in self.holidays else self.weekly[day.weekday()]

    def is_open(self, now: datetime) -> bool:
        if self.weekly is None:
            return True
        local = now.astimezone(self.zone)
        return any(start <= local.time() < end for start, end in self._spans_on(local.date()))

    def next_open(self, now: datetime) -> datetime | None:
        """The moment the next open span starts (`now` itself when open); None when no day in
        the next year is open."""
        if self.is_open(now):
            return now
        assert self.weekly is not None
        local = now.astimezone(self.zone)
        for offset in range(_HORIZON_DAYS):
            day = local.date() + timedelta(days=offset)
            for start, _end in self._spans_on(day):
                opening = datetime.combine(day, start, self.zone)
                if opening > local:
                    return opening
        return None

    def open_intervals(self, now: datetime) -> Iterable[tuple[datetime, datetime]]:
        """Open spans from `now` on, in order, the first one cut at `now`."""
        assert self.weekly is not None
        local = now.astimezone(self.zone)
        for offset in range(_HORIZON_DAYS):
            day = local.date() + timedelta(days=offset)
            for start, end in self._spans_on(day):
                begin, finish = datetime.combine(day, start, self.zone), datetime.combine(day, end, self.zone)
                if finish <= local:
                    continue
                yield max(begin, local), finish

    def wall_seconds_for(self, now: datetime, open_seconds: float) -> float:
        """How long, on the wall clock, until `open_seconds` of open time have passed from `now`:
        a wait estimate counts only the hours when someone works."""
        if self.weekly is None or open_seconds <= 0:
            return max(0.0, open_seconds)
        left = open_seconds
        for begin, finish in self.open_intervals(now):
            span = (finish - begin).total_seconds()
            if left <= span:
                return (begin + timedelta(seconds=left) - now).total_seconds()
            left -= span
        return float("inf")


def in_words(now: datetime, when: datetime, zone: ZoneInfo) -> str:
    """When a person is back, as a customer says it: "today at 14:00", "tomorrow at 9:00",
    "on Monday at 9:00" (within a week), "on 2 January at 9:00" (later)."""
    local_now, local = now.astimezone(zone), when.astimezone(zone)
    clock = f"{local.hour}:{local.minute:02d}"
    days = (local.date() - local_now.date()).days
    if days <= 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    if days < 7:
        return f"on {DAY_NAMES[local.weekday()]} at {clock}"
    return f"on {local.day} {local.strftime('%B')} at {clock}"


def parse(hours: str, zone: str, holidays: Iterable[str]) -> BusinessHours:
    """Read the three settings; a malformed one is a SettingsError that says how to write it."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"HUB_TIME_ZONE={zone!r} is not a time zone; use an IANA name such as Europe/Berlin"
        ) from None
    days_off = set()
    for raw in holidays:
        try:
            days_off.add(date.fromisoformat(raw.strip()))
        except ValueError:
            raise SettingsError(
                f"HUB_HOLIDAYS has {raw!r}, not a date; list dates as YYYY-MM-DD, comma-separated"
            ) from None
    if not hours.strip():
        return BusinessHours(None, tz, frozenset(days_off))
    weekly: list[list[tuple[time, time]]] = [[] for _ in DAYS]
    for rule in filter(None, (part.strip().lower() for part in hours.split(";"))):
        match = _RULE.match(rule)
        if match is None:
            raise _hours_error(rule)
        spans = [_span(span.strip(), rule) for span in match["spans"].split(",")]
        for day in _days(match["days"], rule):
            weekly[day].extend(spans)
    return BusinessHours(tuple(tuple(sorted(day)) for day in weekly), tz, frozenset(days_off))


def _hours_error(rule: str) -> SettingsError:
    return SettingsError(
        f"HUB_BUSINESS_HOURS has {rule!r}; write days and times like "
        '"mon-fri 09:00-17:30; sat 10:00-14:00" (24-hour clock, days mon..sun)'
    )


def _days(spec: str, rule: str) -> list[int]:
    days: list[int] = []
    for part in spec.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise _hours_error(rule)
        a, b = DAYS.index(first), DAYS.index(last or first)
        if b < a:
            raise _hours_error(rule)
        days.extend(range(a, b + 1))
    return days


def _span(text: str, rule: str) -> tuple[time, time]:
    match = _SPAN.match(text)
    if match is None:
        raise _hours_error(rule)
    h1, m1, h2, m2 = map(int, match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise _hours_error(rule)
    start, end = time(h1, m1), time.max if h2 == 24 else time(h2, m2)
    if end <= start:
        raise _hours_error(rule)
    return start, end
