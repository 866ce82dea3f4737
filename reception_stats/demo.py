"""A synthetic ressourcerie history for the demo: two sites, sixty days, relative to now.

Everything is drawn from one seeded ``random.Random``, ids included, so that a seed and a ``now``
always give the same rows. Besides ordinary days the history holds the cases docs/figures.md is
about: open tickets on today's postes, a ticket abandoned three days ago, a paper notebook of
twelve days ago typed in today, a poste left open overnight, and till sales entered late.
"""

from __future__ import annotations

import random
import secrets
import unicodedata
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from importlib.util import find_spec
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .conf import app_settings
from .db import allow_recyclic_writes
from .models import (
    CashSession,
    CashSessionStatus,
    CashSessionStep,
    Category,
    Destination,
    LigneDepot,
    PaymentMethod,
    PosteReception,
    ReceptionStatus,
    RecyclicUser,
    Sale,
    SaleItem,
    Site,
    TicketDepot,
    UserRole,
    UserStatus,
)
from .permissions import manager_permissions

DEFAULT_SEED = 2026
HISTORY_DAYS = 60
BATCH_SIZE = 1000
GRAM = Decimal("0.001")
DEMO_ADMIN_URL = "http://127.0.0.1:8000/admin/"

SITES = (
    ("Ressourcerie du Centre", "12 rue de la République", "Lyon", "69002"),
    ("Ressourcerie des Quais", "3 quai Rambaud", "Lyon", "69002"),
)
USERS = (  # (first name, last name, role, site index or None)
    ("Camille", "Martin", UserRole.ADMIN, 0),
    ("Léa", "Bernard", UserRole.USER, 0),
    ("Hugo", "Petit", UserRole.USER, 0),
    ("Nadia", "Haddad", UserRole.USER, 0),
    ("Julien", "Moreau", UserRole.ADMIN, 1),
    ("Inès", "Garcia", UserRole.USER, 1),
    ("Thomas", "Roux", UserRole.USER, 1),
    ("Sophie", "Lefèvre", UserRole.SUPER_ADMIN, None),
)


class CategorySpec(NamedTuple):
    name: str
    official_name: str
    parent: str | None
    frequency: int  # relative share of lines and sale items
    kilos: tuple[float, float]  # weight of one piece
    euros: tuple[float, float]  # shop price of one piece


CATEGORIES = (
    CategorySpec("EEE", "Équipements électriques et électroniques", None, 6, (1, 12), (5, 40)),
    CategorySpec("Petit électroménager", "Petits appareils ménagers", "EEE", 8, (0.3, 5), (2, 20)),
    CategorySpec("Écrans", "Écrans et moniteurs", "EEE", 2, (3, 15), (10, 50)),
    CategorySpec("Textile", "Textiles, linge de maison et chaussures", None, 20, (0.5, 8), (1, 10)),
    CategorySpec("Mobilier", "Mobilier et ameublement", None, 7, (4, 40), (10, 120)),
    CategorySpec("Livres", "Livres, revues et documents", None, 12, (0.5, 10), (0.5, 4)),
    CategorySpec("Vaisselle", "Vaisselle et arts de la table", None, 12, (0.5, 6), (0.5, 8)),
    CategorySpec("Jouets", "Jouets et jeux", None, 9, (0.3, 5), (1, 15)),
    CategorySpec("Bibelots", "Bibelots et décoration", None, 9, (0.2, 4), (1, 12)),
    CategorySpec("Sport", "Articles de sport et de loisirs", None, 5, (0.5, 12), (2, 30)),
    CategorySpec("Puériculture", "Articles de puériculture", None, 4, (1, 10), (3, 25)),
    CategorySpec("Bricolage", "Outillage et bricolage", None, 6, (0.5, 10), (2, 25)),
)
LINE_NOTES = ("Rayé", "Manque une pièce", "À tester", "Très bon état", "Sans câble")
EXIT_DESTINATIONS = (Destination.RECYCLAGE, Destination.DECHETERIE)


class DemoError(Exception):
    """The demo cannot do what was asked; the message says why, in one line."""


