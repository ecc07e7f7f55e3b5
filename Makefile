# The two commands of the README: `make run` (the service on the embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The embedded default is for development, so the zero-setup run turns DEBUG on.
DEV_ENV := DJANGO_DEBUG=$${DJANGO_DEBUG:-1}

.PHONY: install run user test test-fast test-faults bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: install
	$(DEV_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEV_ENV) $(BIN)/python -m project.devrun --host $(HOST) --port $(PORT)

# A superuser for the admin and the browsable API, and its API token, alone on stdout. Scriptable:
# `make user USERNAME=alice PASSWORD=...` (or DJANGO_SUPERUSER_PASSWORD in the environment, which
# keeps it out of the process list) asks nothing; without a password it asks on a terminal. A user
# who exists keeps their password and gets the token they have (see products/management/commands).
USERNAME ?= $(or $(DJANGO_SUPERUSER_USERNAME),admin)
ifdef PASSWORD
# $(value ...): the password as typed, a `$` in it included.
user: export DJANGO_SUPERUSER_PASSWORD := $(value PASSWORD)
endif
user: install
	@$(DEV_ENV) $(BIN)/python manage.py api_user '$(USERNAME)'

# Every test, against the machine's PostgreSQL and RabbitMQ (see README).
test: install
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not slow and not faults"

test-faults: install
	$(BIN)/pytest -m faults

# The benchmark suite against the machine's PostgreSQL and RabbitMQ: figures into
# bench/results/latest.json and docs/BENCHMARKS.md (see there). BENCH_ARGS="--quick" for a smoke run.
# wrk is the HTTP load generator (Debian's package); without it the suite uses a Python one.
bench: install
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null 2>&1 \
		|| echo "wrk could not be installed: the Python load generator will be used"
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var
