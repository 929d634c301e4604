"""The WSGI application (``tradeforge web`` serves it with waitress; any WSGI server can)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradeforge.web.settings")
application = get_wsgi_application()
