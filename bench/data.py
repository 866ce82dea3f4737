"""A synthetic Recyclic history, written newest day first, loaded with COPY.

The history is a generator of reception tickets, each with its lines and the till sales of the
same site and day (about 4 lines and 2 sales of 2 items each per ticket). It walks back in time
from ``now``: the first tickets drawn are today's, so growing the database from one size to the
next only adds older history and the live window holds the same rows at every size, as in a
real database that grows with the years.

Each site registers 60 to 300 tickets on the five days a week it opens, with two postes a
day. Or, given a number of tickets and of days (``spread``), the sites share the daily volume that
puts those tickets in those days, keeping the same proportions between them; ``open_days`` sets
how many days a week they open, and :data:`SHAPES` names the three data shapes the targets are
set on (a small young database, five and a half years of history, a busy network of 40
sites). The mix follows docs/figures.md: today's postes with tickets still open, notebooks typed
in days later (some of them today), postes and tickets left open and abandoned,
a few tickets closed without ``closed_at``, sales entered late with ``sale_date`` set to the
session's opening, and (``sale_date="legacy"``) sales of more than a year ago without
``sale_date``, as older Recyclic rows are; ``sale_date="always"`` dates every sale, as current
Recyclic writes them. Everything is drawn from one seeded ``random.Random``, ids included.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

SCHEMA_SQL = (
    Path(__file__).resolve().parent.parent / "reception_stats" / "sql" / "recyclic_schema.sql"
)

PARIS = ZoneInfo("Europe/Paris")
DAY = 86400.0
HOUR = 3600.0
D = 24 * HOUR  # the deferral threshold

TABLES = {
    "sites": "id, name, city, is_active",
    "users": "id, username, hashed_password, role, status, is_active, site_id",
    "categories": "id, name, is_active, parent_id",
    "poste_reception": "id, opened_by_user_id, opened_at, closed_at, status",
    "ticket_depot": "id, poste_id, benevole_user_id, created_at, closed_at, status",
    "ligne_depot": "id, ticket_id, category_id, poids_kg, destination, is_exit",
    "cash_sessions": (
        "id, operator_id, site_id, initial_amount, current_amount, status, opened_at, closed_at"
    ),
    "sales": (
        "id, cash_session_id, operator_id, total_amount, donation, payment_method, sale_date, "
        "created_at"
    ),
    "sale_items": "id, sale_id, category, quantity, weight, unit_price, total_price",
}
CATEGORIES = (
    "EEE", "Textile", "Vaisselle", "Livres", "Meubles", "Jouets", "Bibelots", "Sport",
    "Puériculture", "Bricolage", "Jardin", "Luminaires", "Informatique", "Disques", "Linge",
)  # fmt: skip
SUB_CATEGORIES = ("EEE-PAM", "EEE-GEM", "Textile-Enfant", "Meubles-Chaises", "Livres-BD")
BATCH_TICKETS = 25_000
PAYMENTS = ("CASH", "CASH", "CARD", "CARD", "CHECK", "FREE", "cash")
LINES_PER_TICKET = (1, 2, 3, 3, 4, 4, 5, 5, 6, 7)  # mean 4
SALES_PER_TICKET = (1, 2, 2, 3)  # mean 2
ITEMS_PER_SALE = (1, 2, 2, 3)  # mean 2


def whole_number(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high``, or the range in the error."""

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what} from {low} to {high}.")
        return number

    return parse


#: ``--sites`` of ``bench.run`` and ``bench.load``: one ressourcerie (its busy site alone) up to
#: a network of a hundred in one database (the busy shape has 40).
site_count = whole_number(1, 100, "a number of sites")
#: ``--open-days``: days a week each site opens. At least two, since today and yesterday are
#: always open days (the live windows then hold a working day whatever day the bench runs).
open_day_count = whole_number(2, 7, "a number of open days a week")
#: ``--history-days``: up to a century, far beyond any Recyclic database.
history_day_count = whole_number(1, 36_500, "a number of days")
#: ``--sale-date``: ``legacy``, 60 % of the sales older than a year have no ``sale_date`` (rows
#: from before the column existed); ``always``, every sale has one, as current Recyclic writes.
SALE_DATES = ("legacy", "always")


@dataclass(frozen=True)
class Shape:
    """A data shape of docs/performance.md: the tickets, sites and days a database holds, and
    its sales' dates."""

    sizes: tuple[int, ...]
    sites: int
    #: The tickets are spread over this many days ending today; None: each site's own volume.
    history_days: int | None
    sale_date: str
    open_days: int
    description: str


