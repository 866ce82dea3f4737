"""Wall screens: pairing with a one-time code, a cookie that opens the screen page and nothing
else, revocation at the next refresh, and the desk's figures (today, the screen's site)."""

from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.utils import timezone

from reception_stats import screens
from reception_stats.models import Screen
from tests.recipes import make_poste, make_recyclic_user, make_site, make_ticket

pytestmark = pytest.mark.django_db

SCREEN = "/ecran/"
FRAGMENT = "/ecran/fragment/"


@pytest.fixture
def site():
    return make_site()


@pytest.fixture
def activity(site):
    """Today at the screen's site: an open ticket of 8.5 kg; elsewhere, 100 kg."""
    now = timezone.now()
    make_ticket(make_poste(now - timedelta(minutes=30), opened_by=make_recyclic_user(site)),
                lines=["8.5"])  # fmt: skip
    make_ticket(make_poste(now - timedelta(minutes=30)), lines=["100"])


def paired(client, screen: Screen) -> None:
    code = screens.new_code(screen)
    response = client.post(SCREEN, {"code": code})
    assert response.status_code == 302
    assert response["Location"] == SCREEN


def test_without_a_cookie_the_screen_asks_for_its_code(client):
    response = client.get(SCREEN)
    assert response.status_code == 200
    assert 'name="code"' in response.content.decode()
    assert client.get(FRAGMENT).status_code == 403


def test_a_valid_code_pairs_the_screen_once(client, site, activity):
    screen = Screen.objects.create(name="Accueil", site=site.pk)
    code = screens.new_code(screen)

    response = client.post(SCREEN, {"code": code.lower().replace("-", " ")})
    page = client.get(SCREEN)

    assert response.status_code == 302
    cookie = response.cookies[screens.COOKIE]
    assert (cookie["path"], cookie["httponly"], cookie["samesite"]) == ("/ecran/", True, "Lax")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Accueil" in html
    assert "8,5\u00a0kg" in html  # the screen's site only
    screen.refresh_from_db()
    assert screen.paired_at is not None
    assert screen.code_hash == ""  # one use only
    assert code.replace("-", "") not in screen.token_hash
    # Used once: the same code pairs nothing more.
    assert client.post(SCREEN, {"code": code}).status_code == 400


def test_a_wrong_or_expired_code_pairs_nothing(client):
    screen = Screen.objects.create(name="Accueil")
    code = screens.new_code(screen)
    Screen.objects.filter(pk=screen.pk).update(code_expires_at=timezone.now())

    assert client.post(SCREEN, {"code": code}).status_code == 400
    assert client.post(SCREEN, {"code": "AAAA-BBBB"}).status_code == 400
    assert screens.COOKIE not in client.cookies


def _guesses(count: int) -> list[str]:
    alphabet = screens.CODE_ALPHABET
    return [f"AAAA-B{alphabet[n // 31]}{alphabet[n % 31]}B" for n in range(count)]


def test_guessing_codes_is_cut_short(client):
    statuses = [
        client.post(SCREEN, {"code": guess}).status_code
        for guess in _guesses(screens.PAIRING_ATTEMPTS + 1)
    ]
    refused = client.post(SCREEN, {"code": "AAAA-BBBB"})

    assert statuses == [400] * screens.PAIRING_ATTEMPTS + [429]
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(screens.PAIRING_WINDOW)
    assert "attendez dix minutes" in refused.content.decode()


def test_typos_no_code_could_match_are_not_counted(client):
    """Too short, too long, a 0 or an O: no code is written so, nothing is guessed."""
    typos = ["AAAA-BBB", "AAAA-BBBBB", "AAAA-BBB0", "AAAA-BBBO", "AAAA-BBB1", ""]
    statuses = [
        client.post(SCREEN, {"code": typo}).status_code for typo in typos * screens.PAIRING_ATTEMPTS
    ]
    screen = Screen.objects.create(name="Accueil")
    code = screens.new_code(screen)

    assert set(statuses) == {400}
    assert client.post(SCREEN, {"code": code}).status_code == 302


def test_the_cookie_opens_the_screen_and_nothing_else(client):
    paired(client, Screen.objects.create(name="Accueil"))

    assert client.get(FRAGMENT).status_code == 200
    assert client.get("/api/v1/reception/stats/live").status_code == 401
    assert client.get("/admin/reception_stats/livestats/").status_code == 302  # to the login


def test_a_forged_cookie_opens_nothing(client):
    paired(client, Screen.objects.create(name="Accueil"))
    value = client.cookies[screens.COOKIE].value
    client.cookies[screens.COOKIE] = value[:-3] + "abc"
    assert client.get(FRAGMENT).status_code == 403


def test_revoked_the_screen_loses_the_page_at_its_next_refresh(client):
    screen = Screen.objects.create(name="Accueil")
    paired(client, screen)
    assert client.get(FRAGMENT).status_code == 200  # its lookup is in the cache now

    screen.revoked_at = timezone.now()
    screen.save()

    assert client.get(FRAGMENT).status_code == 403
    page = client.get(SCREEN)
    assert "n'est plus autorisé" in page.content.decode()
    assert page.cookies[screens.COOKIE].value == ""  # the cookie is dropped


def test_paired_again_the_old_cookie_stops_working(client):
    screen = Screen.objects.create(name="Accueil")
    paired(client, screen)
    other = Client()  # the same screen, paired anew (a new TV, a wiped browser)
    paired(other, screen)

    assert client.get(FRAGMENT).status_code == 403
    assert other.get(FRAGMENT).status_code == 200


def test_the_last_visit_is_noted_at_most_once_a_minute(client):
    screen = Screen.objects.create(name="Accueil")
    paired(client, screen)
    client.get(FRAGMENT)
    screen.refresh_from_db()
    first = screen.last_seen_at
    client.get(FRAGMENT)
    screen.refresh_from_db()
    assert first is not None
    assert screen.last_seen_at == first


def test_the_admin_shows_the_code_once_and_lists_the_screens(admin_client):
    response = admin_client.post(
        "/admin/reception_stats/screen/add/", {"name": "Accueil", "site": ""}, follow=True
    )
    html = unescape(response.content.decode())
    assert "Code d'appairage de l'écran « Accueil »" in html
    assert "/ecran/" in html
    listing = admin_client.get("/admin/reception_stats/screen/").content.decode()
    assert "en attente de son code" in listing


def test_adding_a_screen_while_recyclic_does_not_answer_says_so(admin_client, unreachable_database):
    """The sites come from Recyclic: unreadable, the form is a 503 that says a database is
    down, not a list of "all sites" only that refuses the site one types in."""
    response = admin_client.get("/admin/reception_stats/screen/add/")

    assert response.status_code == 503
    assert response["Retry-After"]
    assert "une base de données ne répond pas" in response.content.decode()
