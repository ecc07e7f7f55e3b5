"""Settings from the environment (twelve-factor), with an embedded default for a zero-setup run.

Unset DATABASE_URL means a SQLite file under var/; unset CELERY_BROKER_URL means a broker in
files under var/ that needs no server. Production sets DJANGO_SECRET_KEY and leaves DEBUG off.
"""

import os
from pathlib import Path

import dj_database_url
from kombu import Queue
from django.core.exceptions import ImproperlyConfigured

from project.logformat import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CATALOG_VAR_DIR", BASE_DIR / "var"))


def env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_flag("DJANGO_DEBUG")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 for a local development run).")
    SECRET_KEY = "insecure-development-key-never-use-in-production"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

# HTTPS. The service runs behind a gateway that terminates TLS, so redirecting to https and HSTS
# belong to the gateway by default; a deployment that wants Django to do either sets them here.
# DJANGO_SECURE_SSL_REDIRECT=1 redirects plain http to https (needs DJANGO_SECURE_PROXY_SSL_HEADER
# behind a gateway, or every request loops); DJANGO_SECURE_HSTS_SECONDS sends Strict-Transport-Security.
SECURE_SSL_REDIRECT = env_flag("DJANGO_SECURE_SSL_REDIRECT")
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_flag("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS")
# DJANGO_SECURE_PROXY_SSL_HEADER=1: trust the gateway's X-Forwarded-Proto (only if it always sets it).
if env_flag("DJANGO_SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Session and CSRF cookies travel over https only, unless DEBUG (a local http run) is on.
SESSION_COOKIE_SECURE = env_flag("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_flag("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
# `check --deploy` warns about the two settings left to the gateway above (W004: HSTS, W008: SSL
# redirect); they are deliberately off by default and set from the environment where wanted.
SILENCED_SYSTEM_CHECKS = ["security.W004", "security.W008"]

# all: one process serves commands and queries; command or query: one side of a split deployment.
SERVICE_ROLE = os.environ.get("SERVICE_ROLE", "all")
if SERVICE_ROLE not in ("all", "command", "query"):
    raise ImproperlyConfigured("SERVICE_ROLE must be all, command or query.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    # The OpenAPI schema (/api/schema/) and its Swagger UI and Redoc pages, self-hosted.
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "products",
    "projections",
    "feed",
    "alerts",  # the low-stock alert, a consumer (projections/consumers.py)
    "webhooks",  # events POSTed as signed CloudEvents to subscribed URLs (a consumer, and an outbox)
]

MIDDLEWARE = [
    "project.http.middleware.RequestIdMiddleware",
    # Before anything waits for the database: every wait of the request ends by its deadline.
    "project.http.deadline.RequestDeadlineMiddleware",
    # Before anything reads the body: a query-only service refuses a command outright.
    "project.http.service_role.ServiceRoleMiddleware",
    "project.http.middleware.DatabaseUnavailableMiddleware",
    "project.http.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The admin's and the browsable API's static files under gunicorn, without DEBUG.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "project" / "templates"],  # the self-hosted Redoc page
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'catalog.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# Every request answers within this many seconds, whatever the database does: a wait for
# PostgreSQL that would pass it ends in 503 (nothing was stored) or, for a commit that was sent
# and never acknowledged, 504 outcome_unknown (see project/database/deadline.py). "off": no bound.
REQUEST_TIMEOUT = None if os.environ.get("REQUEST_TIMEOUT", "5") == "off" else float(os.environ.get("REQUEST_TIMEOUT", "5"))
# Outside requests too (workers, beat, management commands), one round trip to PostgreSQL ends
# after this many seconds: longer than the statement_timeout below lets any statement run.
DATABASE_STALL_TIMEOUT = float(os.environ.get("DATABASE_STALL_TIMEOUT", "20"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with connections that honour the two bounds above.
    DATABASES["default"]["ENGINE"] = "project.database"
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # A database that is down must answer in bounded time (503), never hang a request.
            "connect_timeout": int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "3")),
            # A server host that vanished is noticed on idle connections too, not only by the
            # next wait's bound: keepalives after 10 s idle, and unacknowledged data for 10 s.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 3,
            "keepalives_count": 3,
            "tcp_user_timeout": 10000,
            # Any long writing transaction holds back every projection's horizon: keep them short.
            "options": "-c statement_timeout=15000 -c lock_timeout=5000"
            " -c idle_in_transaction_session_timeout=30000",
            # The hot paths (appends, the projections' statements) bind server-side, and psycopg
            # prepares a statement it has run this many times on a connection, so PostgreSQL
            # stops parsing and planning it each time. Set DATABASE_PREPARE_THRESHOLD=off behind
            # a pooler that cannot keep prepared statements (PgBouncer before 1.21 in
            # transaction mode). Django's own queries bind client-side and are never prepared.
            "prepare_threshold": None
            if os.environ.get("DATABASE_PREPARE_THRESHOLD", "5") == "off"
            else int(os.environ.get("DATABASE_PREPARE_THRESHOLD", "5")),
        }
    )
else:
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # Take the write lock at BEGIN, so concurrent writers queue instead of failing.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's ModelBackend with a user's permissions read in one statement (project/http/user_permissions.py).
AUTHENTICATION_BACKENDS = ["project.http.user_permissions.ModelBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"  # `manage.py collectstatic` fills it; WhiteNoise serves it
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# WhiteNoise also serves the files straight from the installed apps (the admin, DRF, the Swagger UI
# and Redoc of drf-spectacular-sidecar), so a run that never ran collectstatic still gets its CSS
# and JavaScript instead of unstyled pages and a blank /api/docs/. It looks them up once, at start.
WHITENOISE_USE_FINDERS = True

# --- The Command API ------------------------------------------------------------------------
# Bodies above this answer 413 before they are parsed (JSON and form posts alike).
COMMAND_MAX_BODY_BYTES = int(os.environ.get("COMMAND_MAX_BODY_BYTES", str(256 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = COMMAND_MAX_BODY_BYTES
# Per user; "off" disables it. DRF's throttle is per process and not atomic: hard limits
# belong at the gateway, this one keeps a single client from crowding out the others.
COMMAND_THROTTLE_RATE = os.environ.get("COMMAND_THROTTLE_RATE", "100/second")
# How many times a command that lost a race (no expected_version given) is decided again.
COMMAND_MAX_ATTEMPTS = 20
# The task every committed command sends, by name (the write side never imports the read side),
# to NUDGE_QUEUE; each projection also has a queue of its own, PROJECTION_QUEUE_PREFIX + name.
CATALOG_NUDGE_TASK = "projections.catch_up"
NUDGE_QUEUE = "projections.nudge"
PROJECTION_QUEUE_PREFIX = "projection."
# The nudge queue and each projection's queue hold at most one waiting message: nudges carry
# nothing, and one catch-up that starts after a nudge was sent applies everything committed
# before it. So a newer nudge replaces a waiting one (drop-head) and a burst of commands costs
# the worker one catch-up, not one per command. Messages being worked on (unacknowledged) do not
# count. RabbitMQ refuses to declare a queue again with other arguments: see docs/OPERATIONS.md.
PROJECTION_QUEUE_ARGUMENTS = {"x-max-length": 1, "x-overflow": "drop-head"}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its scheme goes into WWW-Authenticate, which makes "not logged in" a 401.
        # "Authorization: Token <key>" or "Authorization: Bearer <key>".
        "project.http.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "products.api.parsers.JSONParser",
        # The browsable API's HTML forms post form data.
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        *(
            ["project.http.renderers.BrowsableAPIRenderer"]
            if env_flag("BROWSABLE_API", default=True)
            else []
        ),
    ],
    "EXCEPTION_HANDLER": "project.http.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# The OpenAPI schema: `manage.py spectacular --validate --fail-on-warn` must pass.
SPECTACULAR_SETTINGS = {
    "TITLE": "Event-sourced product catalog",
    "VERSION": "1.0.0",
    "DESCRIPTION": (
        "Commands (POST) are validated against the product aggregate and stored as events; they answer "
        "202 with the product's version and the `position` of the stored events. Queries (GET) read the "
        "read models the projections build from the events; pass `min_position` to read your own writes. "
        "Every error body carries `detail` and a machine-readable `code`, except field errors (400), "
        'which keep DRF\'s `{"field": ["message"]}` shape. No error ever stores an event.'
    ),
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from the drf-spectacular-sidecar package's static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # /api/products/ is served by two views, one per method: each documents its own.
    "PREPROCESSING_HOOKS": ["project.http.peers.document_peers"],
}

# --- Projections ----------------------------------------------------------------------------
PROJECTION_BATCH_SIZE = int(os.environ.get("PROJECTION_BATCH_SIZE", "500"))
PROJECTION_REBUILD_BATCH_SIZE = int(os.environ.get("PROJECTION_REBUILD_BATCH_SIZE", "2000"))
# A rebuild's fold writes its rows with COPY in steps of this many, each committed by itself.
PROJECTION_REBUILD_COPY_ROWS = int(os.environ.get("PROJECTION_REBUILD_COPY_ROWS", "10000"))
# Processes `rebuild_projections` folds the log with, each a range of streams (a worker's
# rebuild folds in its own process, beside the live catch-up).
PROJECTION_REBUILD_WORKERS = int(os.environ.get("PROJECTION_REBUILD_WORKERS", str(os.cpu_count() or 1)))
PROJECTION_MAX_ATTEMPTS = int(os.environ.get("PROJECTION_MAX_ATTEMPTS", "8"))
PROJECTION_RETRY_BASE_SECONDS = float(os.environ.get("PROJECTION_RETRY_BASE_SECONDS", "1"))
# One task drains for at most this long, then hands over to a fresh task (inside the time limits below).
PROJECTION_TIME_BUDGET = 60.0
# A command's nudge catches every projection up in one task, each for at most this long; one
# with more to do goes on in a task on its own queue, so a backlog never holds up the others.
PROJECTION_NUDGE_TIME_BUDGET = float(os.environ.get("PROJECTION_NUDGE_TIME_BUDGET", "2"))
# Seconds between the starts of two nudge rounds in one worker process (see projections/tasks.py).
PROJECTION_NUDGE_INTERVAL = float(os.environ.get("PROJECTION_NUDGE_INTERVAL", "0.02"))
# synchronous_commit of the workers' database sessions: they write only what the log can
# rebuild, so they need not wait for the disk (see project/celery.py). "on" makes them wait.
WORKER_SYNCHRONOUS_COMMIT = os.environ.get("WORKER_SYNCHRONOUS_COMMIT", "off")
# The integration relay publishes every event to this broker's topic exchange; it is off when
# the broker is not RabbitMQ (the embedded file broker has no subscribers to serve).
INTEGRATION_RELAY_URL = os.environ.get(
    "INTEGRATION_RELAY_URL",
    os.environ.get("CELERY_BROKER_URL", "") if os.environ.get("CELERY_BROKER_URL", "").startswith("amqp") else "",
)
INTEGRATION_EXCHANGE = os.environ.get("INTEGRATION_EXCHANGE", "catalog.events")
# With an MQTT broker's URL (mqtt://user:password@host:1883, or mqtts://), the MQTT bridge
# publishes each product's state (retained) and each event under this prefix (see
# projections/projectors/mqtt_bridge.py).
MQTT_URL = os.environ.get("MQTT_URL", "")
MQTT_TOPIC_PREFIX = os.environ.get("MQTT_TOPIC_PREFIX", "catalog")
# Every projection by name (its checkpoint, its queue) and its projector class. Add your own
# as NAME=dotted.path pairs in EXTRA_PROJECTORS; see projections/projectors/base.py.
PROJECTORS = {
    "product_catalog": "projections.projectors.catalog.CatalogProjector",
    "category_summary": "projections.projectors.category_summary.CategorySummaryProjector",
    "price_history": "projections.projectors.price_history.PriceHistoryProjector",
    **({"integration_relay": "projections.projectors.relay.IntegrationRelay"} if INTEGRATION_RELAY_URL else {}),
    **({"mqtt_bridge": "projections.projectors.mqtt_bridge.MqttBridge"} if os.environ.get("MQTT_URL") else {}),
    **dict(item.split("=", 1) for item in env_list("EXTRA_PROJECTORS", "")),
}
# The low-stock alert's threshold where no LowStockThreshold (admin) sets one (alerts/).
LOW_STOCK_THRESHOLD = int(os.environ.get("LOW_STOCK_THRESHOLD", "5"))
# Webhooks (webhooks/delivery.py): timeouts and read limit of one delivery, its retries, and
# whether a URL may point at this network's own addresses (off: loopback, private, link-local
# and reserved addresses are refused, so the admin cannot be used to reach internal services).
WEBHOOK_CONNECT_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_CONNECT_TIMEOUT_SECONDS", "3"))
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10"))
WEBHOOK_READ_BYTES = 4096
WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_MAX_ATTEMPTS", "10"))
WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("WEBHOOK_RETRY_BASE_SECONDS", "5"))
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_flag("WEBHOOK_ALLOW_PRIVATE_ADDRESSES")
WEBHOOK_SOURCE = os.environ.get("WEBHOOK_SOURCE", "urn:catalog:products")  # the CloudEvents `source`
WEBHOOK_TASK_SECONDS = 30.0  # one delivery task sends for this long, then hands over to the next
WEBHOOK_SWEEP_SECONDS = 5.0
WEBHOOK_DELIVERIES_RETENTION_DAYS = float(os.environ.get("WEBHOOK_DELIVERIES_RETENTION_DAYS", "7"))
# Read-your-writes: how long a query with min_position may wait for the projections.
READ_YOUR_WRITES_TIMEOUT = float(os.environ.get("READ_YOUR_WRITES_TIMEOUT", "5"))
# Anonymous readers may query unless this is on.
QUERIES_REQUIRE_AUTHENTICATION = env_flag("QUERIES_REQUIRE_AUTHENTICATION")

# --- The change feed (feed/) -----------------------------------------------------------------
# Events each process keeps in memory for its subscribers; one that falls further behind than
# this is told where to resume and let go (feed/hub.py).
FEED_TAIL_EVENTS = int(os.environ.get("FEED_TAIL_EVENTS", "10000"))
# The longest a follower waits without a message: a comment line keeps proxies and clients sure.
FEED_HEARTBEAT_SECONDS = float(os.environ.get("FEED_HEARTBEAT_SECONDS", "15"))
# How often the feed reads the log whatever it was told: PostgreSQL's notifications make it
# look at once; this covers one that was lost, and is all there is on SQLite.
FEED_POLL_SECONDS = float(os.environ.get("FEED_POLL_SECONDS", "1"))
# How long the catalog's product changes (what /api/products/changes/ sends) are kept; a
# follower that resumes from before that is told so (410) and loads the catalog again.
PRODUCT_CHANGES_RETENTION_DAYS = float(os.environ.get("PRODUCT_CHANGES_RETENTION_DAYS", "7"))

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT = "project.filebroker:Transport"
    BROKER_DIR = VAR_DIR / "broker"
    for folder in ("queue", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.1,  # seconds; the file broker has no push, a worker polls it
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Publishing must end in bounded time when RabbitMQ is down or stalls: one retry, short
        # socket timeouts, and a confirm from the broker before a publish counts as sent.
        "confirm_publish": True,
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.5,
        "interval_max": 0.5,
        "read_timeout": 5,
        "write_timeout": 5,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_QUEUES = [
    Queue("projections", durable=True),  # beat's sweep and rebuilds, fanned out from here
    Queue(NUDGE_QUEUE, durable=True, queue_arguments=PROJECTION_QUEUE_ARGUMENTS),
    Queue("webhooks", durable=True),  # deliveries: slow receivers wait here, not in the projections' queues
    *(Queue(PROJECTION_QUEUE_PREFIX + name, durable=True, queue_arguments=PROJECTION_QUEUE_ARGUMENTS)
      for name in PROJECTORS),
]
CELERY_TASK_DEFAULT_QUEUE = "projections"
CELERY_TASK_ROUTES = {"projections.sweep": {"queue": "projections"}, "projections.rebuild": {"queue": "projections"},
                      "projections.trim_product_changes": {"queue": "projections"},
                      "webhooks.deliver": {"queue": "webhooks"}, "webhooks.sweep": {"queue": "webhooks"},
                      "webhooks.trim": {"queue": "webhooks"}}
# Well under RabbitMQ's consumer_timeout (30 min): an unacknowledged delivery past it is closed.
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_TIME_LIMIT = 300
CELERY_BEAT_SCHEDULE = {
    "sweep-projections": {"task": "projections.sweep", "schedule": float(os.environ.get("PROJECTION_SWEEP_SECONDS", "5"))},
    "trim-product-changes": {"task": "projections.trim_product_changes", "schedule": 3600.0},
    "sweep-webhooks": {"task": "webhooks.sweep", "schedule": WEBHOOK_SWEEP_SECONDS},
    "trim-webhook-deliveries": {"task": "webhooks.trim", "schedule": 3600.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery closes the database connection around every task unless this is set; it is, so that
# the task_prerun hook in project/celery.py keeps connections as Django does (CONN_MAX_AGE).
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_TASK_DEFAULT_DELIVERY_MODE = "persistent"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# --- Operations: logs, health, metrics (project/logformat.py, project/health.py) -------------
# json: one object per line with request_id, correlation_id (and task_id, projection in workers).
LOG_FORMAT = os.environ.get("LOG_FORMAT") or ("plain" if DEBUG else "json")
LOGGING = logging_config(LOG_FORMAT, os.environ.get("LOG_LEVEL", "INFO"))
# /health/ready answers 503 when a projection is this many events behind (or stalled).
HEALTH_MAX_PROJECTION_LAG = int(os.environ.get("HEALTH_MAX_PROJECTION_LAG", "10000"))
# A writing transaction open this long anywhere on the cluster is reported as holding the
# projections back (projections/horizon.py); a command's own lasts milliseconds.
HORIZON_HOLDER_SECONDS = float(os.environ.get("HORIZON_HOLDER_SECONDS", "5"))
# Set it and /metrics needs "Authorization: Bearer <METRICS_TOKEN>"; unset, /metrics is open.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
