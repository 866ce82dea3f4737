"""Every door, every kind of caller; CSRF; no SQL assembled from strings; a clean check --deploy.

The matrix is the whole access policy in one table: the API (figures and breakdown), the admin
page and its fragment, ``/metrics`` and the details of ``/healthz``, for an anonymous caller, a
user with no right, a user holding ``view_live_stats`` without staff status, a staff member
without it and one with it. Callers come from an address outside ``METRICS_ALLOWED_IPS``, as the
public would; the loopback and token cases of ``/metrics`` are in test_metrics.py.
"""

import ast
import secrets
import subprocess
import sys

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from tests.processes import ROOT, environment_without, manage_py

pytestmark = pytest.mark.django_db

OUTSIDE = "203.0.113.7"  # TEST-NET-3: not an allowed metrics address

LIVE = "/api/v1/reception/stats/live"
BREAKDOWN = "/api/v1/reception/stats/live/breakdown"
ADMIN_PAGE = "/admin/reception_stats/livestats/"
ADMIN_FRAGMENT = "/admin/reception_stats/livestats/fragment/"
LOGIN = "/admin/login/"

CALLERS = ("anonymous", "no_right", "permitted", "staff", "manager")

# (door, caller) -> the answer: a status code, "login" (a redirect to the admin's login page),
# or for /healthz "details" / "status only". One rule everywhere: the permission
# view_live_stats (staff status alone is not enough); the admin also wants staff status.
EXPECTED = {
    LIVE: dict(zip(CALLERS, (401, 403, 200, 403, 200), strict=True)),
    BREAKDOWN: dict(zip(CALLERS, (401, 403, 200, 403, 200), strict=True)),
    # The API's description follows the API's rule.
    "/api/schema/": dict(zip(CALLERS, (401, 403, 200, 403, 200), strict=True)),
    "/api/docs/": dict(zip(CALLERS, (401, 403, 200, 403, 200), strict=True)),
    # The admin lets in staff only, then asks for the permission.
    ADMIN_PAGE: dict(zip(CALLERS, ("login", "login", "login", 403, 200), strict=True)),
    ADMIN_FRAGMENT: dict(zip(CALLERS, ("login", "login", "login", 403, 200), strict=True)),
    # By address or bearer token only: no user account opens it.
    "/metrics": dict.fromkeys(CALLERS, 403),
    "/healthz": dict(
        zip(
            CALLERS,
            ("status only", "status only", "status only", "details", "details"),
            strict=True,
        )
    ),
}


@pytest.fixture
def caller(request, django_user_model):
    """A logged-in client for each kind of caller (anonymous: not logged in)."""
    kind = request.param
    client = Client(REMOTE_ADDR=OUTSIDE)
    if kind == "anonymous":
        return client
    user = django_user_model.objects.create_user(
        username=kind, password="un-mot-de-passe-solide", is_staff=kind in ("staff", "manager")
    )
    if kind in ("permitted", "manager"):
        user.user_permissions.add(Permission.objects.get(codename="view_live_stats"))
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("door", "caller", "expected"),
    [
        (door, kind, answer)
        for door, answers in EXPECTED.items()
        for kind, answer in answers.items()
    ],
    indirect=["caller"],
)
def test_who_gets_through_each_door(door, caller, expected):
    response = caller.get(door)

    if expected == "login":
        assert response.status_code == 302
        assert response["Location"].startswith(LOGIN)
    elif door == "/healthz":
        assert response.status_code == 200
        details = {"database", "schema", "enabled", "version", "revision"}
        if expected == "details":
            assert details <= set(response.json())
        else:
            assert response.json() == {"status": response.json()["status"]}
    else:
        assert response.status_code == expected, response.content[:300]


def test_the_admin_login_refuses_a_post_without_its_csrf_token(django_user_model):
    django_user_model.objects.create_user(
        "responsable", password="un-mot-de-passe-solide", is_staff=True
    )
    client = Client(enforce_csrf_checks=True)

    refused = client.post(LOGIN, {"username": "responsable", "password": "un-mot-de-passe-solide"})
    page = client.get(LOGIN)
    token = page.cookies["csrftoken"].value
    accepted = client.post(
        LOGIN,
        {
            "username": "responsable",
            "password": "un-mot-de-passe-solide",
            "csrfmiddlewaretoken": token,
        },
    )

    assert refused.status_code == 403
    assert accepted.status_code == 302  # the same form with its token logs in


