"""The WeCom benchmark runs end to end on a tiny load and prints its figures (bench/README.md)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_wecom_benchmark_prints_throughput_latency_and_lookup_rate() -> None:
    command = [sys.executable, "-m", "bench.wecom_load", "--shapes", "b", "--employees", "4"]
    command += ["--seconds", "1.5", "--warmup", "0.5", "--codes", "10", "--wrong", "0.25"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for label in (
        "callbacks acknowledged/s",
        "messages handled/s",
        "reply latency p50/p95/p99 ms",
        "wrong codes: not found / throttled per s",
    ):
        assert label in out, out
    lookups = re.search(r"look-ups/s \(valid codes, status card back\)\s+([\d.]+)", out)
    assert lookups is not None and float(lookups.group(1)) > 0, out
    assert re.search(r"refused / lost / transport errors\s+0 / 0 / 0", out), out


def test_wecom_benchmark_runs_two_workers_on_postgresql_and_loses_nothing() -> None:
    pg_url = os.environ.get("XINFANG_TEST_PG_URL")
    if not pg_url:
        pytest.skip("PostgreSQL not configured (set XINFANG_TEST_PG_URL)")
    command = [sys.executable, "-m", "bench.wecom_load", "--shapes", "a", "--employees", "6"]
    command += ["--seconds", "2", "--warmup", "0.5", "--workers", "2", "--db", pg_url]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "workers=2" in out, out
    handled = re.search(r"messages handled/s \(first reply at the fake\)\s+([\d.]+)", out)
    assert handled is not None and float(handled.group(1)) > 0, out
    assert re.search(r"refused / lost / transport errors\s+0 / 0 / 0", out), out
    assert "error line(s)" not in done.stderr, done.stderr[-2000:]