@dataclass
class DemoData:
    """The rows of the demo, in an order that inserts every row after those it refers to."""

    sites: list[Site] = field(default_factory=list)
    users: list[RecyclicUser] = field(default_factory=list)
    categories: list[Category] = field(default_factory=list)
    postes: list[PosteReception] = field(default_factory=list)
    tickets: list[TicketDepot] = field(default_factory=list)
    lines: list[LigneDepot] = field(default_factory=list)
    cash_sessions: list[CashSession] = field(default_factory=list)
    sales: list[Sale] = field(default_factory=list)
    sale_items: list[SaleItem] = field(default_factory=list)

    def tables(self) -> list[tuple[type[models.Model], list[models.Model]]]:
        # Parent categories go in first: PostgreSQL checks categories.parent_id on insert.
        parents = [c for c in self.categories if c.parent_id is None]
        children = [c for c in self.categories if c.parent_id is not None]
        return [
            (Site, self.sites),
            (RecyclicUser, self.users),
            (Category, parents),
            (Category, children),
            (PosteReception, self.postes),
            (TicketDepot, self.tickets),
            (LigneDepot, self.lines),
            (CashSession, self.cash_sessions),
            (Sale, self.sales),
            (SaleItem, self.sale_items),
        ]


def generate_demo_data(seed: int = DEFAULT_SEED, now: datetime | None = None) -> DemoData:
    """Build, without saving them, the demo's rows for a history ending at ``now``."""
    return _Builder(seed, now or timezone.now()).build()


def write_demo_data(data: DemoData, using: str) -> None:
    """Insert ``data`` on ``using`` in one transaction: all of it or nothing.

    The one place outside the tests that writes Recyclic's tables, into an empty database. Each
    Recyclic user gets a real bcrypt hash, as Recyclic writes them, of a password nobody knows:
    ``reset_demo_recyclic_login`` gives one of them a password to sign in with.
    """
    if find_spec("bcrypt"):
        for user in data.users:
            user.hashed_password = _bcrypt(secrets.token_urlsafe(24), rounds=10)
    with allow_recyclic_writes(), transaction.atomic(using=using):
        for model, rows in data.tables():
            model.objects.using(using).bulk_create(rows, batch_size=BATCH_SIZE)


#: The domain of the demo's Recyclic users' addresses: the one sign that a row is the demo's.
DEMO_EMAIL_DOMAIN = "@ressourcerie.example"


def _bcrypt(password: str, rounds: int = 12) -> str:
    """A hash as Recyclic's passlib writes it (``$2b$``, 12 rounds by default)."""
    import bcrypt

    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def reset_demo_recyclic_login(using: str, username: str | None = None) -> tuple[RecyclicUser, str]:
    """Give a Recyclic admin of the demo a new password; answer the user and the password.

    Only a demo row (its address on ``DEMO_EMAIL_DOMAIN``) is ever touched: this must never
    reset the password of a real Recyclic account.
    """
    users = RecyclicUser.objects.using(using).filter(email__endswith=DEMO_EMAIL_DOMAIN)
    if username is None:
        users = users.filter(role=UserRole.ADMIN, is_active=True).order_by("username")
    else:
        users = users.filter(username=username)
    user = users.first()
    if user is None:
        raise DemoError(
            _(
                "No demo Recyclic admin to sign in with on database %(database)s: the demo "
                "history is not there (reception_demo writes it into an empty database)."
            )
            % {"database": using}
        )
    if not find_spec("bcrypt"):
        raise DemoError(
            _(
                "Recyclic's password hashes need bcrypt: "
                "pip install django-reception-stats[recyclic]."
            )
        )
    password = secrets.token_urlsafe(12)
    with allow_recyclic_writes():
        RecyclicUser.objects.using(using).filter(pk=user.pk).update(
            hashed_password=_bcrypt(password)
        )
    return user, password


def unlock_sign_in(username: str) -> None:
    """Forget django-axes' failed sign-ins of ``username``, if the project uses django-axes: a
    new demo password works at once, even after a lockout."""
    from django.apps import apps

    if apps.is_installed("axes"):
        from axes.utils import reset

        reset(username=username)


def recyclic_token(user: RecyclicUser, secret: str, hours: int = 8) -> str:
    """A token signed as Recyclic signs its own (HS256, ``sub`` the user's id, 8 hours)."""
    import jwt

    expires = timezone.now() + timedelta(hours=hours)
    return jwt.encode({"sub": str(user.pk), "exp": expires}, secret, algorithm="HS256")