def test_responses_forbid_framing_and_sniffing(client):
    response = client.get(LOGIN)

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


# --- No SQL assembled from strings ------------------------------------------------------------

PACKAGE = ROOT / "reception_stats"
FORBIDDEN_CALLS = {"raw", "extra", "RawSQL"}
#: The statements executed from something other than a string literal or a module constant,
#: each with why it is safe: (file, the argument's source).
ALLOWED_EXECUTE = {
    # Recyclic's DDL for the demo and the tests, from the package's own file.
    ("reception_stats/schema.py", "SCHEMA_SQL.read_text(encoding='utf-8')"),
    # SET TRANSACTION READ ONLY and the two timeouts (two integers validated by
    # db._milliseconds) before Django's own statement, in the same string.
    ("reception_stats/db.py", "f'{self.limits}; {sql}'"),
    # The same SETs alone, when server-side binding takes one statement per message.
    ("reception_stats/db.py", "limits"),
    # The figures' statement as the ORM compiled it, kept and run again with new parameters.
    ("reception_stats/prepared.py", "self.sql"),
    # CREATE/DROP INDEX CONCURRENTLY built from the constant RECOMMENDED_INDEXES.
    ("reception_stats/indexes.py", "state.index.drop_sql()"),
    ("reception_stats/indexes.py", "state.index.create_sql()"),
}


