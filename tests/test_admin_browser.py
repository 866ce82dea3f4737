"""The admin dashboard in a real browser: Debian's Chromium driven headless by Playwright.

A staff member logs in through the admin login form, opens the page from the admin index, reads
the cards, sees them update by themselves when the data changes, and sees "hors ligne" with the
last figures still shown when the refresh fails. A screenshot is kept in ``artifacts/``.
"""

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from reception_stats.formatting import format_figure
from reception_stats.kpis import compute_live_stats
from reception_stats.models import ReceptionStatus
from tests.recipes import make_poste, make_sale, make_ticket

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


@pytest.fixture
def browser_page():
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between two browser steps are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(locale="fr-FR", viewport={"width": 1280, "height": 1400})
        yield page
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def card(page, name: str) -> str:
    return page.locator(f'[data-figure="{name}"] .rs-card-value').inner_text().strip()


def expected(name: str, kind: str) -> str:
    stats = compute_live_stats("24h")
    return format_figure(kind, getattr(stats, name), weight_decimals=1)


def test_dashboard_lives_in_a_real_browser(live_server, browser_page, manager, settings):
    settings.RECEPTION_STATS = {
        **settings.RECEPTION_STATS,
        "CACHE_TIMEOUT": 1,
        "REFRESH_SECONDS": 10,
    }
    now = timezone.now()
    poste = make_poste(now - timedelta(hours=2))
    make_ticket(poste, status=ReceptionStatus.OPENED, lines=["3.5", ("2", True)])
    make_ticket(
        poste,
        status=ReceptionStatus.CLOSED,
        closed_at=now - timedelta(minutes=30),
        lines=["1247.25"],
    )
    make_sale(created_at=now - timedelta(minutes=20), total_amount=1247.5, donation=2.5)
    page = browser_page

    # Log in through the admin's own form, then follow the entry on the admin index.
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "responsable")
    page.fill("#id_password", "un-mot-de-passe-solide")
    page.click("input[type=submit]")
    page.click("text=Réception — statistiques en direct")
    page.wait_for_selector('[data-figure="tickets_open"]')

    assert "Réception — statistiques en direct" in page.title()
    assert card(page, "tickets_open") == "1"
    assert card(page, "tickets_closed_24h") == "1"
    assert card(page, "turnover_eur") == "1\u00a0247,50\u00a0€"
    assert card(page, "weight_in") == expected("weight_in", "weight")
    assert card(page, "weight_in") == "1\u00a0250,8\u00a0kg"
    assert card(page, "donations_eur") == expected("donations_eur", "money")
    assert page.locator("svg[role=img]").count() == 2
    assert "mis à jour à" in page.locator("#rs-updated").inner_text()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-dashboard.png"), full_page=True)

    # New data: the page shows it by itself at the next refresh (every 10 s at the fastest).
    make_ticket(poste, status=ReceptionStatus.OPENED, lines=["4"])
    page.wait_for_function(
        "document.querySelector('[data-figure=\"tickets_open\"] .rs-card-value')"
        ".textContent.trim() === '2'",
        timeout=25_000,
    )
    assert "Tickets ouverts" in page.locator("#rs-announce").inner_text()

    # The refresh fails: the last figures stay, marked offline.
    page.route("**/fragment/**", lambda route: route.abort())
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_selector("#rs-offline:not([hidden])", timeout=10_000)
    assert "hors ligne" in page.locator("#rs-offline").inner_text()
    assert card(page, "tickets_open") == "2"
    page.screenshot(path=str(ARTIFACTS / "admin-dashboard-offline.png"), full_page=True)

    # Back online: figures are fresh again and the mark goes away.
    page.unroute("**/fragment/**")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_selector("#rs-offline", state="hidden", timeout=10_000)
