"""Settings for every process the benchmarks start: the project's own, plus the CRUD baseline app.

gunicorn serves both sides from this one module (same process configuration, same worker count):
the service under /api/, the plain DRF baseline under /crud/.
"""

from project.settings import *  # noqa: F401,F403
from project.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.crud"]
ROOT_URLCONF = "bench.urls"
# Benchmark users get a fast hasher: password hashing is not what is measured (tokens are used).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