#: The three shapes on which the service was first measured independently, with another
#: generator and Recyclic's schema from its own migrations (docs/performance.md). They
#: spread their tickets evenly over every day, as those data did: the live window then holds
#: size / days tickets (83, 500 and 16,667). Open every day is also what a network of 40 sites in
#: one database looks like, some of them open whichever day it is.
SHAPES: dict[str, Shape] = {
    "small": Shape(
        sizes=(5_000,),
        sites=2,
        history_days=60,
        sale_date="legacy",  # no sale is older than a year: the same as "always"
        open_days=7,
        description="5,000 tickets over 60 days, 2 sites: a young database",
    ),
    "long": Shape(
        sizes=(1_000_000,),
        sites=2,
        history_days=2_000,
        sale_date="always",
        open_days=7,
        description="1,000,000 tickets over 5.5 years, 2 sites, every sale dated",
    ),
    "busy": Shape(
        sizes=(1_000_000,),
        sites=40,
        history_days=60,
        sale_date="legacy",  # no sale is older than a year: the same as "always"
        open_days=7,
        description="1,000,000 tickets over 60 days, 40 sites: about 16,700 tickets a day",
    ),
}


def _ts(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(sep=" ")


@dataclass
class Site:
    id: str
    users: list[str]
    #: Tickets on an open day, before each day's ±30 %; fractional once spread.
    daily_tickets: float


@dataclass
class Rows:
    """Rows waiting to be copied, one list of tab-separated lines per table."""

    tables: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in TABLES})
    tickets: int = 0

    def add(self, table: str, *values: object) -> None:
        self.tables[table].append("\t".join(r"\N" if v is None else str(v) for v in values))

    def size(self) -> int:
        return sum(len(rows) for rows in self.tables.values())


