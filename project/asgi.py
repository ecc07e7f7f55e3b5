"""The ASGI application: the whole service, and the change feed's streams (feed/), which need it.

`uvicorn project.asgi:application` (the compose file's `feed` service, and `make run`).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
application = get_asgi_application()
