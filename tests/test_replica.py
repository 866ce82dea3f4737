"""``RECEPTION_STATS["DATABASE"]``: the KPI queries go to that alias, and to no other.

A mirror of "default" would share its connection and prove nothing, so the replica here is a
second real database with different rows: a file beside the test's on SQLite, a second
database on PostgreSQL. Its connection is added for this module only, like the unreachable
database of conftest.py, so the rest of the suite never sees it.
"""

import json
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reception_stats.breakdowns import QUERIES_PER_BREAKDOWN, compute_breakdown
from reception_stats.db import allow_recyclic_writes
from reception_stats.kpis import QUERIES_PER_COMPUTATION, SiteNotFound, compute_live_stats
from reception_stats.models import (
    CashSession,
    Category,
    LigneDepot,
    PosteReception,
    RecyclicUser,
    Sale,
    Site,
    TicketDepot,
)
from reception_stats.schema import create_recyclic_tables
from tests.recipes import other_statements, recyclic_selects

REPLICA = "replica"


def write_figures(using: str, *, amount: float, weight: str) -> Site:
    """One site with an open ticket of one line and one sale, written on ``using``."""
    now = timezone.now()
    site = Site.objects.using(using).create(id=uuid4(), name="Replica site", is_active=True)
    user = RecyclicUser.objects.using(using).create(
        id=uuid4(),
        username=f"u{uuid4().hex[:8]}",
        hashed_password="x",
        role="user",
        status="active",
        is_active=True,
        site=site,
    )
    poste = PosteReception.objects.using(using).create(
        id=uuid4(), opened_by=user, opened_at=now - timedelta(hours=1), status="opened"
    )
    ticket = TicketDepot.objects.using(using).create(
        id=uuid4(), poste=poste, benevole=user, created_at=poste.opened_at, status="opened"
    )
    category = Category.objects.using(using).create(
        id=uuid4(), name=f"c{uuid4().hex[:8]}", is_active=True
    )
    LigneDepot.objects.using(using).create(
        id=uuid4(),
        ticket=ticket,
        category=category,
        poids_kg=Decimal(weight),
        destination="MAGASIN",
        is_exit=False,
    )
    session = CashSession.objects.using(using).create(
        id=uuid4(),
        operator=user,
        site=site,
        initial_amount=0,
        current_amount=0,
        status="OPEN",
        opened_at=now - timedelta(hours=2),
    )
    Sale.objects.using(using).create(
        id=uuid4(), cash_session=session, total_amount=amount, created_at=now - timedelta(minutes=5)
    )
    return site


@pytest.fixture(scope="module")
def replica(django_db_setup, django_db_blocker, tmp_path_factory):
    """A second database named ``replica``, with Recyclic's tables and its own rows."""
    default = connections["default"]
    settings_dict = {**default.settings_dict}
    on_postgresql = default.vendor == "postgresql"
    name = f"{default.settings_dict['NAME']}_replica"
    with django_db_blocker.unblock():
        if on_postgresql:
            with default._nodb_cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
                cursor.execute(f'CREATE DATABASE "{name}"')
            settings_dict["NAME"] = name
        else:
            settings_dict["NAME"] = str(tmp_path_factory.mktemp("replica") / "replica.sqlite3")
        connections[REPLICA] = type(default)(settings_dict, REPLICA)
        create_recyclic_tables(using=REPLICA)
        with allow_recyclic_writes():
            site = write_figures(REPLICA, amount=30.0, weight="12.500")
    yield site
    with django_db_blocker.unblock():
        connections[REPLICA].close()
        del connections[REPLICA]
        if on_postgresql:
            with default._nodb_cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def on_replica(replica, db, settings):
    """Different rows on "default", and the figures pointed at the replica."""
    write_figures("default", amount=99.0, weight="1.000")
    settings.RECEPTION_STATS = {**settings.RECEPTION_STATS, "DATABASE": REPLICA}
    return replica


def queries_on_both():
    return CaptureQueriesContext(connections["default"]), CaptureQueriesContext(
        connections[REPLICA]
    )