class History:
    """Draws tickets newest first; :meth:`take` resumes where the previous call stopped.

    ``spread=(tickets, days)`` sets the sites' daily volume so that ``tickets`` tickets fill the
    ``days`` days ending today (their open days): 5,000 over 60 days, 1,000,000 over 2,000. A
    database grown in several sizes is spread by its largest: the smaller ones hold its newest
    days. Without it each site has its own volume, 300 tickets a day for the first, 60 to 250 for
    the others. ``open_days`` is the number of days a week the sites open (today and yesterday
    always among them); ``sale_date`` is ``"legacy"`` or ``"always"`` (:data:`SALE_DATES`).
    """

    def __init__(
        self,
        now: datetime,
        sites: int = 4,
        seed: int = 2026,
        *,
        spread: tuple[int, int] | None = None,
        sale_date: str = "legacy",
        open_days: int = 5,
    ) -> None:
        if sale_date not in SALE_DATES:
            raise ValueError(f"sale_date must be one of {SALE_DATES}, not {sale_date!r}.")
        if not 2 <= open_days <= 7:
            raise ValueError(
                f"open_days must be from 2 to 7 (with today and yesterday): {open_days}"
            )
        self.rng = random.Random(seed)  # noqa: S311 (reproducible data, not secrets)
        self.now = now.timestamp()
        local = now.astimezone(PARIS)
        self.today = local.date()
        # The desks' hours are moved so that "now" is 16:00 of a working day whatever the real
        # hour: the live windows then hold a comparable day at every run.
        since_midnight = local.hour * HOUR + local.minute * 60 + local.second
        self.shift = since_midnight - 16 * HOUR
        self.sale_date = sale_date
        # Closed the days following today's weekday, so that today and yesterday are open days:
        # the live window then always holds a busy day, whatever day the bench runs.
        self.closed_weekdays = frozenset(
            (self.today.isoweekday() + offset - 1) % 7 + 1 for offset in range(1, 8 - open_days)
        )
        self.sites = [self._site(index) for index in range(sites)]
        if spread is not None:
            self._spread(*spread)
        self.categories = [self._uuid() for _ in CATEGORIES + SUB_CATEGORIES]
        self.reference = Rows()
        self._reference_rows(sites)
        self._tickets = self._draw()

    # -- ids, reference rows -------------------------------------------------------------------
    def _uuid(self) -> str:
        # A valid UUID4 (version and variant bits set), as Recyclic generates them.
        bits = self.rng.getrandbits(128) & ~(0xF << 76) & ~(0x3 << 62) | (4 << 76) | (2 << 62)
        return f"{bits:032x}"

    def _site(self, index: int) -> Site:
        # One busy site (300 a day), then quieter ones: 60 to 250 a day.
        daily = 300 if index == 0 else self.rng.randint(60, 250)
        return Site(self._uuid(), [self._uuid() for _ in range(8)], daily)

    def is_open(self, day: date) -> bool:
        return day.isoweekday() not in self.closed_weekdays

    def _spread(self, tickets: int, days: int) -> None:
        # Scaled after the sites are drawn, so that the random sequence, and with it every other
        # row, is the same as without a spread.
        open_days = sum(self.is_open(self.today - timedelta(days=back)) for back in range(days))
        scale = tickets / open_days / sum(site.daily_tickets for site in self.sites)
        for site in self.sites:
            site.daily_tickets *= scale

    @property
    def daily_tickets(self) -> float:
        """Tickets a day, all sites together, on an open day (before the ±30 % of each day)."""
        return sum(site.daily_tickets for site in self.sites)

    def _reference_rows(self, sites: int) -> None:
        rows = self.reference
        for index, site in enumerate(self.sites):
            rows.add("sites", site.id, f"Ressourcerie {index + 1}", "Lyon", "t")
            for number, user in enumerate(site.users):
                role = "admin" if number == 0 else "user"
                rows.add("users", user, f"s{index}u{number}", "x", role, "active", "t", site.id)
        names = CATEGORIES + SUB_CATEGORIES
        for name, category in zip(names, self.categories, strict=True):
            parent = None
            if name in SUB_CATEGORIES:
                parent = self.categories[names.index(name.split("-")[0])]
            rows.add("categories", category, name, "t", parent)

    # -- the history ---------------------------------------------------------------------------
    def take(self, tickets: int) -> Rows:
        """The next ``tickets`` tickets (older than all drawn so far) with their rows."""
        rows = Rows()
        while rows.tickets < tickets:
            day_rows = next(self._tickets)
            for table, lines in day_rows.tables.items():
                rows.tables[table].extend(lines)
            rows.tickets += day_rows.tickets
        return rows

    def _draw(self) -> Iterator[Rows]:
        # One Rows per ticket, with the poste and cash session rows before their first ticket.
        day = self.today
        while True:
            if self.is_open(day):
                for site in self.sites:
                    yield from self._site_day(site, day)
            day -= timedelta(days=1)

    def _at(self, day: date, hour: float) -> float:
        midnight = datetime(day.year, day.month, day.day, tzinfo=PARIS).timestamp()
        return midnight + hour * HOUR + self.shift

    def _site_day(self, site: Site, day: date) -> Iterator[Rows]:
        rng, now = self.rng, self.now
        age_days = (self.today - day).days
        count = max(1, round(site.daily_tickets * rng.uniform(0.7, 1.3)))
        session_open = self._at(day, 9.5 + rng.uniform(0, 0.5))
        if session_open > now:
            return
        session_close = self._at(day, 18.5 + rng.uniform(0, 0.5))
        session = self._uuid()
        cashier = rng.choice(site.users)
        head = Rows()
        is_open = session_close > now
        head.add(
            "cash_sessions", session, cashier, site.id, "50.0", "50.0",
            "OPEN" if is_open else "CLOSED", _ts(session_open),
            None if is_open else _ts(session_close),
        )  # fmt: skip
        # Morning and afternoon postes; about 2% are paper notebooks typed in 2 to 20 days later.
        for start, end, share in ((9.0, 12.5, 0.45), (13.5, 18.0, 0.55)):
            opened = self._at(day, start + rng.uniform(0, 0.5))
            if opened > now:
                continue
            closed = self._at(day, end + rng.uniform(0, 0.5))
            typed_at = None
            if rng.random() < 0.02:
                typed_at = opened + rng.randint(2, 20) * DAY + rng.uniform(0, 8 * HOUR)
                if typed_at > now:
                    # A notebook whose typing would be in the future: typed today, if it can be.
                    typed_at = now - rng.uniform(0, 3 * HOUR)
                    if typed_at - opened <= D + HOUR:
                        typed_at = None
            poste = self._uuid()
            opener = rng.choice(site.users)
            if typed_at is not None:
                status, poste_closed = "closed", typed_at
            elif closed > now or (age_days > 1 and rng.random() < 0.015):
                status, poste_closed = "opened", None  # still at work, or never closed
            else:
                status, poste_closed = "closed", closed
            head.add("poste_reception", poste, opener, _ts(opened), _ts(poste_closed)
                     if poste_closed else None, status)  # fmt: skip
            for _ in range(max(1, round(count * share))):
                if typed_at is not None:
                    closed_at = typed_at + rng.uniform(0, 2 * HOUR)
                else:
                    closed_at = rng.uniform(opened + 300, closed)
                if closed_at > now:
                    if closed_at > now + 1200:
                        continue  # not there yet
                    ticket_status, closed_at = "opened", None  # being weighed now
                elif age_days > 1 and rng.random() < 0.005:
                    ticket_status, closed_at = "opened", None  # abandoned
                elif rng.random() < 0.0005:
                    ticket_status, closed_at = "closed", None  # counts nowhere
                else:
                    ticket_status = "closed"
                # The first ticket carries the session and poste rows drawn before it.
                rows, head = head, Rows()
                self._ticket(rows, site, poste, opened, closed_at, ticket_status)
                self._sales(rows, site, session, session_open, session_close, typed_at)
                yield rows

    def _ticket(self, rows, site, poste, opened, closed_at, status) -> None:
        rng = self.rng
        ticket = self._uuid()
        rows.add("ticket_depot", ticket, poste, rng.choice(site.users), _ts(opened),
                 _ts(closed_at) if closed_at else None, status)  # fmt: skip
        for _ in range(rng.choice(LINES_PER_TICKET)):
            is_exit = rng.random() < 0.08
            if is_exit:
                destination = "RECYCLAGE" if rng.random() < 0.6 else "DECHETERIE"
            else:
                draw = rng.random()
                destination = (
                    "MAGASIN" if draw < 0.7 else "RECYCLAGE" if draw < 0.9 else "DECHETERIE"
                )
            weight = min(max(rng.expovariate(1 / 6), 0.1), 99999)
            rows.add("ligne_depot", self._uuid(), ticket, rng.choice(self.categories),
                     f"{weight:.3f}", destination, "t" if is_exit else "f")  # fmt: skip
        rows.tickets += 1

    def _sales(self, rows, site, session, session_open, session_close, typed_at) -> None:
        rng, now = self.rng, self.now
        for _ in range(rng.choice(SALES_PER_TICKET)):
            created = rng.uniform(session_open, min(session_close, now))
            sale_date: float | None = created
            if rng.random() < 0.03 and created + 2 * DAY < now:
                # Entered later from the till's notebook: dated at the session's opening.
                sale_date = session_open
                created = min(created + rng.randint(2, 20) * DAY, now - rng.uniform(0, HOUR))
            elif self.sale_date == "legacy" and now - created > 365 * DAY and rng.random() < 0.6:
                sale_date = None  # older rows, from before sale_date existed
            donation = None
            draw = rng.random()
            if draw < 0.15:
                donation = f"{rng.uniform(0.5, 10):.2f}"
            elif draw < 0.5:
                donation = "0"
            sale = self._uuid()
            total = 0.0
            items = []
            for _ in range(rng.choice(ITEMS_PER_SALE)):
                quantity = rng.choice((1, 1, 1, 2, 3))
                unit = round(rng.choice((0.5, 1, 2, 3, 5, 8, 10, 15, 25, 40)), 2)
                weight = f"{rng.uniform(0.1, 30):.3f}" if rng.random() < 0.8 else None
                total += unit * quantity
                items.append((quantity, weight, unit))
            rows.add("sales", sale, session, rng.choice(site.users), f"{total:.2f}", donation,
                     rng.choice(PAYMENTS), _ts(sale_date) if sale_date else None,
                     _ts(created))  # fmt: skip
            for quantity, weight, unit in items:
                rows.add("sale_items", self._uuid(), sale, rng.choice(CATEGORIES)[:50],
                         quantity, weight, unit, f"{unit * quantity:.2f}")  # fmt: skip


