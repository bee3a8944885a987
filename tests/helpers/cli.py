"""The ``xinfang`` command line in English, for tests that assert its English output.

The CLI speaks zh_CN unless XINFANG_DEFAULT_LOCALE says otherwise (bot/cli/common.py). A
test module that asserts English output imports the fixture::

    from tests.helpers.cli import english_cli  # noqa: F401 - the CLI in English
"""

from __future__ import annotations

import pytest

__all__ = ["english_cli"]


# Fixtures of the CLI test modules that clear every XINFANG_* variable for a clean
# deployment: they must run before the language is set, or they would clear it too.
_ENVIRONMENT_FIXTURES = ("deployment", "use")


@pytest.fixture(autouse=True)
def english_cli(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test of the importing module runs the CLI with XINFANG_DEFAULT_LOCALE=en."""
    for name in _ENVIRONMENT_FIXTURES:
        if name in request.fixturenames:
            request.getfixturevalue(name)
    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "en")
