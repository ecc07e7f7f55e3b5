"""The benchmark suite still runs: its smallest appends benchmark produces figures.

Only that figures were produced is checked, never what they are: timing never goes into the
tests (the figures live in bench/results/ and docs/BENCHMARKS.md, from `make bench`).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import settings as test_settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmarks_share_the_tests_helpers_without_pytest_or_the_test_settings():
    """bench/ imports tests/support's plain modules; a pytest or Django test import there would break `make bench`."""
    check = ("import sys, bench.common, bench.loadgen, bench.rebuild, bench.webhooks; "
             "print(sorted(m for m in sys.modules if m == 'pytest' or m.startswith(('tests.settings', 'django.test'))))")
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
@pytest.mark.integration
def test_quick_appends_benchmark_produces_figures(tmp_path):
    output = tmp_path / "quick.json"
    env = {**os.environ, "BENCH_POSTGRES_URL": test_settings.POSTGRES_URL,
           "BENCH_RABBITMQ_URL": test_settings.RABBITMQ_URL}
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--only", "appends", "--quick", "--output", str(output), "--no-report"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(output.read_text())["benchmarks"]["appends"]
    assert "error" not in figures
    assert [row["writers"] for row in figures["rows"]] == [1, 4]
    for row in figures["rows"]:
        assert row["eventstore_per_s"] > 0
        assert row["raw_insert_per_s"] > 0
    assert {t["name"] for t in figures["targets"]} >= {"append rate at 4 writers vs raw INSERT"}