def copy_rows(connection: psycopg.Connection, rows: Rows) -> None:
    """COPY every table's rows, parents first; foreign keys are not re-checked row by row."""
    with connection.cursor() as cursor:
        # Referential triggers off for this load only (superuser): the generator writes each
        # parent before its children, and checking 11 million rows one by one would double
        # the loading time.
        cursor.execute("SET session_replication_role = replica")
        for table, columns in TABLES.items():
            lines = rows.tables[table]
            if not lines:
                continue
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for start in range(0, len(lines), 20000):
                    copy.write("\n".join(lines[start : start + 20000]) + "\n")
        cursor.execute("SET session_replication_role = origin")
    connection.commit()


def grow(connection: psycopg.Connection, history: History, tickets: int, progress) -> None:
    """Add ``tickets`` older tickets (and their lines, sales and items) in batches.

    One thread draws the next batch while another copies the previous one: PostgreSQL and
    Python each keep a core busy.
    """
    done, started = 0, time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as copier:
        pending = None
        while done < tickets:
            batch = history.take(min(BATCH_TICKETS, tickets - done))
            if pending is not None:
                pending.result()
            pending = copier.submit(copy_rows, connection, batch)
            done += batch.tickets
            rate = done / (time.perf_counter() - started)
            progress(f"  +{done:,}/{tickets:,} tickets drawn ({rate:,.0f}/s)")
        if pending is not None:
            pending.result()
