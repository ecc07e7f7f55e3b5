"""The README's run command, from a clean clone, with nothing configured."""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from tests.integration.feed_readers import messages
from tests.support.polling import wait_until
from tests.support.processes import ARTIFACTS, ROOT, free_port, started

pytestmark = pytest.mark.slow

# What the test process itself sets for the other tests; the zero-setup run must not see it.
CONFIGURATION = ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_DEBUG")


@pytest.fixture
def clean_clone(tmp_path) -> Path:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    return clone


@pytest.fixture
def installed_venv(tmp_path) -> Path:
    """This run's installed environment, presented to make as already installed.

    CI installs from pyproject.toml on every run, so the install step is covered there; here
    the clone reuses it rather than downloading everything a second time.
    """
    installed = Path(sys.prefix)
    venv = tmp_path / "venv"
    venv.mkdir()
    for part in ("bin", "lib", "pyvenv.cfg"):
        (venv / part).symlink_to(installed / part)
    (venv / ".installed").touch()
    return venv


def test_make_run_serves_commands_on_the_embedded_default(clean_clone, installed_venv):
    env = {k: v for k, v in os.environ.items() if k not in CONFIGURATION}
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    make = ["make", "run", f"PORT={port}", f"VENV={installed_venv}"]

    with started(make, {**env, "PWD": str(clean_clone)}, f"make-run-{port}", cwd=clean_clone) as process:

        def answers() -> bool:
            assert process.poll() is None, f"make run exited; see test-artifacts/make-run-{port}.log"
            try:
                return requests.get(f"{base_url}/api/products/", timeout=2).status_code < 500
            except requests.ConnectionError:
                return False

        wait_until(answers, timeout=120, interval=0.5, what="make run to serve")
        # `make user` as a script runs it: no terminal, the password from the environment.
        make_user = ["make", "-s", "user", f"VENV={installed_venv}"]
        user_env = {**env, "DJANGO_SUPERUSER_PASSWORD": "a-long-dev-password"}
        token = subprocess.run(
            make_user, cwd=clean_clone, env=user_env, stdin=subprocess.DEVNULL, check=True, capture_output=True, text=True
        ).stdout.strip()
        again = subprocess.run(
            make_user, cwd=clean_clone, env=env, stdin=subprocess.DEVNULL, check=True, capture_output=True, text=True
        ).stdout.strip()
        assert re.fullmatch(r"[0-9a-f]{40}", token), token
        assert again == token  # an existing user gets the token it has

        # The admin is styled: its stylesheet is served.
        login = requests.get(f"{base_url}/admin/login/", timeout=10).text
        stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+base\.css)"', login)[1]
        css = requests.get(base_url + stylesheet, timeout=10)
        assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")

        response = requests.post(
            f"{base_url}/api/products/",
            json={"sku": "KETTLE-01", "name": "Kettle", "category": "Kitchen", "price": "24.90", "currency": "EUR"},
            headers={"Authorization": f"Token {token}"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        # The worker and beat started with it: the product can be read back, waiting for the projection.
        read_back = requests.get(
            base_url + response.headers["Location"],
            params={"min_position": response.json()["position"]},
            timeout=15,
        )
        # The change feed streams on the embedded default too (SQLite: the hub polls the log).
        with requests.get(f"{base_url}/api/events/stream/", params={"after": "0-0"}, stream=True, timeout=(5, 15),
                          headers={"Authorization": f"Token {token}", "Accept": "text/event-stream"}) as stream:
            assert stream.status_code == 200, stream.text
            followed = next(m for m in messages(stream) if "data" in m)
        # So do the product changes, over SSE and WebSocket, and the page that follows them.
        with requests.get(f"{base_url}/api/products/changes/", params={"after": "0-0"}, stream=True, timeout=(5, 15),
                          headers={"Accept": "text/event-stream"}) as stream:
            assert stream.status_code == 200, stream.text
            changed = next(m for m in messages(stream) if "data" in m)
        with connect(base_url.replace("http://", "ws://") + "/ws/products/changes/?after=0-0", proxy=None,
                     open_timeout=10) as socket:
            frame = json.loads(socket.recv(timeout=15))
        live_page = requests.get(f"{base_url}/products/live/", timeout=10)
        # Ctrl-C, as a terminal sends it: to make's whole process group.
        os.killpg(process.pid, signal.SIGINT)
        process.wait(30)

    assert read_back.status_code == 200, read_back.text
    assert read_back.json()["sku"] == "KETTLE-01"
    assert followed["event"] == "ProductRegistered" and '"KETTLE-01"' in followed["data"]
    assert changed["event"] == "product.changed" and json.loads(changed["data"]) == read_back.json()
    assert frame == {"id": changed["id"], "event": "product.changed", "data": read_back.json()}
    assert live_page.status_code == 200 and "/api/products/changes/" in live_page.text
    assert (clean_clone / "var" / "catalog.sqlite3").exists()
    log = (ARTIFACTS / f"make-run-{port}.log").read_text(errors="replace")
    assert "Warm shutdown" in log  # the worker was stopped, not killed
    complaints = [line for line in log.splitlines() if re.search(r"\b(ERROR|CRITICAL)\b|Traceback|No hostname was supplied", line)]
    assert complaints == [], "\n".join(complaints)
