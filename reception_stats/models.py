"""Recyclic's tables, mapped read-only (``managed = False``).

Recyclic's own backend creates and migrates these tables; this app only reads them, and the
models refuse to write them (:class:`RecyclicModel`) outside the demo loader and the tests.
Each class follows Recyclic's schema (``sql/recyclic_schema.sql`` restates it) column for
column: UUID keys without a default, ``numeric`` as ``DecimalField``, ``double precision`` as
``FloatField``, PostgreSQL enums as ``TextChoices``.
Foreign keys carry ``db_index=False`` because Recyclic indexes none of them, so that the tables
the tests build from these models look like the real ones.
"""

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from .db import refuse_write


def _fk(to, column: str, *, null: bool = False, related_name: str = "+", constraint: bool = True):
    """A foreign key as Recyclic declares it: no cascade, no index of ours."""
    return models.ForeignKey(
        to,
        on_delete=models.DO_NOTHING,
        db_column=column,
        db_constraint=constraint,
        db_index=False,
        null=null,
        related_name=related_name,
    )


class Destination(models.TextChoices):
    """PostgreSQL enum ``destinationenum``."""

    MAGASIN = "MAGASIN", _("shop")
    RECYCLAGE = "RECYCLAGE", _("recycling")
    DECHETERIE = "DECHETERIE", _("waste centre")


class CashSessionStatus(models.TextChoices):
    """PostgreSQL enum ``cashsessionstatus`` (upper case, unlike the reception statuses)."""

    OPEN = "OPEN", _("open")
    CLOSED = "CLOSED", _("closed")


class CashSessionStep(models.TextChoices):
    """PostgreSQL enum ``cashsessionstep``."""

    ENTRY = "ENTRY", _("entry")
    SALE = "SALE", _("sale")
    EXIT = "EXIT", _("exit")


class UserRole(models.TextChoices):
    """PostgreSQL enum ``userrole``."""

    SUPER_ADMIN = "super-admin", _("super admin")
    ADMIN = "admin", _("admin")
    USER = "user", _("user")


class UserStatus(models.TextChoices):
    """PostgreSQL enum ``userstatus``."""

    PENDING = "pending", _("pending")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")
    ACTIVE = "active", _("active")


class ReceptionStatus(models.TextChoices):
    """``varchar(16)`` values of ``poste_reception.status`` and ``ticket_depot.status``."""

    OPENED = "opened", _("opened")
    CLOSED = "closed", _("closed")


class PaymentMethod(models.TextChoices):
    """``sales.payment_method``; older rows may hold these in lower case."""

    CASH = "CASH", _("cash")
    CARD = "CARD", _("card")
    CHECK = "CHECK", _("cheque")
    FREE = "FREE", _("free")


class EnumField(models.CharField):
    """A column of a PostgreSQL enum type (``userrole``, ``destinationenum``…); text elsewhere.

    Naming the type matters when Django casts values itself: its bulk inserts on PostgreSQL go
    through ``UNNEST(%s::<db_type>[])``, and PostgreSQL has no cast from varchar to an enum.
    """

    def __init__(self, *args, enum_type: str, **kwargs) -> None:
        self.enum_type = enum_type
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        return name, path, args, {**kwargs, "enum_type": self.enum_type}

    def db_type(self, connection) -> str | None:
        if connection.vendor == "postgresql":
            return self.enum_type
        return super().db_type(connection)


class JSONColumn(models.JSONField):
    """A ``json`` column, such as ``sites.configuration`` (Recyclic uses ``json``, not ``jsonb``).

    Django has psycopg hand ``jsonb`` over as text and decodes it itself, but psycopg decodes
    ``json`` on its own: decoding again raises TypeError, or turns the JSON string "123" into 123.
    Selecting the column as text on PostgreSQL gives Django what it expects.
    """

    def select_format(self, compiler, sql, params):
        sql, params = super().select_format(compiler, sql, params)
        if compiler.connection.vendor == "postgresql":
            return f"({sql})::text", params
        return sql, params


