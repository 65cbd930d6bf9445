"""The WSGI entry point for a server such as gunicorn: ``ally.web.wsgi:application``."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ally.web.settings")
application = get_wsgi_application()
