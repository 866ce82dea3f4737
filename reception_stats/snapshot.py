"""One question's whole answer: the figures, their breakdown, and last week's, computed together.

A *question* is a window, a site (or all), a moment (``at``, or now) and an optional comparison.
Its :class:`Snapshot` holds everything the doors show for it, computed in one read-only
transaction (repeatable read on PostgreSQL): the admin page's cards and charts come from the
same state of the data and carry one ``generated_at``, so they never disagree. The cache keeps
one snapshot per question (:mod:`reception_stats.cache`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from django.utils import timezone

from .breakdowns import Breakdown, compute_breakdown
from .conf import app_settings, is_enabled
from .db import read_only
from .kpis import COMPARES, WINDOW_24H, WINDOWS, LiveStats, compute_live_stats, week_before

#: Part of every cache key: bump it when a snapshot changes shape, so that a deployment never
#: reads what an older version stored.
KEY_VERSION = 3


@dataclass(frozen=True)
class Question:
    """What a door asks, validated (:class:`~reception_stats.forms.LiveStatsQueryForm`)."""

    window: str = WINDOW_24H
    site: UUID | None = None
    #: The moment asked for, to the second (two screens asking for 15:00:00.120 and 15:00:00.480
    #: share one answer); None for now.
    at: datetime | None = None
    compare: str | None = None

    def __post_init__(self) -> None:
        if self.window not in WINDOWS:
            raise ValueError(f"Unknown window {self.window!r}.")
        if self.compare is not None and self.compare not in COMPARES:
            raise ValueError(f"Unknown comparison {self.compare!r}.")
        if self.site is not None and not isinstance(self.site, UUID):
            object.__setattr__(self, "site", UUID(str(self.site)))
        if self.at is not None:
            if timezone.is_naive(self.at):
                raise ValueError("at must be an aware datetime.")
            object.__setattr__(self, "at", self.at.astimezone(UTC).replace(microsecond=0))

    def key(self) -> str:
        """One cache key per question: the same site or moment written differently is one key."""
        site = str(self.site) if self.site is not None else "all"
        at = self.at.isoformat() if self.at is not None else "now"
        return f"reception_stats:v{KEY_VERSION}:{self.window}:{site}:{at}:{self.compare or '-'}"


@dataclass(frozen=True)
class Snapshot:
    """The figures of a question, their breakdown, and with ``compare=week`` last week's."""

    stats: LiveStats
    breakdown: Breakdown
    previous: Snapshot | None = None

    @property
    def generated_at(self) -> datetime:
        return self.stats.generated_at


#: Statements one snapshot sends at most: the figures, the breakdown's three, and as many again
#: for last week; plus the site check of an unknown site and the bad rows' warnings.
MAX_STATEMENTS = 2 * (1 + 3) + 1


def compute_snapshot(question: Question) -> Snapshot:
    """Compute everything ``question`` needs, in one read-only transaction.

    Raises :class:`~reception_stats.kpis.SiteNotFound` for an unknown site and lets database
    errors through. With the feature flag off nothing is read: zeros, ``enabled=False``.
    """
    now = question.at or timezone.now()
    if not is_enabled():
        return _computed(question, now)
    with read_only(app_settings.DATABASE):
        return _computed(question, now)


def _computed(question: Question, now: datetime) -> Snapshot:
    stats = compute_live_stats(question.window, question.site, now)
    # The figures checked the site already; the breakdown need not ask again.
    breakdown = compute_breakdown(question.window, question.site, now, check=False)
    breakdown = dataclasses.replace(breakdown, generated_at=stats.generated_at)
    previous = None
    if question.compare is not None:
        earlier = dataclasses.replace(question, at=None, compare=None)
        previous = _computed(earlier, week_before(now, app_settings.time_zone))
    return Snapshot(stats, breakdown, previous)
