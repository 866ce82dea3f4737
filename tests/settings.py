"""Settings for the test suite: the project's, with a test secret and a quiet log."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")

from recyclic.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# DEBUG is off here as in production, but the test client speaks plain http: no redirect to
# https (tests/test_access.py checks the production settings with `check --deploy`).
SECURE_SSL_REDIRECT = False

# The suite reads and writes "default" only; tests/test_replica.py builds its own second database.
DATABASES.pop("recyclic", None)  # noqa: F405
RECEPTION_STATS["DATABASE"] = "default"  # noqa: F405
# Recyclic's tokens, signed in the tests with this stand-in for Recyclic's SECRET_KEY (whatever
# a developer's .env says).
RECEPTION_STATS["RECYCLIC_SECRET_KEY"] = "tests-only-recyclic-secret-key-of-32-bytes-or-more"  # noqa: F405
RECEPTION_STATS["RECYCLIC_LOGIN"] = True  # noqa: F405
# One process runs the suite: the API's rate is its own, not a share among gunicorn's workers.
RECEPTION_STATS["WORKERS"] = 1  # noqa: F405

# The suite checks the app's messages in their source language (English) too, as a host project
# that negotiates the language would show them; the project itself answers in French only
# (tests/test_i18n.py checks it with the project's own middleware).
MIDDLEWARE = [
    *MIDDLEWARE[: MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware") + 1],  # noqa: F405
    "django.middleware.locale.LocaleMiddleware",
    *MIDDLEWARE[MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware") + 1 :],  # noqa: F405
]
