# One image for every service of docker-compose.yml: migrate, command, query, worker, beat, flower.
FROM python:3.11-slim

# CATALOG_VAR_DIR: writable state (beat's schedule, collected static files), not site-packages.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CATALOG_VAR_DIR=/app/var

WORKDIR /app
RUN groupadd --system --gid 10001 catalog \
    && useradd --system --uid 10001 --gid catalog --home-dir /app --no-create-home catalog

COPY . .
# The project with its pinned dependencies, and Flower (the `flower` extra).
# Then the admin's and the browsable API's static files, served by WhiteNoise without DEBUG.
RUN pip install ".[flower]" \
    && DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && mkdir -p /app/var /tmp/prometheus \
    && chown -R catalog:catalog /app/var /tmp/prometheus

USER catalog
EXPOSE 8000
CMD ["gunicorn", "project.wsgi:application", "--config", "deploy/gunicorn.conf.py"]
