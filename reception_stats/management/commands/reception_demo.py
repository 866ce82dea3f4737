"""``manage.py reception_demo``: fill an empty database with a demo history, or a demo login."""

from importlib.util import find_spec

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections
from django.utils.translation import gettext as _

from reception_stats.conf import app_settings
from reception_stats.demo import (
    DEFAULT_SEED,
    DEMO_ADMIN_URL,
    DemoError,
    generate_demo_data,
    recyclic_token,
    reset_demo_recyclic_login,
    reset_demo_staff_user,
    unlock_sign_in,
    write_demo_data,
)
from reception_stats.schema import create_recyclic_tables, tables_with_rows


class Command(BaseCommand):
    help = (
        "Create Recyclic's tables if missing and fill them with a synthetic ressourcerie history "
        "ending now; never writes into tables that hold rows. With --staff-login, create a staff "
        "login for the admin instead; with --recyclic-login, give a Recyclic admin of the demo "
        "a new password (and a token, when RECYCLIC_SECRET_KEY is set)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--database",
            default=app_settings.DATABASE,
            help="Alias of the database holding Recyclic's tables.",
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="Seed of the data.")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="When the tables already hold rows, keep them and succeed instead of failing.",
        )
        login = parser.add_mutually_exclusive_group()
        login.add_argument(
            "--staff-login",
            action="store_true",
            help="Create or reset a staff user allowed to see the figures; Recyclic's tables "
            "are left alone.",
        )
        login.add_argument(
            "--recyclic-login",
            action="store_true",
            help="Give a Recyclic admin of the demo history a new password to sign in with "
            "(demo rows only), and print a token signed like Recyclic's when "
            "RECYCLIC_SECRET_KEY is set.",
        )
        parser.add_argument(
            "--username",
            help="User name for --staff-login (default demo) or --recyclic-login (default: the "
            "demo's first Recyclic admin).",
        )
        parser.add_argument(
            "--address",
            default=DEMO_ADMIN_URL,
            help="Where the admin is served, shown with --staff-login.",
        )

    def handle(self, *args, **options):
        try:
            if options["staff_login"]:
                self.staff_login(options["username"] or "demo", options["address"])
            elif options["recyclic_login"]:
                if options["if_empty"]:  # the history first, then a login into it
                    self.fill(options["database"], options["seed"], if_empty=True)
                self.recyclic_login(options["database"], options["username"], options["address"])
            else:
                self.fill(options["database"], options["seed"], options["if_empty"])
        except DemoError as error:
            raise CommandError(str(error)) from None
        except (DatabaseError, OSError) as error:
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise CommandError(_("Demo not written: %(error)s") % {"error": first_line}) from None

    def fill(self, using: str, seed: int, if_empty: bool) -> None:
        if using not in connections:
            raise CommandError(_("Unknown database alias %(alias)s.") % {"alias": using})
        filled = tables_with_rows(using)
        if filled:
            names = {"tables": ", ".join(filled), "database": using}
            if if_empty:
                kept = _(
                    "Recyclic tables already hold rows (%(tables)s) on database %(database)s: "
                    "existing data kept."
                )
                self.stdout.write(kept % names)
                return
            refused = _(
                "Nothing written: Recyclic tables already hold rows (%(tables)s) on "
                "database %(database)s. Use an empty database, or --if-empty to keep "
                "them."
            )
            raise CommandError(refused % names)
        create_recyclic_tables(using)
        data = generate_demo_data(seed)
        write_demo_data(data, using)
        summary = _(
            "Demo history written on database %(database)s: %(sites)d sites, "
            "%(users)d Recyclic users, %(categories)d categories, %(postes)d reception "
            "desk sessions, %(tickets)d tickets with %(lines)d lines, %(sessions)d till "
            "sessions, %(sales)d sales with %(items)d items."
        )
        counts = {
            "database": using,
            "sites": len(data.sites),
            "users": len(data.users),
            "categories": len(data.categories),
            "postes": len(data.postes),
            "tickets": len(data.tickets),
            "lines": len(data.lines),
            "sessions": len(data.cash_sessions),
            "sales": len(data.sales),
            "items": len(data.sale_items),
        }
        self.stdout.write(self.style.SUCCESS(summary % counts))

    def staff_login(self, username: str, address: str) -> None:
        password = reset_demo_staff_user(username)
        unlock_sign_in(username)
        self.stdout.write(_("Staff login for the demo, shown only this once:"))
        self.stdout.write(_("  Address: %(url)s") % {"url": address})
        self.stdout.write(_("  Username: %(username)s") % {"username": username})
        self.stdout.write(_("  Password: %(password)s") % {"password": password})
        self.stdout.write(_("Run the command again to get a new password."))

    def recyclic_login(self, using: str, username: str | None, address: str) -> None:
        user, password = reset_demo_recyclic_login(using, username)
        unlock_sign_in(user.username)
        self.stdout.write(_("Recyclic admin login for the demo, shown only this once:"))
        self.stdout.write(_("  Address: %(url)s") % {"url": address})
        self.stdout.write(_("  Username: %(username)s") % {"username": user.username})
        self.stdout.write(_("  Password: %(password)s") % {"password": password})
        self.stdout.write(_("  Recyclic user id (a token's sub): %(id)s") % {"id": user.pk})
        secret = app_settings.RECYCLIC_SECRET_KEY
        if secret and find_spec("jwt"):
            token = recyclic_token(user, secret)
            self.stdout.write(_("  Token, as Recyclic would give it (8 hours):"))
            self.stdout.write(f"    {token}")
            api = address.split("/admin/")[0] + "/api/v1/stats/live?period_type=daily"
            self.stdout.write(f'  curl -H "Authorization: Bearer {token}" "{api}"')
