"""Tests that drive the CSS pack with the real Huawei Cloud SDK.

The SDK computes its User-Agent when ``huaweicloudsdkcore.http.user_agent`` is first imported, and
writes ``$HOME/.huaweicloud/application_id`` at that moment. Importing it here, before any test
module of this package imports the SDK, keeps that file in a scratch folder instead of the real
home directory.
"""

from __future__ import annotations

import os
import tempfile
from unittest import mock

with tempfile.TemporaryDirectory() as _home, mock.patch.dict(os.environ, {"HOME": _home}):
    import huaweicloudsdkcore.http.user_agent  # noqa: F401