class RecyclicQuerySet(models.QuerySet):
    """Reads as usual; every bulk write is refused (see :mod:`reception_stats.db`)."""

    def bulk_create(self, *args, **kwargs):
        refuse_write(self.model, "bulk_create")
        return super().bulk_create(*args, **kwargs)

    bulk_create.alters_data = True

    def bulk_update(self, *args, **kwargs):
        refuse_write(self.model, "bulk_update")
        return super().bulk_update(*args, **kwargs)

    bulk_update.alters_data = True

    def update(self, *args, **kwargs):
        refuse_write(self.model, "update")
        return super().update(*args, **kwargs)

    update.alters_data = True

    def delete(self):
        refuse_write(self.model, "delete")
        return super().delete()

    delete.alters_data = True
    delete.queryset_only = True


class RecyclicModel(models.Model):
    """A row of one of Recyclic's tables: this app reads it and never writes it.

    Every save (``save()``, ``create``, ``get_or_create``, ``update_or_create``, and fixtures,
    which go past ``save()``) is stopped by :func:`refuse_raw_save`, a ``pre_save`` receiver the
    app connects; ``delete()`` and the queryset's bulk writes raise here. All of them raise
    :class:`~reception_stats.db.RecyclicReadOnlyError` outside
    :func:`~reception_stats.db.allow_recyclic_writes`. The base manager is the same guarded one,
    so that related managers (``ticket.lignes.add()``…) cannot write behind its back.
    """

    objects = RecyclicQuerySet.as_manager()

    class Meta:
        abstract = True
        base_manager_name = "objects"

    def delete(self, *args, **kwargs):
        refuse_write(type(self), "delete")
        return super().delete(*args, **kwargs)


class Site(RecyclicModel):
    """A ressourcerie site (``sites``)."""

    id = models.UUIDField(primary_key=True)
    name = models.CharField(_("name"))
    address = models.CharField(null=True, blank=True)
    city = models.CharField(null=True, blank=True)
    postal_code = models.CharField(null=True, blank=True)
    country = models.CharField(null=True, blank=True)
    configuration = JSONColumn(null=True, blank=True)
    is_active = models.BooleanField()
    created_at = models.DateTimeField(null=True, db_default=Now())
    updated_at = models.DateTimeField(null=True, db_default=Now())

    class Meta:
        managed = False
        db_table = "sites"
        ordering = ["name"]
        verbose_name = _("site")
        verbose_name_plural = _("sites")

    def __str__(self) -> str:
        return self.name


class RecyclicUser(RecyclicModel):
    """A person in Recyclic's own ``users`` table: not a Django ``auth_user``.

    Nobody logs into this project with these rows; they tell which site a poste belongs to.
    ``site_id`` has no foreign key in the database, hence ``db_constraint=False``.
    """

    id = models.UUIDField(primary_key=True)
    username = models.CharField(unique=True)
    email = models.CharField(null=True, blank=True, unique=True)
    hashed_password = models.CharField()
    hashed_pin = models.CharField(null=True, blank=True)
    telegram_id = models.CharField(null=True, blank=True, db_index=True)
    first_name = models.CharField(null=True, blank=True)
    last_name = models.CharField(null=True, blank=True)
    phone_number = models.CharField(null=True, blank=True)
    address = models.CharField(null=True, blank=True)
    notes = models.TextField(null=True, blank=True)
    skills = models.TextField(null=True, blank=True)
    availability = models.TextField(null=True, blank=True)
    role = EnumField(choices=UserRole.choices, enum_type="userrole")
    status = EnumField(choices=UserStatus.choices, enum_type="userstatus")
    is_active = models.BooleanField()
    site = _fk(Site, "site_id", null=True, related_name="users", constraint=False)
    created_at = models.DateTimeField(null=True, db_default=Now())
    updated_at = models.DateTimeField(null=True, db_default=Now())

    class Meta:
        managed = False
        db_table = "users"
        verbose_name = _("Recyclic user")
        verbose_name_plural = _("Recyclic users")

    def __str__(self) -> str:
        return self.username


