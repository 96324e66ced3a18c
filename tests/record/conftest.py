"""The real upstreams of tests/proxy (httpbin, a resetting one, a refused port), for recording them."""

from __future__ import annotations

from tests.proxy.conftest import httpbin_url, refused_url, resetting_upstream

__all__ = ["httpbin_url", "refused_url", "resetting_upstream"]
