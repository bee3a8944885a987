"""The chart's Chinese font is found from its file, also when it was installed after
matplotlib built its font cache (which lists only the fonts of its first run)."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib
import pytest
from fontTools.ttLib import TTFont
from matplotlib import font_manager

from bot import stats_chart
from bot.stats_chart import cjk_font

LATE_FAMILY = "Xinfang Late CJK Test"


@pytest.fixture
def fresh_lookup():
    """Forget the looked-up font before and after the test."""
    cjk_font.cache_clear()
    yield
    cjk_font.cache_clear()


def _font_installed_after_the_cache(tmp_path: Path) -> Path:
    # A real font file under a family name no cache has ever seen.
    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    font = TTFont(str(source))
    for record in font["name"].names:
        if record.nameID in (1, 4, 16):
            record.string = LATE_FAMILY
    target = tmp_path / "late-cjk.ttf"
    font.save(str(target))
    return target


def test_a_font_installed_after_the_cache_was_built_is_used(tmp_path, monkeypatch, fresh_lookup):
    path = _font_installed_after_the_cache(tmp_path)
    # The process-wide font list gets the test's font only for the test.
    manager = font_manager.fontManager
    monkeypatch.setattr(manager, "ttflist", list(manager.ttflist))
    assert LATE_FAMILY not in {f.name for f in font_manager.fontManager.ttflist}
    monkeypatch.setattr(stats_chart, "CJK_FONT_FILES", ("/nonexistent/wqy.ttc", str(path)))
    assert cjk_font() == LATE_FAMILY
    found = font_manager.findfont(
        font_manager.FontProperties(family=LATE_FAMILY), fallback_to_default=False
    )
    assert Path(found) == path


def test_with_no_known_font_file_nor_cached_font_one_warning_is_logged(
    monkeypatch, caplog, fresh_lookup
):
    monkeypatch.setattr(stats_chart, "CJK_FONT_FILES", ("/nonexistent/wqy.ttc",))
    monkeypatch.setattr(stats_chart, "CJK_FONTS", ("No Such Font",))
    with caplog.at_level(logging.WARNING, logger="bot.stats_chart"):
        assert cjk_font() is None
        assert cjk_font() is None
    assert caplog.text.count("no CJK font found") == 1


def test_the_installed_wenquanyi_file_is_added_directly(monkeypatch, fresh_lookup):
    installed = [p for p in stats_chart.CJK_FONT_FILES if "microhei" in p and Path(p).is_file()]
    if not installed:
        pytest.skip("fonts-wqy-microhei is not installed on this machine (CI installs it)")
    added: list[str] = []
    original = font_manager.fontManager.addfont
    monkeypatch.setattr(
        font_manager.fontManager, "addfont", lambda p: (added.append(p), original(p))[1]
    )
    assert cjk_font() == "WenQuanYi Micro Hei"
    assert added == [installed[0]]
