"""The models against the tables: on PostgreSQL, against the DDL of ``sql/recyclic_schema.sql``.

The tables of the test database come from that SQL on PostgreSQL, so these tests prove that each
model reads Recyclic's schema column for column. On SQLite they come from the models themselves
and the tests only prove that the models round-trip.
"""

from datetime import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Field, Model
from django.db.models.functions import Now

from reception_stats.models import (
    RECYCLIC_MODELS,
    Category,
    Destination,
    LigneDepot,
    PosteReception,
    RecyclicUser,
    Sale,
    Site,
    UserRole,
)

from .recipes import (
    make_cash_session,
    make_poste,
    make_recyclic_user,
    make_sale,
    make_site,
    make_ticket,
    paris,
)

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the tables come from the SQL schema on PostgreSQL"
)

# Recyclic's schema: the PostgreSQL enum type of each enum column.
POSTGRESQL_ENUMS = {
    ("users", "role"): "userrole",
    ("users", "status"): "userstatus",
    ("ligne_depot", "destination"): "destinationenum",
    ("cash_sessions", "status"): "cashsessionstatus",
    ("cash_sessions", "current_step"): "cashsessionstep",
}

POSTGRESQL_TYPES = {
    "UUIDField": "uuid",
    "TextField": "text",
    "FloatField": "double precision",
    "IntegerField": "integer",
    "BooleanField": "boolean",
    "DateTimeField": "timestamp with time zone",
    "JSONField": "json",
}


def expected_postgresql_type(model: type[Model], field: Field) -> str:
    """The column type Recyclic's schema has for ``field``, as ``format_type()`` prints it."""
    if field.is_relation:
        return "uuid"
    kind = field.get_internal_type()
    if kind == "DecimalField":
        return f"numeric({field.max_digits},{field.decimal_places})"
    if kind == "CharField":
        enum = POSTGRESQL_ENUMS.get((model._meta.db_table, field.column))
        if enum:
            return enum
        return f"character varying({field.max_length})" if field.max_length else "character varying"
    return POSTGRESQL_TYPES[kind]


def postgresql_column_types(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, pg_catalog.format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            [table],
        )
        return dict(cursor.fetchall())


def enum_labels(enum: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT enumlabel FROM pg_enum WHERE enumtypid = %s::regtype ORDER BY enumsortorder",
            [enum],
        )
        return [label for (label,) in cursor.fetchall()]


@pytest.mark.parametrize("model", RECYCLIC_MODELS, ids=lambda model: model._meta.db_table)
def test_each_field_matches_its_column(model):
    table = model._meta.db_table
    with connection.cursor() as cursor:
        columns = {
            info.name: info
            for info in connection.introspection.get_table_description(cursor, table)
        }
    fields = {field.column: field for field in model._meta.concrete_fields}
    # Every column is mapped and every field has its column: no more, no less.
    assert set(columns) == set(fields)
    types = postgresql_column_types(table) if connection.vendor == "postgresql" else {}
    for name, field in fields.items():
        column = columns[name]
        assert bool(column.null_ok) == field.null, f"{table}.{name} nullability"
        assert (column.default is not None) == field.has_db_default(), f"{table}.{name} default"
        if connection.vendor != "postgresql":
            assert column.type_code.lower() == field.db_type(connection).lower(), name
            continue
        assert types[name] == expected_postgresql_type(model, field), f"{table}.{name} type"
        if field.has_db_default():
            expected = "now()" if isinstance(field.db_default, Now) else str(field.db_default)
            assert column.default == expected.lower(), f"{table}.{name} default"
        if types[name] in POSTGRESQL_ENUMS.values():
            assert enum_labels(types[name]) == [value for value, _ in field.choices], name


