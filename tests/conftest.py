"""Fixtures shared by the whole suite.

Recyclic's tables are unmanaged, so Django's test runner does not create them: the session-wide
``django_db_setup`` adds them to every test database, from the SQL schema on PostgreSQL and from
the models on SQLite.
"""

import pytest
from django.contrib.auth.models import Permission
from django.db import connections
from django.utils import translation
from rest_framework.test import APIClient

from reception_stats.db import allow_recyclic_writes
from reception_stats.schema import create_recyclic_tables


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "recyclic_read_only: Recyclic's tables refuse writes, as outside the tests"
    )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        for alias in connections:
            create_recyclic_tables(using=alias)
    yield
    # The live server answers in daemon threads: one still busy with a request the browser left
    # behind keeps its connection, and PostgreSQL would refuse to drop the test database.
    with django_db_blocker.unblock():
        connection = connections["default"]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture
def on_postgresql():
    return connections["default"].vendor == "postgresql"


@pytest.fixture
def options(settings):
    """Set some RECEPTION_STATS options for one test, keeping the others."""

    def set_options(**values):
        settings.RECEPTION_STATS = {**settings.RECEPTION_STATS, **values}

    return set_options


@pytest.fixture
def api(manager):
    """DRF's test client logged in as a manager (staff holding the permission), asking for
    English messages."""
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(manager)
    yield client
    # LocaleMiddleware leaves the request's language active in this thread: give the next
    # tests back the default (French) one.
    translation.deactivate()


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="gerante", password="motdepasse-staff", is_staff=True
    )


@pytest.fixture
def plain_user(django_user_model):
    return django_user_model.objects.create_user(username="benevole", password="motdepasse-user")


@pytest.fixture
def manager(django_user_model):
    """A staff member holding view_live_stats: who the admin page is for."""
    user = django_user_model.objects.create_user(
        username="responsable", password="un-mot-de-passe-solide", is_staff=True
    )
    user.user_permissions.add(Permission.objects.get(codename="view_live_stats"))
    return user


@pytest.fixture
def permitted_user(django_user_model):
    user = django_user_model.objects.create_user(
        username="reception", password="motdepasse-reception"
    )
    user.user_permissions.add(Permission.objects.get(codename="view_live_stats"))
    return user


@pytest.fixture
def unreachable_database(db, settings):
    """Point the KPI queries at a PostgreSQL server that refuses connections (port 1).

    The connection is created directly rather than declared in DATABASES: Django's test case
    lets such a connection through, and there is no test database to create for it.
    """
    from django.db.backends.postgresql.base import DatabaseWrapper

    alias = "unreachable"
    settings_dict = {
        **connections["default"].settings_dict,
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "127.0.0.1",
        "PORT": "1",
        "NAME": "recyclic",
        "USER": "postgres",
        "PASSWORD": "",
        "OPTIONS": {"connect_timeout": 2},
    }
    connections[alias] = DatabaseWrapper(settings_dict, alias)
    settings.RECEPTION_STATS = {**settings.RECEPTION_STATS, "DATABASE": alias}
    yield alias
    connections[alias].close()
    del connections[alias]


@pytest.fixture(autouse=True)
def _recyclic_writes_allowed(request):
    """The test data builders (model-bakery) save Recyclic rows: let them, unless the test is
    marked ``recyclic_read_only`` to see the app as it runs outside the tests."""
    if request.node.get_closest_marker("recyclic_read_only"):
        yield
        return
    with allow_recyclic_writes():
        yield


@pytest.fixture(autouse=True)
def _empty_recyclic_tables_after_transactional_tests(request):
    """Django's flush after a transactional test skips unmanaged tables: empty them ourselves."""
    yield
    marker = request.node.get_closest_marker("django_db")
    marked = marker is not None and (
        marker.kwargs.get("transaction") or (marker.args and marker.args[0])
    )
    if not marked and not {"transactional_db", "live_server"} & set(request.fixturenames):
        return
    from reception_stats.models import RECYCLIC_MODELS, Category

    with request.getfixturevalue("django_db_blocker").unblock(), allow_recyclic_writes():
        Category.objects.update(parent=None)
        for model in reversed(RECYCLIC_MODELS):
            model.objects.all().delete()


@pytest.fixture(autouse=True)
def _empty_caches():
    """The figures stay cached for CACHE_TIMEOUT seconds: no test may read another test's. A
    cache or a database a test made look unresponsive is asked again by the next test."""
    from django.core.cache import caches

    from reception_stats import cache, db
    from reception_stats.api.throttling import _fallback

    for each in (*caches.all(), _fallback):
        each.clear()
    cache._paused_until = 0.0
    db._unresponsive_until.clear()
    yield
    cache._paused_until = 0.0
    db._unresponsive_until.clear()
