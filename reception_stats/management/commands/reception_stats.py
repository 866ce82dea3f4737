"""``manage.py reception_stats``: the live KPIs in a terminal, as a table or as JSON.

It calls the service itself, not the cache of the screens: an operator asking from a terminal
gets figures computed now, and a database failure as an exit code, never stale figures. Its
database waits are bounded like every door's: a server frozen before the command connects ends
in exit code 4 after ``connect_timeout``, one frozen during the query in 5, never a hang.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from reception_stats import __version__
from reception_stats.conf import app_settings
from reception_stats.db import (
    DatabaseUnresponsive,
    bounded,
    database_location,
    lock_timeout_ms,
    query_seconds,
    read_only,
    statement_timeout_ms,
    timeout_kind,
)
from reception_stats.formatting import FIGURES, format_figure
from reception_stats.forms import LiveStatsQueryForm
from reception_stats.kpis import WINDOWS, SiteNotFound, compute_live_stats
from reception_stats.metrics import DISABLED, observe
from reception_stats.models import Site

EXIT_BAD_INPUT = 2
EXIT_UNKNOWN_SITE = 3
EXIT_DATABASE = 4
EXIT_TIMEOUT = 5


class Command(BaseCommand):
    help = gettext_noop(
        "Print the live reception and till figures. What each figure means: docs/figures.md "
        "in the project's repository."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # argparse wants plain strings: translated here, in the project's language.
        self.help = _(type(self).help)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument(
            "--window",
            default="24h",
            help=_("One of %(windows)s.") % {"windows": ", ".join(WINDOWS)},
        )
        parser.add_argument("--site", help=_("A site UUID (sites.id); all sites when absent."))
        parser.add_argument("--at", help=_("ISO 8601 moment to compute for (default: now)."))
        parser.add_argument(
            "--format",
            choices=["table", "json"],
            default="table",
            help=_("A table in French, or JSON with the field names of the API."),
        )
        parser.add_argument(
            "--list-sites",
            action="store_true",
            help=_("List the sites (UUID and name) and stop."),
        )

    def get_version(self) -> str:
        return __version__

    def handle(self, *args, **options):
        if options["list_sites"]:
            with _database_errors(), bounded(), read_only(app_settings.DATABASE):
                sites = Site.objects.using(app_settings.DATABASE).order_by("name")
                rows = list(sites.values_list("pk", "name"))
            self.stdout.write("\n".join(f"{pk}  {_printable(name)}" for pk, name in rows))
            return
        form = LiveStatsQueryForm(
            {"window": options["window"], "site": options["site"], "at": options["at"]}
        )
        if not form.is_valid():
            raise CommandError(form.error_summary(), returncode=EXIT_BAD_INPUT)
        query = form.cleaned_data
        try:
            with (
                _database_errors(),
                bounded(),
                observe("command", query["window"], query["site"]) as observation,
            ):
                stats = compute_live_stats(query["window"], query["site"], query["at"])
                if not stats.enabled:
                    observation.outcome = DISABLED
                observation.bad_values = stats.bad_values
        except SiteNotFound as error:
            raise CommandError(
                _("Unknown site %(site)s; --list-sites lists them.") % {"site": error.site},
                returncode=EXIT_UNKNOWN_SITE,
            ) from None

        if options["format"] == "json":
            self.stdout.write(json.dumps(stats.as_json(), ensure_ascii=False, indent=2))
            return
        self.stdout.write(self._table(stats))

    def _table(self, stats) -> str:
        if stats.enabled:
            title = _("Live figures, %(start)s to %(end)s (%(tz)s)") % {
                "start": date_format(stats.period_start, "SHORT_DATETIME_FORMAT"),
                "end": date_format(stats.period_end, "SHORT_DATETIME_FORMAT"),
                "tz": stats.timezone,
            }
        else:
            title = _("Live statistics are turned off (LIVE_RECEPTION_STATS_ENABLED=false).")
        rows = [
            (str(figure.label), format_figure(figure.kind, getattr(stats, figure.name)))
            for figure in FIGURES
        ]
        width = max(len(label) for label, _value in rows)
        lines = [title, ""]
        lines += [f"  {label:<{width}}  {value:>16}" for label, value in rows]
        if stats.bad_values:
            columns = ", ".join(f"{name} ({count})" for name, count in stats.bad_values.items())
            lines += [
                "",
                _(
                    "Left out, as NaN, infinite or of magnitude 1e9 or more: %(columns)s. "
                    "Mend them in Recyclic."
                )
                % {"columns": columns},
            ]
        return "\n".join(lines)


def _printable(text: str) -> str:
    """``text`` with its control characters written out (``\\x1b``, ``\\n``): a name typed in
    Recyclic must not move the cursor, clear the terminal or fake a line of its own."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


@contextmanager
def _database_errors() -> Iterator[None]:
    """A database failure as one line and its exit code: 5 for a time limit, 4 otherwise."""
    try:
        yield
    except DatabaseError as error:
        if isinstance(error, DatabaseUnresponsive):
            raise CommandError(_unresponsive_message(), returncode=EXIT_TIMEOUT) from None
        if kind := timeout_kind(error):
            raise CommandError(_timeout_message(kind), returncode=EXIT_TIMEOUT) from None
        raise CommandError(_database_message(error), returncode=EXIT_DATABASE) from None


def _timeout_message(kind: str) -> str:
    if kind == "lock":
        return _(
            "The query waited more than %(ms)d ms for a lock on Recyclic's tables and was "
            "cancelled (RECEPTION_STATS_LOCK_TIMEOUT_MS); try again in a moment."
        ) % {"ms": lock_timeout_ms()}
    return _(
        "The query took longer than %(ms)d ms and was cancelled "
        "(RECEPTION_STATS_STATEMENT_TIMEOUT_MS); `manage.py reception_stats_indexes --check` "
        "tells whether the advised indexes are missing."
    ) % {"ms": statement_timeout_ms()}


def _unresponsive_message() -> str:
    return _(
        "The database on %(where)s did not answer within %(seconds).1f s and the connection was "
        "cut (a frozen server or network); try again in a moment."
    ) % {
        "where": database_location(connections[app_settings.DATABASE]),
        "seconds": query_seconds(),
    }


def _database_message(error: DatabaseError) -> str:
    connection = connections[app_settings.DATABASE]
    where = database_location(connection)
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if connection.connection is not None:
        # Connected, yet the query failed: most often tables that are not Recyclic's.
        return _(
            "The query failed on %(where)s: %(error)s. "
            "`manage.py check --database %(alias)s` compares the tables with Recyclic's schema."
        ) % {"where": where, "error": first_line, "alias": app_settings.DATABASE}
    return _("Database unavailable (%(where)s): %(error)s") % {"where": where, "error": first_line}