@pytest.mark.parametrize("model", RECYCLIC_MODELS, ids=lambda model: model._meta.db_table)
def test_foreign_keys_unique_and_indexes_match_the_models(model):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    fields = model._meta.concrete_fields
    foreign_keys = {
        tuple(c["columns"]): c["foreign_key"] for c in constraints.values() if c["foreign_key"]
    }
    # No foreign key on users.site_id, cash_sessions.register_id nor sale_items.preset_id.
    assert foreign_keys == {
        (f.column,): (f.related_model._meta.db_table, "id")
        for f in fields
        if f.is_relation and f.db_constraint
    }
    unique = {
        tuple(c["columns"]) for c in constraints.values() if c["unique"] and not c["primary_key"]
    }
    assert unique == {(f.column,) for f in fields if f.unique and not f.primary_key}
    if connection.vendor != "postgresql":
        # Django's schema editor creates no index for an unmanaged model.
        return
    indexed = {
        tuple(c["columns"])
        for c in constraints.values()
        if c["index"] and not c["unique"] and not c["foreign_key"]
    }
    assert indexed == {(f.column,) for f in fields if f.db_index and not f.unique} | {
        tuple(model._meta.get_field(name).column for name in index.fields)
        for index in model._meta.indexes
    }


@postgresql_only
def test_only_the_documented_indexes_exist():
    tables = [model._meta.db_table for model in RECYCLIC_MODELS]
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s)", [tables])
        names = {name for (name,) in cursor.fetchall()}
    assert names == {f"{table}_pkey" for table in tables} | {
        "ix_users_username",
        "uq_users_email",
        "ix_users_telegram_id",
        "ix_categories_name",
        "ix_categories_parent_id",
        "idx_ligne_depot_is_exit",
    }


def test_rows_round_trip():
    site = make_site(city="Lyon")
    user = make_recyclic_user(site=site)
    poste = make_poste(paris("2026-03-09 09:00"), opened_by=user)
    make_ticket(poste, lines=["12.345", ("3.5", True)])
    sale = make_sale(
        created_at=paris("2026-03-10 11:00"),
        total_amount=75.0,
        donation=6.0,
        cash_session=make_cash_session(site=site),
        item_weights=[9.0, None],
    )

    assert Site.objects.get(pk=site.pk).city == "Lyon"
    assert RecyclicUser.objects.get(pk=user.pk).site_id == site.pk
    assert RecyclicUser.objects.get(pk=user.pk).role == UserRole.USER
    stored_poste = PosteReception.objects.get(pk=poste.pk)
    assert stored_poste.opened_at == datetime.fromisoformat("2026-03-09T08:00:00+00:00")
    assert stored_poste.status == "opened"
    lines = LigneDepot.objects.filter(ticket__poste=poste).order_by("poids_kg")
    assert [(line.poids_kg, line.is_exit, line.destination) for line in lines] == [
        (Decimal("3.500"), True, Destination.RECYCLAGE),
        (Decimal("12.345"), False, Destination.MAGASIN),
    ]
    category = Category.objects.get(pk=lines[0].category_id)
    # Recyclic's server defaults fill what the row did not give.
    assert (category.display_order, category.is_visible) == (0, True)
    assert category.created_at is not None
    stored_sale = Sale.objects.get(pk=sale.pk)
    assert (stored_sale.total_amount, stored_sale.donation) == (75.0, 6.0)
    assert stored_sale.created_at == paris("2026-03-10 11:00")
    assert stored_sale.cash_session.site_id == site.pk
    assert sorted(stored_sale.items.values_list("weight", flat=True), key=str) == [9.0, None]


@pytest.mark.parametrize(
    "configuration",
    [
        None,
        {"horaires": {"mercredi": "14h-18h"}, "balances": ["quai", "atelier"]},
        True,
        "123",
    ],
    ids=["null", "object", "scalar", "string-of-digits"],
)
def test_site_configuration_reads_back(configuration):
    """``sites.configuration`` is ``json`` on PostgreSQL, which psycopg decodes by itself."""
    site = make_site(configuration=configuration)
    assert Site.objects.get(pk=site.pk).configuration == configuration
    assert Site.objects.filter(pk=site.pk).values_list("configuration", flat=True).get() == (
        configuration
    )