class Category(RecyclicModel):
    """A category of goods (``categories``); ``parent`` makes sub-categories."""

    id = models.UUIDField(primary_key=True)
    name = models.CharField(_("name"), unique=True)
    official_name = models.CharField(max_length=255, null=True, blank=True)
    is_active = models.BooleanField()
    parent = models.ForeignKey(
        "self",
        on_delete=models.DO_NOTHING,
        db_column="parent_id",
        null=True,
        blank=True,
        related_name="children",
    )
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    max_price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    display_order = models.IntegerField(db_default=0)
    display_order_entry = models.IntegerField(db_default=0)
    is_visible = models.BooleanField(db_default=True)
    shortcut_key = models.CharField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, db_default=Now())
    updated_at = models.DateTimeField(null=True, db_default=Now())
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        managed = False
        db_table = "categories"
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self) -> str:
        return self.name


class PosteReception(RecyclicModel):
    """A reception desk session (``poste_reception``).

    A poste has no site of its own: its site is that of the user who opened it. For a deferred
    poste (a paper notebook typed in later) ``opened_at`` is the notebook's date, in the past.
    """

    id = models.UUIDField(primary_key=True)
    opened_by = _fk(RecyclicUser, "opened_by_user_id", related_name="postes_opened")
    opened_at = models.DateTimeField(db_default=Now())
    closed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ReceptionStatus.choices)

    class Meta:
        managed = False
        db_table = "poste_reception"
        verbose_name = _("reception desk session")
        verbose_name_plural = _("reception desk sessions")


class TicketDepot(RecyclicModel):
    """A reception ticket, one donor's drop-off (``ticket_depot``).

    ``created_at`` holds the poste's opening time, not the ticket's: never use it.
    """

    id = models.UUIDField(primary_key=True)
    poste = _fk(PosteReception, "poste_id", related_name="tickets")
    benevole = _fk(RecyclicUser, "benevole_user_id")
    created_at = models.DateTimeField(db_default=Now())
    closed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ReceptionStatus.choices)

    class Meta:
        managed = False
        db_table = "ticket_depot"
        verbose_name = _("reception ticket")
        verbose_name_plural = _("reception tickets")


class LigneDepot(RecyclicModel):
    """One weighed line of a reception ticket (``ligne_depot``).

    ``is_exit`` marks a stock exit recorded at reception (recycling or waste centre).
    """

    id = models.UUIDField(primary_key=True)
    ticket = _fk(TicketDepot, "ticket_id", related_name="lignes")
    category = _fk(Category, "category_id")
    poids_kg = models.DecimalField(max_digits=8, decimal_places=3)
    destination = EnumField(choices=Destination.choices, enum_type="destinationenum")
    notes = models.CharField(null=True, blank=True)
    is_exit = models.BooleanField(db_default=False)

    class Meta:
        managed = False
        db_table = "ligne_depot"
        indexes = [models.Index(fields=["is_exit"], name="idx_ligne_depot_is_exit")]
        verbose_name = _("reception ticket line")
        verbose_name_plural = _("reception ticket lines")


class CashSession(RecyclicModel):
    """A till session (``cash_sessions``); its ``site`` is the site of its sales."""

    id = models.UUIDField(primary_key=True)
    operator = _fk(RecyclicUser, "operator_id")
    site = _fk(Site, "site_id", related_name="cash_sessions")
    # cash_registers is not mapped: the column is kept as a plain value.
    register_id = models.UUIDField(null=True, blank=True)
    initial_amount = models.FloatField()
    current_amount = models.FloatField()
    status = EnumField(choices=CashSessionStatus.choices, enum_type="cashsessionstatus")
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    total_sales = models.FloatField(null=True, blank=True)
    total_items = models.IntegerField(null=True, blank=True)
    closing_amount = models.FloatField(null=True, blank=True)
    actual_amount = models.FloatField(null=True, blank=True)
    variance = models.FloatField(null=True, blank=True)
    variance_comment = models.CharField(null=True, blank=True)
    current_step = EnumField(
        choices=CashSessionStep.choices, enum_type="cashsessionstep", null=True, blank=True
    )
    last_activity = models.DateTimeField(null=True, blank=True)
    step_start_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        managed = False
        db_table = "cash_sessions"
        verbose_name = _("till session")
        verbose_name_plural = _("till sessions")


