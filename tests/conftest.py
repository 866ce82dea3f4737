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
def permitted_user(django_user_model):
    user = django_user_model.objects.create_user(
        username="reception", password="motdepasse-reception"
    )
    user.user_permissions.add(Permission.objects.get(codename="view_live_stats"))
    return user
