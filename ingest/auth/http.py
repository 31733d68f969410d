"""The HTTP session the token providers hand to msal and google-auth."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import requests


class ProviderSession(requests.Session):
    """A requests Session with a timeout on every call and, when set, our own CA bundle.

    The CA bundle is passed per request: requests lets REQUESTS_CA_BUNDLE from
    the environment override a Session's `verify`, but not a request's.
    Proxies still come from the environment (HTTPS_PROXY), as usual.
    """

    def __init__(self, *, ca_file: Path | None, timeout: float) -> None:
        super().__init__()
        self._ca_file = str(ca_file) if ca_file else None
        self._timeout = timeout
        adapter = requests.adapters.HTTPAdapter(max_retries=1)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout)
        if self._ca_file is not None:
            kwargs["verify"] = self._ca_file
        return super().request(method, url, *args, **kwargs)
