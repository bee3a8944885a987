"""Web settings: the proxies whose X-Forwarded-Proto is believed, parsed and checked once."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from bot.settings import SettingsError, load_settings


def test_trusted_proxies_are_addresses_and_networks_separated_by_commas():
    s = load_settings(
        {"XINFANG_WEB": "true", "XINFANG_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8,::1"}
    )
    assert s.web is not None
    assert s.web.trusted_proxies == (
        ip_network("127.0.0.1/32"),
        ip_network("10.0.0.0/8"),
        ip_network("::1/128"),
    )


def test_no_proxy_is_trusted_unless_one_is_named():
    s = load_settings({"XINFANG_WEB": "true"})
    assert s.web is not None and s.web.trusted_proxies == ()


@pytest.mark.parametrize("value", ["proxy.internal", "10.0.0.0/33", "127.0.0.1;10.0.0.1"])
def test_a_trusted_proxy_that_is_no_address_is_refused_with_the_setting_named(value):
    with pytest.raises(SettingsError, match="XINFANG_TRUSTED_PROXIES") as raised:
        load_settings({"XINFANG_WEB": "true", "XINFANG_TRUSTED_PROXIES": value})
    assert repr(value) in str(raised.value)
