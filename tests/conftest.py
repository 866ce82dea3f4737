"""Fixtures shared by the whole suite.

Recyclic's tables are unmanaged, so Django's test runner does not create them: the session-wide
``django_db_setup`` adds them to every test database, from the SQL schema on PostgreSQL and from
the models on SQLite.
"""

import pytest
from django.contrib.auth.models import Permission
from django.db import connections

from reception_stats.schema import create_recyclic_tables


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        for alias in connections:
            create_recyclic_tables(using=alias)


@pytest.fixture
def on_postgresql():
    return connections["default"].vendor == "postgresql"


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
def _empty_recyclic_tables_after_transactional_tests(request):
    """Django's flush after a transactional test skips unmanaged tables: empty them ourselves."""
    yield
    if not {"transactional_db", "live_server"} & set(request.fixturenames):
        return
    from reception_stats.models import RECYCLIC_MODELS, Category

    with request.getfixturevalue("django_db_blocker").unblock():
        Category.objects.update(parent=None)
        for model in reversed(RECYCLIC_MODELS):
            model.objects.all().delete()


@pytest.fixture(autouse=True)
def _empty_caches():
    """The figures stay cached for CACHE_TIMEOUT seconds: no test may read another test's."""
    from django.core.cache import caches

    for cache in caches.all():
        cache.clear()
