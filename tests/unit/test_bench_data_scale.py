"""The data-scale benchmark (bench/data_scale.py) runs end to end on a small SQLite
database and prints every figure it promises, with a median, a maximum and a verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import data_scale


def test_a_small_run_seeds_the_cases_and_prints_every_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "figures.json"
    data_scale.main(
        ["--backend", "sqlite", "--cases", "200", "--runs", "1", "--json", str(out_json)]
    )
    printed = capsys.readouterr().out

    assert "sqlite, 200 cases" in printed
    assert "seeded in" in printed
    for label, target in data_scale.TARGETS.values():
        line = next((x for x in printed.splitlines() if x.startswith(label)), None)
        assert line is not None, f"missing figure: {label}"
        if label.startswith(("/cases", "web ledger (")) and "100th" in label:
            continue  # 200 cases have no 100th page
        assert " ms" in line or " s " in line, line
        if target is not None:
            assert line.rstrip().endswith(("✓", "✗")), line
    figures = json.loads(out_json.read_text())
    assert figures["cases"] == 200
    assert figures["figures"]["lookup_repo"]["max"] > 0
    assert 2.5 < figures["events"] / figures["cases"] < 5  # about 3.6 events per case
