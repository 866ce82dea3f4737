"""WSGI entry point (gunicorn recyclic.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recyclic.settings")

application = get_wsgi_application()
