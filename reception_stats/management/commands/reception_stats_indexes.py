"""``manage.py reception_stats_indexes``: list, check or create the advised indexes.

Without an option it prints the ``CREATE INDEX CONCURRENTLY`` statements, ready for ``psql``.
``--check`` exits 1 when any is missing; ``--apply`` creates the missing ones, on request only.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections
from django.utils.translation import gettext as _

from reception_stats.conf import app_settings
from reception_stats.indexes import (
    RECOMMENDED_INDEXES,
    create_missing_indexes,
    index_states,
    is_postgresql,
)

EXIT_MISSING = 1


class Command(BaseCommand):
    help = "List, check (--check) or create (--apply) the indexes the live figures need."

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--check", action="store_true", help="Exit 1 if any is missing.")
        action.add_argument("--apply", action="store_true", help="Create the missing ones.")
        parser.add_argument("--database", help="Database alias (default: RECEPTION_STATS).")

    def handle(self, *args, **options):
        using = options["database"] or app_settings.DATABASE
        if using not in connections:
            raise CommandError(_("Unknown database alias %(alias)s.") % {"alias": using})
        if not is_postgresql(using):
            self.stderr.write(_("Indexes are advised for PostgreSQL only: nothing to do here."))
            if not (options["check"] or options["apply"]):
                self._list()
            return
        if not (options["check"] or options["apply"]):
            self._list()
            return
        if options["apply"] and connections[using].in_atomic_block:
            raise CommandError(_("CREATE INDEX CONCURRENTLY cannot run inside a transaction."))
        try:
            states = index_states(using)
            if options["apply"]:
                for index in create_missing_indexes(using, states):
                    self.stdout.write(_("Created %(name)s.") % {"name": index.name})
                states = index_states(using)
        except DatabaseError as error:
            # A read replica refuses CREATE INDEX: indexes are built on the primary.
            raise CommandError(f"{type(error).__name__}: {error}".strip()) from None
        for state in states:
            if state.missing:
                status = _("missing (invalid, rebuild it)") if state.invalid else _("missing")
            else:
                status = _("present as %(name)s") % {"name": state.present_as}
            self.stdout.write(f"{state.index.name}: {status}")
        missing = [state for state in states if state.missing]
        if missing:
            raise CommandError(
                _("%(count)d advised index(es) missing on %(alias)s.")
                % {"count": len(missing), "alias": using},
                returncode=EXIT_MISSING,
            )

    def _list(self):
        for index in RECOMMENDED_INDEXES:
            self.stdout.write(f"-- {index.reason}\n{index.create_sql()}")
