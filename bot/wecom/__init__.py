"""WeCom (企业微信) channel: callback crypto, inbound parsing, callback endpoint, API client."""
