"""The look-up turn benchmark runs end to end on a tiny load and prints its figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_turn_cpu_benchmark_prints_cpu_wall_and_statements_per_look_up() -> None:
    command = [sys.executable, "-m", "bench.turn_cpu", "--petitions", "4", "--senders", "4"]
    command += ["--turns", "20", "--concurrency", "4", "--repeat", "1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    lines = [
        line for line in out.splitlines() if line.lstrip().startswith(("sequential", "concurrent"))
    ]
    assert len(lines) == 2, out
    for line in lines:
        cpu = re.search(r"CPU\s+([\d.]+) ms/turn", line)
        sql = re.search(r"SQL\s+([\d.]+)/turn", line)
        assert cpu is not None and float(cpu.group(1)) > 0, line
        # Every look-up ran SQL (a case read, the claim, the conversation).
        assert sql is not None and float(sql.group(1)) >= 3, line