def _module_constants(tree: ast.Module) -> set[str]:
    return {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def _sql_sources() -> list[tuple[str, ast.Call, set[str]]]:
    calls = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = _module_constants(tree)
        relative = path.relative_to(ROOT).as_posix()
        calls += [
            (relative, node, constants) for node in ast.walk(tree) if isinstance(node, ast.Call)
        ]
    return calls


def test_no_sql_is_assembled_from_strings():
    problems = []
    used_exceptions = set()
    for path, call, constants in _sql_sources():
        name = getattr(call.func, "attr", None) or getattr(call.func, "id", None)
        if name in FORBIDDEN_CALLS:
            problems.append(f"{path}:{call.lineno}: {name}()")
        if name not in ("execute", "executemany") or not call.args:
            continue
        sql = call.args[0]
        if isinstance(sql, ast.Constant) and isinstance(sql.value, str):
            continue
        if isinstance(sql, ast.Name) and sql.id in constants:
            continue
        source = ast.unparse(sql)
        if (path, source) in ALLOWED_EXECUTE:
            used_exceptions.add((path, source))
            continue
        wrappers = ("reception_stats/metrics.py", "reception_stats/db.py")
        if isinstance(sql, ast.Name) and sql.id == "sql" and path in wrappers:
            continue  # an execute wrapper passes Django's own statement on
        problems.append(f"{path}:{call.lineno}: execute({source})")

    assert problems == []
    # An exception nobody needs any more is removed from the list, not kept "just in case".
    assert used_exceptions == ALLOWED_EXECUTE


def test_the_one_assembled_statement_takes_validated_integers_only(settings):
    from django.core.exceptions import ImproperlyConfigured

    from reception_stats.db import read_only

    settings.RECEPTION_STATS = {
        **settings.RECEPTION_STATS,
        "LOCK_TIMEOUT_MS": "500; SET default_transaction_read_only = off",
    }
    with pytest.raises(ImproperlyConfigured), read_only("default"):
        pass


# --- manage.py check --deploy ----------------------------------------------------------------


def _production_environment(**extra: str) -> dict[str, str]:
    return environment_without(
        ("DJANGO_", "SECURE_", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"),
        DJANGO_SETTINGS_MODULE="recyclic.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="false",
        ALLOWED_HOSTS="stats.ressourcerie.example",
        CSRF_TRUSTED_ORIGINS="https://stats.ressourcerie.example",
        **extra,
    )


def _check_deploy(**extra: str) -> subprocess.CompletedProcess:
    return manage_py(
        "check", "--deploy", "--fail-level", "WARNING", environment=_production_environment(**extra)
    )


def test_check_deploy_is_clean_with_production_settings():
    result = _check_deploy()

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_check_deploy_is_clean_behind_a_tls_proxy():
    result = _check_deploy(SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https")

    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_names_what_is_turned_off():
    result = _check_deploy(SECURE_SSL_REDIRECT="false", SECURE_HSTS_SECONDS="0")

    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout  # no HSTS
    assert "security.W008" in result.stderr + result.stdout  # no redirect to https


def test_production_settings_redirect_to_https_except_probes():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS, s.SECURE_REDIRECT_EXEMPT)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_production_environment(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert result.stdout.split(maxsplit=4) == [
        "True",
        "True",
        "True",
        "31536000",
        "['^healthz$', '^metrics$']\n",
    ]


@pytest.mark.parametrize(
    "value",
    [
        "HTTP_X_FORWARDED_PROTO,https",
        "HTTP_X_FORWARDED_PROTO, https",
        " HTTP_X_FORWARDED_PROTO ,https ",
    ],
)
def test_the_proxy_header_is_read_without_stray_spaces(value):
    """A space after the comma would make every proxied https request redirect to itself."""
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(repr(s.SECURE_PROXY_SSL_HEADER))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_production_environment(SECURE_PROXY_SSL_HEADER=value),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert result.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_behind_the_proxy_the_admin_login_is_https_and_accepted(client, settings, staff_user):
    """With the proxy's header trusted, a login posted through the proxy passes the CSRF origin
    check and gets HSTS; plain http is redirected."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.ALLOWED_HOSTS = ["stats.ressourcerie.example"]
    host = {"HTTP_HOST": "stats.ressourcerie.example"}
    proxied = {**host, "HTTP_X_FORWARDED_PROTO": "https"}
    csrf_client = Client(enforce_csrf_checks=True)

    assert client.get("/admin/login/", **host).status_code == 301
    form = csrf_client.get("/admin/login/", **proxied)
    assert form.status_code == 200
    assert "Strict-Transport-Security" in form.headers
    response = csrf_client.post(
        "/admin/login/",
        {
            "username": "gerante",
            "password": "motdepasse-staff",
            "csrfmiddlewaretoken": form.cookies["csrftoken"].value,
            "next": "/admin/",
        },
        HTTP_ORIGIN="https://stats.ressourcerie.example",
        **proxied,
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
DOORS = (
    LIVE,
    BREAKDOWN,
    "/api/v1/stats/live",
    "/api/schema/",
    "/api/docs/",
    ADMIN_PAGE,
    ADMIN_FRAGMENT,
    "/healthz",
    "/metrics",
    "/ecran/",
    "/ecran/fragment/",
)


@pytest.mark.parametrize("kind", ["anonymous", "manager"])
@pytest.mark.parametrize("method", METHODS)
def test_no_method_on_any_door_is_a_server_error(method, kind, django_user_model):
    """An unusual method is refused (405) or answered, never a 500: OPTIONS on the Swagger page
    once answered 500 (its HTML renderer has no page for it)."""
    client = Client(REMOTE_ADDR=OUTSIDE)
    if kind == "manager":
        user = django_user_model.objects.create_user(username="m", is_staff=True)
        user.user_permissions.add(Permission.objects.get(codename="view_live_stats"))
        client.force_login(user)
    for door in DOORS:
        response = client.generic(method, door)
        assert response.status_code < 500, (method, door, response.status_code)
        if door in ("/healthz", "/metrics", "/ecran/fragment/") and method not in ("GET", "HEAD"):
            assert response.status_code == 405, (method, door)
        if door == "/ecran/" and method == "HEAD":
            assert response.status_code == 200


def test_a_user_name_too_long_is_refused_by_the_login_form():
    """300 characters once reached django-axes, whose record of the attempt PostgreSQL refused
    (varchar 255): a 503 saying a database was down. The form refuses it like any bad value."""
    client = Client(REMOTE_ADDR=OUTSIDE)
    response = client.post(LOGIN, {"username": "a" * 300, "password": "peu-importe"})

    assert response.status_code == 200
    assert "au plus 150 caractères" in response.content.decode()


def test_a_value_the_database_refuses_is_a_400_never_an_outage():
    """Wherever else one comes from: the request's fault, not a 503, not a 500."""
    from django.db import DataError
    from django.test import RequestFactory

    from reception_stats.middleware import BoundedDatabaseMiddleware

    middleware = BoundedDatabaseMiddleware(lambda request: None)
    request = RequestFactory().get("/admin/")
    error = DataError("value too long for type character varying(255)")
    response = middleware.process_exception(request, error)

    assert response.status_code == 400
    assert "Requête refusée" in response.content.decode()
    assert "valeur que la base de données refuse" in response.content.decode()