def reset_demo_staff_user(username: str = "demo") -> str:
    """Create or reset a staff user who may read the live figures and pair the wall screens
    (:data:`~reception_stats.permissions.MANAGER_CODENAMES`); answer its new password."""
    try:
        permissions = manager_permissions()
    except Permission.DoesNotExist:
        raise DemoError(
            _("The permission view_live_stats is missing: run migrate first.")
        ) from None
    user_model = get_user_model()
    with transaction.atomic():
        user, _created = user_model._default_manager.get_or_create(
            **{user_model.USERNAME_FIELD: username}
        )
        if user.is_superuser:
            raise DemoError(
                _("%(username)s is a superuser: choose another --username.")
                % {"username": username}
            )
        password = secrets.token_urlsafe(18)
        user.set_password(password)
        user.is_staff = True
        user.is_active = True
        user.save()
        user.user_permissions.add(*permissions)
    return password


class _Builder:
    def __init__(self, seed: int, now: datetime) -> None:
        # Reproducible on purpose: demo data, not secrets.
        self.rng = random.Random(seed)  # noqa: S311
        self.tz = app_settings.time_zone
        self.now = now.astimezone(UTC)
        self.today: date = now.astimezone(self.tz).date()
        self.midnight = self.local(0, time.min)
        self.data = DemoData()
        self.staff: dict[Site, list[RecyclicUser]] = defaultdict(list)
        self.sales_of: dict[CashSession, list[Sale]] = defaultdict(list)
        self.items_of: dict[Sale, list[SaleItem]] = defaultdict(list)

    def build(self) -> DemoData:
        self.reference_rows()
        for days_ago in range(HISTORY_DAYS, 0, -1):
            # Ressourceries close on Sundays; today and the special cases below happen anyway.
            if (self.today - timedelta(days=days_ago)).weekday() != 6:
                for site in self.data.sites:
                    self.ordinary_day(site, days_ago)
        self.today_so_far()
        self.special_cases()
        self.close_till_accounts()
        return self.data

    # Time: local wall-clock times, stored and compared in UTC so that arithmetic is real time.
    def local(self, days_ago: int, at: time, minutes: int = 0) -> datetime:
        day = self.today - timedelta(days=days_ago)
        wall = datetime.combine(day, at, tzinfo=self.tz).astimezone(UTC)
        return wall + timedelta(minutes=minutes)

    def instants(self, start: datetime, end: datetime, count: int) -> list[datetime]:
        return sorted(start + (end - start) * self.rng.uniform(0.01, 0.99) for _ in range(count))

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def reference_rows(self) -> None:
        created = self.local(400, time(10))
        for name, address, city, postal_code in SITES:
            self.data.sites.append(
                Site(
                    id=self.uuid(), name=name, address=address, city=city,
                    postal_code=postal_code, country="France", configuration=None,
                    is_active=True, created_at=created, updated_at=created,
                )
            )  # fmt: skip
        for first, last, role, site_index in USERS:
            username = unicodedata.normalize("NFKD", f"{first}.{last}".lower())
            username = username.encode("ascii", "ignore").decode()
            site = None if site_index is None else self.data.sites[site_index]
            user = RecyclicUser(
                id=self.uuid(), username=username, email=f"{username}{DEMO_EMAIL_DOMAIN}",
                hashed_password=f"!demo-{self.rng.getrandbits(64):016x}", first_name=first,
                last_name=last, role=role, status=UserStatus.ACTIVE, is_active=True, site=site,
                created_at=created, updated_at=created,
            )  # fmt: skip
            self.data.users.append(user)
            if site is not None:
                self.staff[site].append(user)
        by_name: dict[str, Category] = {}
        for order, spec in enumerate(CATEGORIES):
            by_name[spec.name] = Category(
                id=self.uuid(), name=spec.name, official_name=spec.official_name, is_active=True,
                parent=by_name.get(spec.parent or ""), price=Decimal(str(spec.euros[0])),
                max_price=Decimal(str(spec.euros[1])), display_order=order,
                display_order_entry=order, is_visible=True, shortcut_key=None,
                created_at=created, updated_at=created, deleted_at=None,
            )  # fmt: skip
        self.data.categories = list(by_name.values())
        self.category_weights = [spec.frequency for spec in CATEGORIES]

    def ordinary_day(self, site: Site, days_ago: int) -> None:
        opened = self.local(days_ago, time(9), self.rng.randint(0, 50))
        closed = self.local(days_ago, time(17, 30), self.rng.randint(0, 90))
        poste = self.poste(site, opened, closed)
        for closed_at in self.instants(opened, closed, self.rng.randint(15, 40)):
            self.ticket(poste, closed_at)
        session_opened = self.local(days_ago, time(9, 30), self.rng.randint(0, 30))
        session_closed = self.local(days_ago, time(18), self.rng.randint(0, 60))
        session = self.cash_session(site, session_opened, session_closed)
        for created in self.instants(session_opened, session_closed, self.rng.randint(15, 45)):
            self.sale(session, created, lower_case=days_ago > 40 and self.rng.random() < 0.3)

    def today_so_far(self) -> None:
        """Each site's poste and till opened this morning, still open at ``now``."""
        elapsed = self.now - self.midnight
        for index, site in enumerate(self.data.sites):
            # At 9 in the morning, or earlier when the demo runs before opening time.
            opening = timedelta(hours=9, minutes=20 * index)
            opened = self.midnight + min(opening, max(elapsed - timedelta(hours=1), elapsed / 3))
            progress = min(1.0, (self.now - opened) / timedelta(hours=9))
            poste = self.poste(site, opened, None)
            for closed_at in self.instants(opened, self.now, max(2, round(30 * progress))):
                self.ticket(poste, closed_at)
            # The live desk: tickets still open, one of them with a stock exit line.
            for number in range(3 - index):
                self.ticket(poste, None, exit_line=index == 0 and number == 0)
            session_opened = opened + min(timedelta(minutes=15), (self.now - opened) / 4)
            session = self.cash_session(site, session_opened, None)
            for created in self.instants(session_opened, self.now, max(3, round(35 * progress))):
                self.sale(session, created)

    def special_cases(self) -> None:
        centre, quais = self.data.sites
        elapsed = self.now - self.midnight
        # A paper notebook of twelve days ago, typed in today: deferred tickets.
        notebook = self.poste(centre, self.local(12, time(14)), self.midnight + elapsed * 0.75)
        for closed_at in self.instants(
            self.midnight + elapsed * 0.4, self.midnight + elapsed * 0.7, 6
        ):
            self.ticket(notebook, closed_at)
        # An evening collection left open overnight: some tickets closed after midnight.
        evening = self.local(1, time(18, 30), self.rng.randint(0, 30))
        after_midnight = min(elapsed / 2, timedelta(hours=2))
        overnight = self.poste(quais, evening, self.midnight + after_midnight * 1.2)
        for closed_at in self.instants(evening, self.midnight, 3) + self.instants(
            self.midnight, self.midnight + after_midnight, 3
        ):
            self.ticket(overnight, closed_at)
        # A poste opened three days ago and never closed, with a forgotten open ticket.
        abandoned = self.poste(quais, self.local(3, time(10), 5), None)
        for closed_at in self.instants(abandoned.opened_at, self.local(3, time(12)), 2):
            self.ticket(abandoned, closed_at)
        self.ticket(abandoned, None)
        # Till notebooks typed in today: sale_date is the old session's opening (its day).
        for site, days_ago, count in ((centre, 9, 2), (quais, 16, 1)):
            session = self.past_session(site, days_ago)
            for created in self.instants(self.midnight, self.now, count):
                self.sale(session, created, sale_date=session.opened_at, note="Cahier de caisse")

    def past_session(self, site: Site, days_ago: int) -> CashSession:
        before = self.local(days_ago - 1, time.min)
        return next(
            session
            for session in reversed(self.data.cash_sessions)
            if session.site == site and session.opened_at < before
        )

    def poste(self, site: Site, opened: datetime, closed: datetime | None) -> PosteReception:
        poste = PosteReception(
            id=self.uuid(),
            opened_by=self.rng.choice(self.staff[site]),
            opened_at=opened,
            closed_at=closed,
            status=ReceptionStatus.CLOSED if closed else ReceptionStatus.OPENED,
        )
        self.data.postes.append(poste)
        return poste

    def ticket(
        self, poste: PosteReception, closed_at: datetime | None, *, exit_line: bool | None = None
    ) -> None:
        """A ticket of 1-6 lines; ``exit_line`` True ends it with one exit, False allows none."""
        site = poste.opened_by.site
        ticket = TicketDepot(
            id=self.uuid(),
            poste=poste,
            benevole=self.rng.choice(self.staff[site]),
            # Recyclic's quirk: a ticket's created_at is its poste's opening time.
            created_at=poste.opened_at,
            closed_at=closed_at,
            status=ReceptionStatus.CLOSED if closed_at else ReceptionStatus.OPENED,
        )
        self.data.tickets.append(ticket)
        count = self.rng.choices(range(1, 7), weights=(30, 28, 18, 12, 7, 5))[0]
        for number in range(count):
            spec, category = self.category()
            destination = self.rng.choices(list(Destination), weights=(80, 12, 8))[0]
            is_exit = destination in EXIT_DESTINATIONS and self.rng.random() < 0.5
            if exit_line is not None:
                is_exit = exit_line and number == count - 1
                if is_exit:
                    destination = self.rng.choice(EXIT_DESTINATIONS)
            self.data.lines.append(
                LigneDepot(
                    id=self.uuid(), ticket=ticket, category=category,
                    poids_kg=self.kilos(spec), destination=destination, is_exit=is_exit,
                    notes=self.rng.choice(LINE_NOTES) if self.rng.random() < 0.1 else None,
                )
            )  # fmt: skip

    def category(self) -> tuple[CategorySpec, Category]:
        index = self.rng.choices(range(len(CATEGORIES)), weights=self.category_weights)[0]
        return CATEGORIES[index], self.data.categories[index]

    def kilos(self, spec: CategorySpec, pieces: int = 1) -> Decimal:
        weight = Decimal(repr(self.rng.uniform(*spec.kilos) * pieces)).quantize(GRAM)
        return max(weight, GRAM)

    def cash_session(self, site: Site, opened: datetime, closed: datetime | None) -> CashSession:
        initial = self.rng.choice((50.0, 80.0, 100.0))
        session = CashSession(
            id=self.uuid(), operator=self.rng.choice(self.staff[site]), site=site,
            register_id=None, initial_amount=initial, current_amount=initial,
            status=CashSessionStatus.CLOSED if closed else CashSessionStatus.OPEN,
            opened_at=opened, closed_at=closed, step_start_time=opened,
            current_step=None if closed else CashSessionStep.SALE,
        )  # fmt: skip
        self.data.cash_sessions.append(session)
        return session

    def sale(
        self,
        session: CashSession,
        created: datetime,
        *,
        sale_date: datetime | None = None,
        lower_case: bool = False,
        note: str | None = None,
    ) -> None:
        method = self.rng.choices(list(PaymentMethod), weights=(45, 40, 6, 4))[0]
        free = method == PaymentMethod.FREE
        sale = Sale(
            id=self.uuid(), cash_session=session, operator=session.operator,
            donation=self.rng.choice((0.5, 1.0, 2.0, 5.0)) if self.rng.random() < 0.35 else None,
            # Older Recyclic versions wrote the method in lower case.
            payment_method=method.value.lower() if lower_case else method.value,
            note=note, sale_date=sale_date or created, created_at=created, updated_at=created,
        )  # fmt: skip
        for _item in range(self.rng.choices((1, 2, 3, 4), weights=(45, 30, 15, 10))[0]):
            spec, category = self.category()
            quantity = self.rng.choices((1, 2, 3), weights=(80, 15, 5))[0]
            unit_price = 0.0 if free else max(0.5, round(self.rng.uniform(*spec.euros) * 2) / 2)
            weight = None if self.rng.random() < 0.2 else float(self.kilos(spec, quantity))
            self.items_of[sale].append(
                SaleItem(
                    id=self.uuid(), sale=sale, category=category.name, quantity=quantity,
                    weight=weight, unit_price=unit_price, total_price=unit_price * quantity,
                )
            )  # fmt: skip
        sale.total_amount = round(sum(item.total_price for item in self.items_of[sale]), 2)
        self.data.sales.append(sale)
        self.data.sale_items.extend(self.items_of[sale])
        self.sales_of[session].append(sale)

    def close_till_accounts(self) -> None:
        """Each session's totals, drawer and, for closed ones, a count that rarely differs."""
        for session in self.data.cash_sessions:
            sales = self.sales_of[session]
            cash = sum(
                sale.total_amount + (sale.donation or 0)
                for sale in sales
                if (sale.payment_method or "").upper() == PaymentMethod.CASH
            )
            session.total_sales = round(sum(sale.total_amount for sale in sales), 2)
            session.total_items = sum(len(self.items_of[sale]) for sale in sales)
            session.current_amount = round(session.initial_amount + cash, 2)
            session.last_activity = max(
                [sale.created_at for sale in sales] + [session.closed_at or session.opened_at]
            )
            if session.closed_at is None:
                continue
            variance = 0.0
            if self.rng.random() < 0.15:
                variance = self.rng.choice((-5.0, -2.0, -0.5, 0.2, 1.0, 3.0))
                session.variance_comment = "Erreur de rendu de monnaie"
            session.closing_amount = session.current_amount
            session.actual_amount = round(session.current_amount + variance, 2)
            session.variance = variance
