"""``manage.py reception_demo``: the demo history, its special cases, its safety, its login."""

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from io import StringIO

import bcrypt
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Q
from django.utils import timezone

from reception_stats.conf import app_settings
from reception_stats.db import allow_recyclic_writes
from reception_stats.demo import generate_demo_data
from reception_stats.kpis import WINDOWS, compute_live_stats
from reception_stats.models import (
    RECYCLIC_MODELS,
    CashSession,
    CashSessionStatus,
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
)
from tests.recipes import password_login

pytestmark = pytest.mark.django_db

OPENED, CLOSED = ReceptionStatus.OPENED, ReceptionStatus.CLOSED
EXITS = (Destination.RECYCLAGE, Destination.DECHETERIE)
DAY = timedelta(hours=24)


def run(*args: str) -> str:
    out = StringIO()
    call_command("reception_demo", *args, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {model._meta.db_table: model.objects.count() for model in RECYCLIC_MODELS}


def fields_of(model) -> list[str]:
    # Password hashes are drawn when the rows are written (bcrypt salts them): not the seed's.
    return [f.attname for f in model._meta.concrete_fields if f.attname != "hashed_password"]


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every Recyclic table, field by field, in primary-key order."""
    return {
        model._meta.db_table: sorted(model.objects.values_list(*fields_of(model)))
        for model in RECYCLIC_MODELS
    }


def generated_rows(data) -> dict[str, list[tuple]]:
    """The rows of generated demo data, as :func:`snapshot` reads them back."""
    rows = defaultdict(list)
    for model, objects in data.tables():
        rows[model._meta.db_table] += [
            tuple(getattr(row, name) for name in fields_of(model)) for row in objects
        ]
    return {table: sorted(values) for table, values in rows.items()}


def empty_recyclic_tables() -> None:
    Category.objects.update(parent=None)
    for model in reversed(RECYCLIC_MODELS):
        model.objects.all().delete()


def local_midnight(days_ago: int = 0) -> datetime:
    tz = app_settings.time_zone
    day = timezone.now().astimezone(tz).date() - timedelta(days=days_ago)
    return datetime.combine(day, time.min, tzinfo=tz)


@pytest.fixture(scope="class")
def history(django_db_setup, django_db_blocker):
    """One demo history for a class of read-only tests: building it takes a second or two."""
    with django_db_blocker.unblock():
        out = run()
    yield out
    with django_db_blocker.unblock(), allow_recyclic_writes():
        empty_recyclic_tables()


class TestHistory:
    def test_recyclic_users_have_real_bcrypt_hashes_of_passwords_nobody_knows(self, history):
        hashes = list(RecyclicUser.objects.values_list("hashed_password", flat=True))
        assert len(hashes) == 8
        assert all(h.startswith("$2b$") and len(h) == 60 for h in hashes)
        assert len(set(hashes)) == 8

    def test_a_recyclic_admin_login_signs_in_and_its_token_reads(self, history, client, options):
        options(RECYCLIC_SECRET_KEY="demo-recyclic-secret-key-of-32-bytes-at-least")
        out = run("--recyclic-login", "--address", "http://127.0.0.1:8100/admin/")
        words = out.split()
        admin = next(u for u in RecyclicUser.objects.filter(role="admin") if u.username in words)
        hashed = admin.hashed_password.encode()
        password = next(w for w in words if bcrypt.checkpw(w.encode()[:72], hashed))
        username = admin.username
        token = next(word for word in words if word.count(".") == 2 and len(word) > 100)

        assert admin.hashed_password.startswith("$2b$12$")  # as Recyclic's passlib writes it
        assert "http://127.0.0.1:8100/api/v1/stats/live?period_type=daily" in out
        assert f"Identifiant Recyclic (le sub d'un jeton) : {admin.pk}" in out  # README's USER-ID
        signed_in = client.post(
            "/admin/login/?next=/admin/", {"username": username, "password": password}
        )
        assert signed_in.status_code == 302
        client.logout()
        api = client.get("/api/v1/stats/live", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert api.status_code == 200
        assert api.json()["tickets_count"] > 0

    def test_a_recyclic_login_is_only_ever_given_to_a_demo_row(self, history):
        real = RecyclicUser.objects.filter(role="admin").first()
        with allow_recyclic_writes():
            RecyclicUser.objects.filter(pk=real.pk).update(email="gerante@ressourcerie.fr")
        before = RecyclicUser.objects.get(pk=real.pk).hashed_password
        try:
            with pytest.raises(CommandError, match="Aucun admin Recyclic de la démo"):
                run("--recyclic-login", "--username", real.username)
            assert RecyclicUser.objects.get(pk=real.pk).hashed_password == before
        finally:
            with allow_recyclic_writes():
                RecyclicUser.objects.filter(pk=real.pk).update(
                    email=f"{real.username}@ressourcerie.example"
                )

    def test_sites_users_and_categories(self, history):
        assert Site.objects.count() == 2
        for site in Site.objects.all():
            assert RecyclicUser.objects.filter(site=site).count() >= 3
        assert RecyclicUser.objects.filter(site__isnull=True).count() == 1
        names = set(Category.objects.values_list("name", flat=True))
        assert len(names) >= 10
        assert {"EEE", "Textile", "Mobilier", "Livres", "Vaisselle", "Jouets"} <= names

    def test_about_sixty_days_of_reception_history(self, history):
        oldest = PosteReception.objects.order_by("opened_at").first().opened_at
        assert timedelta(days=58) < timezone.now() - oldest < timedelta(days=61)
        assert 1500 < TicketDepot.objects.count() < 6000
        lines_per_ticket = TicketDepot.objects.annotate(n=Count("lignes")).values_list(
            "n", flat=True
        )
        assert min(lines_per_ticket) == 1
        assert max(lines_per_ticket) == 6

    def test_today_has_an_open_poste_with_open_and_closed_tickets(self, history):
        today = Q(poste__opened_at__gte=local_midnight(), poste__status=OPENED)
        assert TicketDepot.objects.filter(today, status=OPENED).count() >= 2
        assert TicketDepot.objects.filter(today, status=CLOSED, closed_at__isnull=False).exists()
        open_exits = LigneDepot.objects.filter(
            ticket__in=TicketDepot.objects.filter(today, status=OPENED), is_exit=True
        )
        assert open_exits.count() == 1

    def test_a_notebook_of_twelve_days_ago_closed_today(self, history):
        deferred = TicketDepot.objects.filter(
            status=CLOSED,
            closed_at__gte=local_midnight(),
            closed_at__gt=F("poste__opened_at") + DAY,
            poste__opened_at__range=(local_midnight(12), local_midnight(11)),
        )
        assert deferred.count() >= 3

    def test_an_abandoned_open_ticket_three_days_old(self, history):
        abandoned = TicketDepot.objects.filter(
            status=OPENED, poste__opened_at__range=(local_midnight(3), local_midnight(2))
        )
        assert abandoned.count() == 1

    def test_a_poste_left_open_overnight(self, history):
        overnight = TicketDepot.objects.filter(
            status=CLOSED,
            poste__opened_at__range=(local_midnight(1), local_midnight()),
            closed_at__gte=local_midnight(),
        )
        assert overnight.exists()
        assert not overnight.filter(closed_at__gt=F("poste__opened_at") + DAY).exists()

    def test_reception_rows_follow_recyclic(self, history):
        # A ticket's created_at is its poste's opening time, a Recyclic quirk.
        assert not TicketDepot.objects.exclude(created_at=F("poste__opened_at")).exists()
        assert LigneDepot.objects.filter(is_exit=True).exists()
        assert not LigneDepot.objects.filter(is_exit=True).exclude(destination__in=EXITS).exists()
        assert LigneDepot.objects.filter(destination=Destination.MAGASIN).count() > (
            LigneDepot.objects.exclude(destination=Destination.MAGASIN).count()
        )
        assert not LigneDepot.objects.filter(poids_kg__lte=0).exists()
        assert not TicketDepot.objects.filter(status=CLOSED, closed_at__isnull=True).exists()
        assert not TicketDepot.objects.filter(closed_at__lt=F("poste__opened_at")).exists()
        now = timezone.now()
        assert not PosteReception.objects.filter(
            Q(opened_at__gt=now) | Q(closed_at__gt=now)
        ).exists()
        assert not TicketDepot.objects.filter(closed_at__gt=now).exists()

    def test_till_sessions_and_sales(self, history):
        for site in Site.objects.all():
            sessions = CashSession.objects.filter(site=site)
            open_sessions = sessions.filter(status=CashSessionStatus.OPEN)
            assert open_sessions.count() == 1
            assert open_sessions.get().opened_at >= local_midnight()
            assert not sessions.filter(
                status=CashSessionStatus.CLOSED, closed_at__isnull=True
            ).exists()
            assert sessions.filter(status=CashSessionStatus.CLOSED).count() >= 40
        items = Sale.objects.annotate(n=Count("items")).values_list("n", flat=True)
        assert (min(items), max(items)) == (1, 4)
        assert SaleItem.objects.filter(weight__isnull=True).exists()
        assert Sale.objects.filter(donation__isnull=True).exists()
        assert Sale.objects.filter(donation__gt=0).exists()
        methods = set(Sale.objects.values_list("payment_method", flat=True))
        assert set(PaymentMethod.values) <= methods
        assert methods - set(PaymentMethod.values) <= {
            value.lower() for value in PaymentMethod.values
        }
        assert methods - set(PaymentMethod.values), "a few older lower-case methods"

    def test_deferred_sales_typed_in_today(self, history):
        deferred = Sale.objects.exclude(sale_date=F("created_at"))
        assert deferred.count() >= 2
        for sale in deferred.select_related("cash_session"):
            assert sale.created_at >= local_midnight()
            assert sale.sale_date == sale.cash_session.opened_at
            assert sale.sale_date < local_midnight(1)

    def test_figures_are_not_zero_in_either_window(self, history):
        for window in WINDOWS:
            stats = compute_live_stats(window)
            for name in ("tickets_open", "tickets_closed_24h", "items_received", "weight_in"):
                assert getattr(stats, name) > 0, (window, name)
            for name in ("weight_out_exits", "sales_count", "turnover_eur", "weight_out_sales"):
                assert getattr(stats, name) > 0, (window, name)
            for site in Site.objects.all():
                assert compute_live_stats(window, site=site.pk).tickets_open > 0

    def test_a_second_run_refuses_and_writes_nothing(self, history):
        before = row_counts()
        with pytest.raises(CommandError) as refused:
            run()
        assert refused.value.returncode != 0
        message = str(refused.value)
        assert "\n" not in message
        assert "ticket_depot" in message
        assert row_counts() == before

    def test_if_empty_keeps_existing_data(self, history):
        before = row_counts()
        out = run("--if-empty")
        assert "ticket_depot" in out
        assert row_counts() == before


def test_same_seed_same_data_and_if_empty_fills_an_empty_database(monkeypatch):
    fixed_now = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    expected = generated_rows(generate_demo_data(seed=7, now=fixed_now))
    assert generated_rows(generate_demo_data(seed=7, now=fixed_now)) == expected
    assert generated_rows(generate_demo_data(seed=8, now=fixed_now)) != expected

    monkeypatch.setattr(timezone, "now", lambda: fixed_now)
    run("--if-empty", "--seed", "7")
    assert snapshot() == expected


@pytest.mark.parametrize(
    "local_now",
    [
        "2026-03-10 00:01",  # just after midnight: today is a few seconds long
        "2026-03-10 08:00",  # before opening time
        "2026-03-10 15:00",
        "2026-03-10 23:59",
        "2026-03-29 03:30",  # the day clocks go forward
        "2026-10-25 02:30",  # the day clocks go back
    ],
)
def test_generated_history_at_any_time_of_day(local_now):
    now = datetime.fromisoformat(local_now).replace(tzinfo=app_settings.time_zone)
    midnight = datetime.combine(now.date(), time.min, tzinfo=app_settings.time_zone)
    data = generate_demo_data(now=now)

    stamps = [p.opened_at for p in data.postes] + [p.closed_at for p in data.postes]
    stamps += [t.closed_at for t in data.tickets] + [s.created_at for s in data.sales]
    stamps += [c.opened_at for c in data.cash_sessions] + [c.closed_at for c in data.cash_sessions]
    assert max(stamp for stamp in stamps if stamp) <= now
    for ticket in data.tickets:
        assert ticket.created_at == ticket.poste.opened_at
        if ticket.closed_at:
            assert ticket.poste.opened_at <= ticket.closed_at
            assert ticket.poste.closed_at is None or ticket.closed_at <= ticket.poste.closed_at
    assert all(line.destination in EXITS for line in data.lines if line.is_exit)

    open_today = [t for t in data.tickets if not t.closed_at and t.poste.opened_at >= midnight]
    closed_today = [t for t in data.tickets if t.closed_at and t.closed_at >= midnight]
    assert open_today
    assert any(t.poste.opened_at >= midnight for t in closed_today)
    assert any(t.closed_at - t.poste.opened_at > DAY for t in closed_today)
    assert any(midnight - DAY <= t.poste.opened_at < midnight for t in closed_today)
    assert any(s.sale_date != s.created_at and s.created_at >= midnight for s in data.sales)
    assert any(s.created_at >= midnight and s.sale_date == s.created_at for s in data.sales)


def test_staff_login_creates_a_staff_user_who_can_log_in(client):
    out = run("--staff-login")
    user = get_user_model().objects.get(username="demo")
    assert user.is_staff
    assert not user.is_superuser
    assert user.has_perm("reception_stats.view_live_stats")
    assert "http://127.0.0.1:8000/admin/" in out
    assert "demo" in out
    password = next(word for word in out.split() if user.check_password(word))
    assert len(password) >= 20
    assert password_login(client, "demo", password)
    # A manager: the figures, and the wall screens to pair (README: "The wall screen").
    assert client.get("/admin/reception_stats/screen/add/").status_code == 200
    assert set(row_counts().values()) == {0}, "Recyclic's tables are left alone"


def test_staff_login_again_changes_the_password(client):
    first_out = run("--staff-login", "--username", "gerante-demo")
    user_model = get_user_model()
    user = user_model.objects.get(username="gerante-demo")
    first = next(word for word in first_out.split() if user.check_password(word))

    second_out = run("--staff-login", "--username", "gerante-demo")
    user.refresh_from_db()
    second = next(word for word in second_out.split() if user.check_password(word))
    assert second != first
    assert not password_login(client, "gerante-demo", first)
    assert password_login(client, "gerante-demo", second)
    assert user_model.objects.filter(username="gerante-demo").count() == 1


def test_staff_login_never_touches_a_superuser(django_user_model):
    django_user_model.objects.create_superuser("demo", password="motdepasse-admin")
    with pytest.raises(CommandError):
        run("--staff-login")
    assert django_user_model.objects.get(username="demo").check_password("motdepasse-admin")


def test_staff_login_again_lifts_a_lockout(client):
    """Locked out after five wrong passwords, a demo user gets in with the next one printed."""
    run("--staff-login")
    for _ in range(5):
        client.post("/admin/login/", {"username": "demo", "password": "pas-le-bon"})
    assert client.post("/admin/login/", {"username": "demo", "password": "x"}).status_code == 429

    out = run("--staff-login")
    user = get_user_model().objects.get(username="demo")
    password = next(word for word in out.split() if user.check_password(word))

    assert password_login(client, "demo", password)


def test_a_recyclic_login_on_an_empty_database_fills_it_first():
    """--if-empty with --recyclic-login: the history, then a login into it (it said "relation
    users does not exist")."""
    out = run("--if-empty", "--recyclic-login")

    assert RecyclicUser.objects.filter(role="admin").exists()
    assert "Identifiant Recyclic" in out