def test_the_figures_are_the_replicas_and_default_gets_no_query(on_replica):
    on_default, on_replica_ = queries_on_both()
    with on_default, on_replica_:
        stats = compute_live_stats("24h")
    assert (stats.turnover_eur, stats.weight_in, stats.tickets_open) == (
        Decimal("30.00"),
        Decimal("12.500"),
        1,
    )
    assert len(on_default) == 0
    assert len(recyclic_selects(on_replica_)) == QUERIES_PER_COMPUTATION
    assert other_statements(on_replica_) == []


def test_the_site_is_looked_up_on_the_replica_too(on_replica):
    on_default, on_replica_ = queries_on_both()
    with on_default, on_replica_:
        stats = compute_live_stats("24h", site=on_replica.id)
    assert stats.turnover_eur == Decimal("30.00")
    assert len(on_default) == 0
    assert len(recyclic_selects(on_replica_)) == QUERIES_PER_COMPUTATION
    assert other_statements(on_replica_) == []
    # A site that only "default" holds is unknown where the figures are read.
    only_on_default = Site.objects.using("default").get().id
    with pytest.raises(SiteNotFound):
        compute_live_stats("24h", site=only_on_default)


def test_the_breakdown_reads_the_replica(on_replica):
    on_default, on_replica_ = queries_on_both()
    with on_default, on_replica_:
        breakdown = compute_breakdown("24h")
    assert sum(bucket.turnover_eur for bucket in breakdown.hours) == Decimal("30")
    assert len(on_default) == 0
    assert len(recyclic_selects(on_replica_)) == QUERIES_PER_BREAKDOWN
    assert other_statements(on_replica_) == []


def test_without_the_setting_default_is_read(replica, db):
    write_figures("default", amount=99.0, weight="1.000")
    with CaptureQueriesContext(connections[REPLICA]) as on_replica_:
        stats = compute_live_stats("24h")
    assert stats.turnover_eur == Decimal("99.00")
    assert len(on_replica_) == 0


def project_settings(**environ: str) -> dict:
    """DATABASES and RECEPTION_STATS as recyclic/settings.py builds them from ``environ``."""
    code = (
        "import json; from recyclic import settings as s; "
        "print(json.dumps({'databases': {k: v['NAME'] for k, v in s.DATABASES.items()}, "
        "'alias': s.RECEPTION_STATS['DATABASE']}))"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("RECEPTION_STATS", "DATABASE_URL", "RECYCLIC_DATABASE_URL", "DJANGO_SETTINGS")
        )
    }
    env.update(SECRET_KEY="x", **environ)
    output = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output)


def test_recyclic_database_url_adds_the_alias_and_points_the_figures_at_it():
    configured = project_settings(
        RECYCLIC_DATABASE_URL="postgres://reader@replica.internal:5432/recyclic"
    )
    assert configured["databases"]["recyclic"] == "recyclic"
    assert configured["alias"] == "recyclic"
    # Django's own tables stay in their own database: a SQLite file by default.
    assert configured["databases"]["default"].endswith("db.sqlite3")
    assert project_settings()["alias"] == "default"
    assert "recyclic" not in project_settings()["databases"]


def test_the_former_name_of_the_variable_still_works():
    configured = project_settings(
        RECEPTION_STATS_DATABASE_URL="postgres://reader@replica.internal:5432/recyclic"
    )
    assert configured["databases"]["recyclic"] == "recyclic"
    assert configured["alias"] == "recyclic"


def project_settings_error(**environ: str) -> str:
    """The last line recyclic/settings.py prints when it refuses ``environ``."""
    with pytest.raises(subprocess.CalledProcessError) as refused:
        project_settings(**environ)
    return refused.value.stderr.strip().splitlines()[-1]


def test_an_alias_without_a_database_is_refused_at_start():
    """Compose's attach mode names the alias recyclic whatever .env holds: a forgotten URL
    stops migrate and the app with one line, not the first request with a missing connection."""
    assert project_settings_error(RECEPTION_STATS_DATABASE="recyclic") == (
        "django.core.exceptions.ImproperlyConfigured: RECYCLIC_DATABASE_URL is not set: give the "
        "URL of Recyclic's PostgreSQL, e.g. "
        "postgres://reception_stats_reader:password@postgres:5432/recyclic."
    )
    assert "an alias of no database (configured: default)" in project_settings_error(
        RECEPTION_STATS_DATABASE="reception_stats"
    )
