"""``manage.py reception_stats``: the table, the JSON, and a one-line error for each bad input."""

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from reception_stats.management.commands.reception_stats import (
    EXIT_BAD_INPUT,
    EXIT_DATABASE,
    EXIT_UNKNOWN_SITE,
)
from tests.recipes import NOW, build_worked_example, make_site

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("reception_stats", *args, stdout=out)
    return out.getvalue()


def test_table_in_french_with_french_numbers():
    build_worked_example()
    table = run("--at", NOW.isoformat())

    assert "Tickets ouverts" in table
    assert "Chiffre d'affaires" in table
    lines = {
        line.split("  ")[1].strip(): line.rsplit("  ", 1)[1].strip()
        for line in table.splitlines()[2:]
    }
    assert lines["Tickets ouverts"] == "1"
    assert lines["Chiffre d'affaires"] == "75,00\u00a0€"
    assert lines["Kilos reçus"] == "19,500\u00a0kg"
    assert lines["Kilos sortis"] == "15,000\u00a0kg"
    assert "09/03/2026 15:00" in table.splitlines()[0]


def test_thousands_are_grouped():
    from tests.recipes import make_sale, paris

    make_sale(created_at=paris("2026-03-10 10:00"), total_amount=1247.5)
    table = run("--at", NOW.isoformat())
    assert "1\u00a0247,50\u00a0€" in table


def test_json_has_the_field_names_of_the_semantics():
    build_worked_example()
    data = json.loads(run("--format", "json", "--window", "today", "--at", NOW.isoformat()))

    assert data["tickets_closed_24h"] == 1
    assert data["weight_in"] == 17.5
    assert data["turnover_eur"] == 75.0
    assert data["window"] == "today"
    assert data["period_start"] == "2026-03-10T00:00:00+01:00"
    assert data["enabled"] is True
    assert set(data) >= {
        "tickets_open",
        "tickets_closed_24h",
        "items_received",
        "weight_in",
        "weight_out_exits",
        "sales_count",
        "turnover_eur",
        "donations_eur",
        "last_sale_amount",
        "weight_out_sales",
        "weight_out",
        "window",
        "period_start",
        "period_end",
        "timezone",
        "site",
        "generated_at",
        "enabled",
    }


def test_naive_at_is_read_in_the_configured_time_zone():
    data = json.loads(run("--format", "json", "--at", "2026-03-10T15:00:00"))
    assert data["period_end"] == "2026-03-10T15:00:00+01:00"


def test_site_option():
    site = make_site()
    data = json.loads(run("--format", "json", "--site", str(site.pk)))
    assert data["site"] == str(site.pk)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "week"], "window"),
        (["--site", "not-a-uuid"], "UUID"),
        (["--at", "yesterday"], "ISO 8601"),
        (["--at", "2999-01-01T00:00:00+01:00"], "futur"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args, message):
    with pytest.raises(CommandError) as error:
        run(*args)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
    assert error.value.returncode == EXIT_BAD_INPUT


def test_unknown_site():
    with pytest.raises(CommandError) as error:
        run("--site", "6f1c1f4e-5d55-4a57-9f3e-3c1e2c0d9a10")
    assert "6f1c1f4e-5d55-4a57-9f3e-3c1e2c0d9a10" in str(error.value)
    assert error.value.returncode == EXIT_UNKNOWN_SITE


def test_flag_off(settings):
    settings.LIVE_RECEPTION_STATS_ENABLED = False
    assert "LIVE_RECEPTION_STATS_ENABLED" in run()
    assert json.loads(run("--format", "json"))["enabled"] is False


def test_unreachable_database_says_so_with_the_host(unreachable_database):
    with pytest.raises(CommandError) as error:
        run()
    message = str(error.value)
    assert "127.0.0.1:1" in message
    assert "\n" not in message
    assert error.value.returncode == EXIT_DATABASE


def test_display_rounds_half_up_rather_than_cutting():
    from decimal import Decimal

    from reception_stats.formatting import format_figure

    assert format_figure("weight", Decimal("1250.750"), weight_decimals=1) == "1\u00a0250,8\u00a0kg"
    assert format_figure("weight", Decimal("0.049"), weight_decimals=1) == "0,0\u00a0kg"
    assert format_figure("money", Decimal("2.5")) == "2,50\u00a0€"


def test_list_sites_gives_each_uuid_and_name():
    first, second = make_site("Ressourcerie du Port"), make_site("Atelier Vélo")
    lines = run("--list-sites").splitlines()
    assert lines == [f"{second.pk}  Atelier Vélo", f"{first.pk}  Ressourcerie du Port"]


def test_list_sites_writes_control_characters_out():
    """A name typed in Recyclic can hold anything: it never clears the terminal or fakes a line."""
    site = make_site("Atelier\x1b[2J\r\nfaux-site  Ressourcerie fausse ♻")
    assert run("--list-sites").splitlines() == [
        f"{site.pk}  Atelier\\x1b[2J\\r\\nfaux-site  Ressourcerie fausse ♻"
    ]


def test_an_unknown_site_points_to_the_list():
    with pytest.raises(CommandError, match="--list-sites") as raised:
        run("--site", "6f1c1f4e-5d55-4a57-9f3e-3c1e2c0d9a10")
    assert raised.value.returncode == EXIT_UNKNOWN_SITE


def test_version_is_the_app_s(capsys):
    from reception_stats import __version__

    with pytest.raises(SystemExit):
        call_command("reception_stats", "--version")
    assert capsys.readouterr().out.strip() == __version__


def test_help_is_in_the_projects_language_and_points_inside_the_repository(capsys):
    with pytest.raises(SystemExit):
        call_command("reception_stats", "--help")
    text = " ".join(capsys.readouterr().out.split())

    assert "Affiche les chiffres en direct" in text
    assert "Liste les sites (UUID et nom)" in text
    for document in re.findall(r"docs/[\w.]+\.md", text):
        assert (Path(__file__).resolve().parent.parent / document).is_file(), document
