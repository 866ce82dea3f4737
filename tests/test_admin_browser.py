"""The admin dashboard and the wall screen in a real browser: Debian's Chromium, headless.

- A manager logs in through the admin login form, opens the page from the admin index, reads
  the cards, sees them update by themselves when the data changes, and sees "hors ligne" with
  the last figures still shown when the refresh fails.
- At 390, 768, 1366 and 1920 px, light and dark: nothing spills out of its box, chart text is at
  least 11 px (the admin's body size in fact), hour labels never overlap, the six headline
  figures are on one row from 1200 px and 3 x 2 or 2 x 3 below, and text and bars have the
  contrast WCAG asks (4.5:1 and 3:1).
- The comparison with last week on a known history: arrows, percentages, "—", last week's
  figure on hover, and last week's line over the bars.
- A wall screen paired through the admin, its cookie opening the screen and nothing else, and
  its revocation taking effect at its next refresh.

Screenshots of each state are written to ``artifacts/screenshots/`` (not committed).
"""

import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from reception_stats.formatting import format_figure
from reception_stats.kpis import compute_live_stats
from reception_stats.models import ReceptionStatus
from tests.recipes import make_category, make_poste, make_sale, make_ticket

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"

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


@pytest.fixture
def chromium():
    """A browser in which each test opens contexts of its own (themes, cookies, widths)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def log_in(page, live_server, username="responsable", password="un-mot-de-passe-solide"):
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
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
    assert page.locator("figure.rs-hours").count() == 2
    assert "mis à jour à" in page.locator("#rs-updated").inner_text()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
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


# --- readable at every size, in both themes ---------------------------------------------------

WIDTHS = (390, 768, 1366, 1920)

#: Scripts run in the page (tests/browser/): what spills, overlaps or is too small, and the
#: WCAG contrast ratios of text, bars and lines against what is behind them.
BROWSER = Path(__file__).resolve().parent / "browser"
LAYOUT_PROBLEMS = (BROWSER / "layout_problems.js").read_text(encoding="utf-8")
CONTRAST = (BROWSER / "contrast.js").read_text(encoding="utf-8")


@pytest.fixture
def a_busy_day():
    now = timezone.now()
    poste = make_poste(now - timedelta(hours=3))
    make_ticket(poste, status=ReceptionStatus.OPENED, lines=["1247.25", ("12", True)])
    make_ticket(poste, status=ReceptionStatus.CLOSED, closed_at=now - timedelta(hours=1),
                lines=["18.5"])  # fmt: skip
    long_name = make_category("Petit électroménager et objets connectés de la maison")
    make_ticket(poste, status=ReceptionStatus.OPENED, lines=["3.2"], category=long_name)
    make_sale(created_at=now - timedelta(minutes=50), total_amount=12345.67, donation=2.5,
              item_weights=[9.0])  # fmt: skip


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_readable_at_every_size(live_server, chromium, manager, a_busy_day, theme):
    context = chromium.new_context(locale="fr-FR", color_scheme=theme)
    page = context.new_page()
    log_in(page, live_server)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1000})
        page.goto(f"{live_server.url}/admin/reception_stats/livestats/")
        page.wait_for_selector('[data-figure="weight_in"]')
        page.screenshot(path=str(shot(f"dashboard-{theme}-{width}")), full_page=True)

        assert page.evaluate(LAYOUT_PROBLEMS) == [], (theme, width)
        rows = page.evaluate(
            "() => [...document.querySelectorAll('.rs-cards-headline .rs-card')]"
            ".map(el => Math.round(el.getBoundingClientRect().top))"
        )
        per_row = {1920: 6, 1366: 6, 768: 3, 390: 2}[width]
        assert [rows.count(top) for top in sorted(set(rows))] == [per_row] * (6 // per_row), width
        for selector, prop, least in [
            (".rs-card-value", "color", 4.5),
            (".rs-card-label", "color", 4.5),
            (".rs-change", "color", 4.5),
            (".rs-tick", "color", 4.5),
            (".rs-hour", "color", 4.5),
            (".rs-bar-in, .rs-bar-turnover, .rs-share-bar span", "bar", 3.0),
            (".rs-line", "stroke", 3.0),
        ]:
            ratios = page.evaluate(CONTRAST, [selector, prop])
            assert ratios and min(ratios) >= least, (theme, width, selector, min(ratios or [0]))
    context.close()


def shot(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"


# --- compared with last week ------------------------------------------------------------------


@pytest.fixture
def this_week_and_last():
    """Kilos in 30 now and 20 a week ago; kilos out 15 and 20; turnover 1 247,50 € and
    1 000 €; no donation either week; one open ticket each week."""
    now = timezone.now()
    week_ago = now - timedelta(days=7)
    poste = make_poste(now - timedelta(hours=3))
    make_ticket(poste, status=ReceptionStatus.OPENED, lines=["30", ("5", True)])
    make_sale(created_at=now - timedelta(hours=1), total_amount=1247.5, item_weights=[10.0])
    old = make_poste(week_ago - timedelta(hours=3))
    make_ticket(old, status=ReceptionStatus.OPENED, lines=["20", ("20", True)])
    make_sale(created_at=week_ago - timedelta(hours=1), total_amount=1000.0)


def change(page, name: str) -> str:
    return page.locator(f'[data-figure="{name}"] .rs-change [aria-hidden="true"]').inner_text()


def test_each_headline_figure_is_compared_with_last_week(
    live_server, browser_page, manager, this_week_and_last
):
    page = browser_page
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/reception_stats/livestats/")
    page.wait_for_selector('[data-figure="weight_in"] .rs-change')

    assert change(page, "weight_in") == "▲\u00a050\u00a0%"
    assert change(page, "weight_out") == "▼\u00a025\u00a0%"
    assert change(page, "turnover_eur") == "▲\u00a025\u00a0%"
    assert change(page, "tickets_open") == "=\u00a00\u00a0%"
    assert change(page, "donations_eur") == "—"  # nothing to compare with
    hover = page.locator('[data-figure="turnover_eur"] .rs-change').get_attribute("title")
    assert "1\u00a0000,00\u00a0€" in hover  # last week's figure, on hover
    assert "comparé au" in page.locator(".rs-compared").inner_text()
    # Last week's curve over this week's bars, in both hourly charts.
    assert page.locator("figure.rs-hours polyline.rs-line").count() == 3
    assert "mêmes heures la semaine dernière" in page.locator("figure.rs-hours").first.inner_text()
    page.screenshot(path=str(shot("dashboard-compared")), full_page=True)


# --- the wall screen ----------------------------------------------------------------------------


def test_a_screen_is_paired_shows_the_desk_and_loses_it_when_revoked(
    live_server, chromium, admin_user, a_busy_day
):
    staff = chromium.new_context(locale="fr-FR")
    admin_page = staff.new_page()
    log_in(admin_page, live_server, "admin", "password")
    admin_page.goto(f"{live_server.url}/admin/reception_stats/screen/add/")
    admin_page.fill("#id_name", "Accueil")
    admin_page.click("input[name=_save]")
    message = admin_page.locator(".messagelist").inner_text()
    code = re.search(r"\b([A-Z0-9]{4}-[A-Z0-9]{4})\b", message).group(1)

    screen = chromium.new_context(locale="fr-FR", viewport={"width": 1920, "height": 1080})
    tv = screen.new_page()
    tv.goto(f"{live_server.url}/ecran/")
    tv.screenshot(path=str(shot("screen-pairing")))
    tv.fill("#rs-code", code.lower().replace("-", " "))  # typed as a person would
    tv.click("button[type=submit]")
    tv.wait_for_selector('[data-figure="weight_in"]')
    assert (
        tv.locator('[data-figure="weight_in"] .rs-card-value').inner_text()
        == "1\u00a0269,0\u00a0kg"
    )
    assert tv.locator("figure.rs-hours").count() == 1
    tv.screenshot(path=str(shot("screen-paired")))

    # The cookie opens the screen page, and nothing else.
    (cookie,) = [c for c in screen.cookies() if c["name"] == "reception_stats_screen"]
    assert (cookie["path"], cookie["httpOnly"]) == ("/ecran/", True)
    for path in ("/api/v1/reception/stats/live", "/admin/reception_stats/livestats/"):
        response = tv.request.get(f"{live_server.url}{path}", max_redirects=0)
        assert response.status in (302, 401), path

    # Listed in the admin with its last visit; revoked there, gone at the next refresh.
    admin_page.goto(f"{live_server.url}/admin/reception_stats/screen/")
    assert "appairé" in admin_page.locator("#result_list").inner_text()
    admin_page.check("input[name=_selected_action]")
    admin_page.select_option("select[name=action]", "revoke")
    admin_page.click("button[name=index]")
    tv.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # refresh now
    tv.wait_for_selector("#rs-code", timeout=10_000)
    assert "n'est plus autorisé" in tv.content()
    tv.screenshot(path=str(shot("screen-revoked")))
    screen.close()
    staff.close()
