"""The admin dashboard's views: who may see it, what it shows, each state."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.db import OperationalError, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reception_stats.models import ReceptionStatus
from tests.recipes import make_poste, make_sale, make_site, make_ticket

pytestmark = pytest.mark.django_db

PAGE = reverse("admin:reception_stats_livestats_changelist")
FRAGMENT = reverse("admin:reception_stats_livestats_fragment")
RECYCLIC_TABLES = ("ticket_depot", "ligne_depot", "poste_reception", "sales", "sale_items", "sites")


@pytest.fixture
def recent_activity():
    now = timezone.now()
    poste = make_poste(now - timedelta(hours=1))
    make_ticket(poste, status=ReceptionStatus.OPENED, lines=["3.5", ("2", True)])
    make_ticket(
        poste, status=ReceptionStatus.CLOSED, closed_at=now - timedelta(minutes=5), lines=["10"]
    )
    make_sale(created_at=now - timedelta(minutes=3), total_amount=1247.5, item_weights=[1.5])


def test_staff_with_the_permission_sees_the_cards(client, manager, recent_activity):
    client.force_login(manager)
    response = client.get(PAGE)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Réception — statistiques en direct" in html
    assert "Tickets ouverts" in html
    assert "1\u00a0247,50\u00a0€" in html  # turnover, French formatting
    assert "13,5\u00a0kg" in html  # kilos received
    assert html.count('data-figure="') == 11
    assert html.count('class="rs-chart rs-hours') == 2  # kilos, turnover per hour
    assert 'aria-live="polite"' in html
    assert 'data-interval="30"' in html


def test_superuser_always_sees_it(admin_client):
    assert admin_client.get(PAGE).status_code == 200


def test_staff_without_the_permission_is_refused(client, staff_user):
    client.force_login(staff_user)
    assert client.get(PAGE).status_code == 403
    assert client.get(FRAGMENT).status_code == 403
    index = client.get(reverse("admin:index")).content.decode()
    assert "statistiques en direct" not in index


def test_non_staff_is_sent_to_the_admin_login(client, permitted_user):
    client.force_login(permitted_user)
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_anonymous_is_sent_to_the_admin_login(client):
    response = client.get(FRAGMENT)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_listed_on_the_admin_index(client, manager):
    client.force_login(manager)
    index = client.get(reverse("admin:index")).content.decode()
    assert "Réception — statistiques en direct" in index
    assert PAGE in index


def test_window_and_site_are_kept_in_the_url(client, manager):
    centre = make_site("Ressourcerie du Centre")
    make_site("Ressourcerie des Quais")
    client.force_login(manager)
    html = client.get(PAGE, {"window": "today", "site": str(centre.pk)}).content.decode()

    assert f'<option value="{centre.pk}" selected>Ressourcerie du Centre</option>' in html
    assert "Ressourcerie des Quais" in html
    assert 'value="today" checked' in html
    assert f"fragment/?window=today&amp;site={centre.pk}" in html


def test_fragment_serves_the_figures_alone(client, manager, recent_activity):
    client.force_login(manager)
    response = client.get(FRAGMENT, {"window": "today"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div class="rs-figures')
    assert "<html" not in html
    assert 'data-state="ok"' in html


def test_empty_database_shows_zeros(client, manager):
    client.force_login(manager)
    html = client.get(PAGE).content.decode()
    assert "0,00\u00a0€" in html
    assert "0,0\u00a0kg" in html
    assert "Rien n'a été reçu sur cette période." in html


def test_bad_input_and_unknown_site(client, manager):
    client.force_login(manager)
    bad = client.get(FRAGMENT, {"window": "week"})
    assert bad.status_code == 400
    assert "Période inconnue" in bad.content.decode()

    unknown = client.get(FRAGMENT, {"site": "6f1c1f4e-5d55-4a57-9f3e-3c1e2c0d9a10"})
    assert unknown.status_code == 404
    assert "Site inconnu" in unknown.content.decode()


def test_flag_off_shows_a_banner_and_no_cards(client, manager, settings, recent_activity):
    settings.LIVE_RECEPTION_STATS_ENABLED = False
    client.force_login(manager)
    with CaptureQueriesContext(connections["default"]) as queries:
        html = client.get(PAGE).content.decode()

    assert "LIVE_RECEPTION_STATS_ENABLED" in html
    assert 'data-figure="' not in html
    touched = [q["sql"] for q in queries if any(t in q["sql"] for t in RECYCLIC_TABLES)]
    assert touched == []


def test_database_down_without_earlier_figures(client, manager, unreachable_database):
    client.force_login(manager)
    response = client.get(FRAGMENT)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    html = response.content.decode()
    assert "temporairement indisponibles" in html
    assert "Traceback" not in html


def test_database_down_shows_the_last_figures_marked_stale(
    client, manager, recent_activity, settings
):
    client.force_login(manager)
    assert client.get(FRAGMENT).status_code == 200

    def refuse(execute, sql, params, many, context):
        # Recyclic's tables fail; Django's own (sessions, users) still answer.
        if any(table in sql for table in RECYCLIC_TABLES):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    settings.RECEPTION_STATS = {**settings.RECEPTION_STATS, "CACHE_TIMEOUT": 0}
    with connections["default"].execute_wrapper(refuse):
        response = client.get(FRAGMENT)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-state="stale"' in html
    assert "1\u00a0247,50\u00a0€" in html


@pytest.mark.parametrize("suffix", ["1/change/", "1/history/", "1/delete/", "add/", "1/"])
def test_there_is_nothing_to_add_change_or_delete(client, manager, suffix):
    """The dashboard has no rows: those pages do not exist, rather than fail."""
    client.force_login(manager)
    assert client.get(PAGE + suffix).status_code == 404


def test_the_question_mark_opens_what_the_figures_mean(client, manager):
    client.force_login(manager)
    page = client.get(PAGE).content.decode()
    assert 'href="/admin/reception_stats/livestats/figures/"' in page

    document = client.get("/admin/reception_stats/livestats/figures/")

    assert document.status_code == 200
    html = document.content.decode()
    assert "<h1>Que signifient ces chiffres ?</h1>" in html
    # docs/figures.fr.md, rendered: the page is French, so is what it opens.
    assert "<table>" in html and "tickets_closed_24h" in html
    assert "Exemple détaillé" in html and "Worked example" not in html


def test_the_figures_document_follows_the_pages_language():
    from reception_stats.admin import figures_document

    assert "Worked example" in figures_document("en")
    assert "Exemple détaillé" in figures_document("fr")
    assert "Exemple détaillé" in figures_document("fr-ca")


def test_the_french_figures_document_keeps_up_with_the_english_one():
    """The two say the same: same sections, same table rows, every field, column and setting
    of the English one named in the French one."""
    import re

    docs = Path(__file__).resolve().parent.parent / "docs"
    english = (docs / "figures.md").read_text(encoding="utf-8")
    french = (docs / "figures.fr.md").read_text(encoding="utf-8")

    def count(pattern: str, text: str) -> int:
        return len(re.findall(pattern, text, re.MULTILINE))

    assert count(r"^#+ ", french) == count(r"^#+ ", english)
    assert count(r"^\|", french) == count(r"^\|", english)
    names = re.compile(r"`([A-Za-z_][\w.\[\]\"=/{}:-]*)`")
    assert set(names.findall(english)) <= set(names.findall(french))


def test_what_the_figures_mean_needs_the_permission_too(client, staff_user):
    client.force_login(staff_user)
    assert client.get("/admin/reception_stats/livestats/figures/").status_code == 403


def test_the_server_s_address_leads_to_the_admin_and_no_link_leads_to_a_404(client, manager):
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    client.force_login(manager)
    page = client.get("/admin/reception_stats/livestats/").content.decode()
    assert 'href="/"' not in page  # no "Voir le site": the project has no site of its own


def test_the_browsers_favicon_request_is_no_404(client):
    assert client.get("/favicon.ico").status_code == 204


def test_a_missing_figures_document_is_said_never_a_500(tmp_path):
    """A checkout copied without docs/ leaves reception_stats/figures.md a dangling link."""
    from reception_stats.admin import figures_document

    (tmp_path / "figures.md").symlink_to(tmp_path / "docs" / "figures.md")

    assert "Il manque docs/figures.md" in figures_document("fr", tmp_path)
