"""The portal's API (/api/v1/, docs/api.md) over one requests Session: the token, retries of
calls that never reached the portal, 429's Retry-After, and HTTP answers turned into exit codes."""

from __future__ import annotations

import os
import time

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from wes_cli.errors import FAILED, NETWORK, CliError, code_for_status

USER_AGENT = "wes-cli/0.1"
RATE_LIMIT_WAITS = 5
TIMEOUT = (10, 120)          # connect, read (seconds)


def retries() -> int:
    """How often a call that did not get through is tried again (with backoff 0.5, 1, 2, 4, 8 s
    for the default 5: ~15 s of a dropped network is ridden out); $WES_RETRIES sets it."""
    try:
        return max(0, int(os.environ.get("WES_RETRIES", "5")))
    except ValueError:
        return 5


def retrying_session(pool_size: int = 10) -> requests.Session:
    """A Session that retries connection failures (the request never arrived, so any method is
    safe to send again) and, for idempotent methods, 502/503/504 with backoff."""
    count = retries()
    retry = Retry(total=count, connect=count, read=min(2, count), status=min(3, count),
                  backoff_factor=0.5,
                  status_forcelist=(502, 503, 504), raise_on_status=False,
                  allowed_methods=frozenset({"GET", "PUT", "DELETE", "HEAD"}))
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def error_message(response: requests.Response) -> str:
    """The contract's `{"errors": [{"field", "message"}]}` as one line."""
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        errors = None
    if isinstance(errors, list) and errors:
        return "; ".join(f"{e['field']}: {e['message']}" if e.get("field") else e.get("message", "")
                         for e in errors if isinstance(e, dict))
    if isinstance(errors, dict):   # the browser API's {"field": [messages]} shape
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
    return f"HTTP {response.status_code} {response.reason}"


class Api:
    def __init__(self, url: str, token: str, lab: str | None = None, *, pool_size: int = 10):
        self.url = url.rstrip("/")
        self.lab = lab
        self.session = retrying_session(pool_size)
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers["Accept"] = "application/json"

    def lab_path(self, path: str) -> str:
        return f"/labs/{self.lab}/{path.lstrip('/')}"

    def request(self, method: str, path: str, *, json: dict | None = None,
                params: dict | None = None, ok=(200, 201, 202)) -> dict:
        url = f"{self.url}/api/v1{path}"
        for attempt in range(RATE_LIMIT_WAITS + 1):
            try:
                response = self.session.request(method, url, json=json, params=params,
                                                timeout=TIMEOUT)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise CliError(NETWORK, f"The portal at {self.url} could not be reached "
                                        f"({type(exc).__name__}).") from exc
            except requests.RequestException as exc:   # a malformed URL or token, ...
                raise CliError(FAILED, f"Cannot call the portal at {self.url}: {exc}") from exc
            if response.status_code == 429 and attempt < RATE_LIMIT_WAITS:
                time.sleep(float(response.headers.get("Retry-After") or 1))
                continue
            break
        if response.status_code not in ok:
            raise CliError(code_for_status(response.status_code), error_message(response),
                           details={"status": response.status_code, "path": path})
        try:
            return response.json() if response.content else {}
        except ValueError:
            raise CliError(NETWORK, f"The portal answered {method} {path} with something that is "
                                    f"not JSON (HTTP {response.status_code}); is --url the "
                                    f"portal's address?") from None

    def get(self, path: str, **params) -> dict:
        return self.request("GET", self.lab_path(path), params=params or None)

    def post(self, path: str, body: dict | None = None) -> dict:
        return self.request("POST", self.lab_path(path), json=body or {})

    def delete(self, path: str) -> dict:
        return self.request("DELETE", self.lab_path(path))

    def labs(self) -> list[dict]:
        return self.request("GET", "/labs")["items"]