class Sale(RecyclicModel):
    """One till ticket (``sales``).

    Its business time is ``COALESCE(sale_date, created_at)``: ``sale_date`` is the notebook's date
    for a deferred entry. ``total_amount`` excludes the donation.
    """

    id = models.UUIDField(primary_key=True)
    cash_session = _fk(CashSession, "cash_session_id", related_name="sales")
    operator = _fk(RecyclicUser, "operator_id", null=True)
    total_amount = models.FloatField()
    donation = models.FloatField(null=True, blank=True)
    payment_method = models.CharField(
        max_length=5, choices=PaymentMethod.choices, null=True, blank=True
    )
    note = models.TextField(null=True, blank=True)
    sale_date = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, db_default=Now())
    updated_at = models.DateTimeField(null=True, db_default=Now())

    class Meta:
        managed = False
        db_table = "sales"
        verbose_name = _("sale")
        verbose_name_plural = _("sales")


class SaleItem(RecyclicModel):
    """One line of a till ticket (``sale_items``); ``weight`` is for the whole line."""

    id = models.UUIDField(primary_key=True)
    sale = _fk(Sale, "sale_id", related_name="items")
    category = models.CharField(max_length=50)
    quantity = models.IntegerField()
    weight = models.FloatField(null=True, blank=True)
    unit_price = models.FloatField()
    total_price = models.FloatField()
    notes = models.TextField(null=True, blank=True)
    # preset_buttons is not mapped: the column is kept as a plain value.
    preset_id = models.UUIDField(null=True, blank=True)

    class Meta:
        managed = False
        db_table = "sale_items"
        verbose_name = _("sale item")
        verbose_name_plural = _("sale items")


class LiveStats(models.Model):
    """No table: carries the ``view_live_stats`` permission and the admin page's entry.

    Granting ``reception_stats.view_live_stats`` to a group (say "Réception") lets its members
    read the figures without being staff.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_live_stats", _("Can view the live reception statistics"))]
        verbose_name = _("live reception statistics")
        verbose_name_plural = _("live reception statistics")


class RecyclicAccount(models.Model):
    """A Django user who signs in with a Recyclic account (Django's own table, never Recyclic's).

    Created at the first sign-in (:class:`~reception_stats.backends.RecyclicBackend`); the
    Recyclic row behind it is checked again at most every ``ACCOUNT_CHECK_SECONDS``.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="recyclic_account",
        verbose_name=_("user"),
    )
    recyclic_user_id = models.UUIDField(_("Recyclic user id"), unique=True)
    recyclic_username = models.CharField(_("Recyclic user name"), max_length=255)
    linked_at = models.DateTimeField(_("first signed in"), auto_now_add=True)

    class Meta:
        verbose_name = _("Recyclic account")
        verbose_name_plural = _("Recyclic accounts")

    def __str__(self) -> str:
        return self.recyclic_username


class Screen(models.Model):
    """A wall screen by the reception desk (a TV, a tablet), paired rather than logged in.

    A staff member creates it in the admin, which shows a one-time pairing code; the screen
    opens ``/ecran/``, types the code, and keeps a long-lived cookie that opens that page and
    nothing else. Only hashes of the code and of the screen's secret are kept. Revoked, the
    screen loses the page at its next refresh.
    """

    name = models.CharField(_("name"), max_length=100)
    site = models.UUIDField(
        _("site"),
        null=True,
        blank=True,
        help_text=_("The site whose figures it shows; all sites when empty."),
    )
    code_hash = models.CharField(max_length=64, blank=True, editable=False)
    code_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    token_hash = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    paired_at = models.DateTimeField(_("paired"), null=True, blank=True, editable=False)
    last_seen_at = models.DateTimeField(_("last visit"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("wall screen")
        verbose_name_plural = _("wall screens")

    def __str__(self) -> str:
        return self.name


def refuse_raw_save(sender: type, **kwargs) -> None:
    """``pre_save`` receiver of the mapped models: every save, ``loaddata``'s included."""
    refuse_write(sender, "save")


RECYCLIC_MODELS = (
    Site,
    RecyclicUser,
    Category,
    PosteReception,
    TicketDepot,
    LigneDepot,
    CashSession,
    Sale,
    SaleItem,
)
