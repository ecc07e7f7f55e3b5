"""Entry point: `python -m bench.run [--only NAME ...] [--quick]`.

A full run measures every benchmark on this machine, merges the figures into
bench/results/latest.json and writes docs/BENCHMARKS.md from it. `--quick` runs reduced sizes
as a smoke check and writes var/bench/quick.json instead (never the committed figures).
`--only` runs some benchmarks and keeps the others' last figures in the results file.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from .common import LATEST, LOG_DIR, QUICK, REPORT, Run, load_results, log, machine_info, wait_for_quiet, write_results

# In the order they run (and appear in the report).
BENCHMARKS = ["commands_http", "appends", "projections", "freshness", "rebuild", "queries", "upcasting", "sustained",
              "feed", "webhooks"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, metavar="NAME",
                        help=f"run only these benchmarks ({', '.join(BENCHMARKS)})")
    parser.add_argument("--quick", action="store_true", help="reduced sizes and durations: a smoke check")
    parser.add_argument("--output", type=Path, help="results JSON (default: bench/results/latest.json, "
                                                     "or var/bench/quick.json with --quick)")
    parser.add_argument("--report", type=Path, help="Markdown report to write (default: docs/BENCHMARKS.md "
                                                     "for a full run, none with --quick)")
    parser.add_argument("--no-report", action="store_true", help="write no Markdown report")
    parser.add_argument("--quiet-wait", type=float, default=10.0, metavar="SECONDS",
                        help="before each benchmark, wait up to this long for other processes to leave the CPU "
                             "(default 10; the load found is recorded either way)")
    options = parser.parse_args(argv)

    # Quick figures are a smoke check, never committed: they go under var/ (ignored by git).
    output = options.output or (QUICK if options.quick else LATEST)
    report = None if options.no_report else (options.report or (None if options.quick else REPORT))
    names = options.only or BENCHMARKS
    command = "python -m bench.run" + (" " + " ".join(map(shlex.quote, argv if argv is not None else sys.argv[1:]))
                                       if (argv if argv is not None else sys.argv[1:]) else "")

    _prune_logs()
    results = load_results(output)
    results.setdefault("benchmarks", {})
    failed = []
    started = time.monotonic()
    with Run(quick=options.quick) as ctx:
        results["machine"] = machine_info()
        for name in names:
            log(f"=== {name} ===")
            quiet = wait_for_quiet(max_wait=min(options.quiet_wait, 5) if options.quick else options.quiet_wait)
            t0 = time.monotonic()
            try:
                module = importlib.import_module(f"bench.{name}")
                figures = module.run(ctx)
            except Exception as error:  # one broken benchmark must not lose the others' figures
                traceback.print_exc()
                figures = {"error": f"{type(error).__name__}: {error}"}
                failed.append(name)
            figures["wall_seconds"] = round(time.monotonic() - t0, 1)
            figures["measured_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            figures["quick"] = options.quick
            figures["load_before"] = quiet
            figures["code"] = results["machine"].get("code")  # what this benchmark measured
            figures["cpu_model"] = results["machine"].get("cpu_model")  # on which host, when runs mix hosts
            results["benchmarks"][name] = figures
            write_results(output, results)  # after each benchmark: a later failure keeps these
            log(f"{name} took {figures['wall_seconds']:.0f} s")
    results["last_run"] = {
        "command": command,
        "benchmarks": names,
        "quick": options.quick,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    if names == BENCHMARKS and not options.quick:
        results["last_full_run"] = results["last_run"]  # how long the whole suite takes
    # The benchmarks run in the order above whatever order --only named them.
    results["benchmarks"] = {name: results["benchmarks"][name] for name in BENCHMARKS if name in results["benchmarks"]}
    write_results(output, results)
    log(f"results written to {os.path.relpath(output)}")
    if report:
        from .report import write_report

        write_report(results, report)
        log(f"report written to {os.path.relpath(report)}")
    log(f"total {results['last_run']['wall_seconds']:.0f} s; process logs in {os.path.relpath(LOG_DIR)}")
    if failed:
        log(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


def _prune_logs(keep: int = 5) -> None:
    """Keep the process logs of the last few runs only (var/bench-logs/<run>/)."""
    import shutil

    from .common import LOG_DIR, LOG_ROOT

    if not LOG_ROOT.exists():
        return
    runs = sorted((p for p in LOG_ROOT.iterdir() if p.is_dir() and p != LOG_DIR), key=lambda p: p.stat().st_mtime)
    for old in runs[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    for stray in LOG_ROOT.glob("*.log"):  # from before logs had a folder per run
        stray.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
