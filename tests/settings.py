"""Settings for the test suite: the project's, with a test secret and a quiet log."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")

from recyclic.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
