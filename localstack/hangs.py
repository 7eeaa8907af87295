"""The rules of the `/_geoplan/hang` test hook, shared by the moto launcher
(emulator.py) and LocalStack's compatibility layer (compat.py).

`POST /_geoplan/hang?service=S&region=R&agent=A&seconds=N` holds, for N seconds, the
requests that match every filter given; `?clear=1` drops the rules. On LocalStack,
shared by the tests, a rule may also name an `account` (the caller's, from the SigV4
access key id), and `clear` may be limited to one account's rules. Standard library
only, no side effects on import.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")


def service_and_region(environ: dict) -> tuple[str, str]:
    """The AWS service and region a request is for, from the SigV4 credential scope of
    its Authorization header (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`); without
    one, the service from the path (Route 53's REST API) and no region."""
    scope = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if scope:
        return scope.group(2), scope.group(1)
    if environ.get("PATH_INFO", "").startswith("/2013-04-01/"):
        return "route53", ""
    return "", ""


class Hangs:
    """The rules of `/_geoplan/hang`: each holds the requests matching all its filters
    (None matches anything) until its deadline. A held request waits on the condition,
    so it is released as soon as its last matching rule expires or is cleared.

    The caller of `hold` blocks: each request must be served on a thread of its own
    (moto's threaded werkzeug server; LocalStack's gateway thread pool)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        # dicts: service, region, agent, account (str or None), until (time.monotonic())
        self.rules: list[dict[str, Any]] = []

    def add(
        self,
        service: str | None,
        region: str | None,
        agent: str | None,
        seconds: float,
        account: str | None = None,
    ) -> None:
        with self.cond:
            self.rules.append(
                {
                    "service": service,
                    "region": region,
                    "agent": agent,
                    "account": account,
                    "until": time.monotonic() + seconds,
                }
            )
            self.cond.notify_all()

    def clear(self, account: str | None = None) -> None:
        """Drops every rule, or with `account` only the rules that name that account."""
        with self.cond:
            if account is None:
                self.rules.clear()
            else:
                self.rules[:] = [rule for rule in self.rules if rule["account"] != account]
            self.cond.notify_all()

    def hold(self, environ: dict, account: str | None = None) -> None:
        """Returns once no active rule matches the request (a WSGI environ: its
        Authorization, User-Agent, X-Amz-User-Agent and path); `account` is the
        caller's, which a rule without one ignores."""
        with self.cond:
            if not self.rules:
                return
            service, region = service_and_region(environ)
            agent = environ.get("HTTP_USER_AGENT", "") + "\n" + environ.get("HTTP_X_AMZ_USER_AGENT", "")

            def matches(rule: dict[str, Any]) -> bool:
                return (
                    (rule["service"] is None or rule["service"] == service)
                    and (rule["region"] is None or rule["region"] == region)
                    and (rule["agent"] is None or rule["agent"] in agent)
                    and (rule["account"] is None or rule["account"] == account)
                )

            while True:
                now = time.monotonic()
                self.rules[:] = [rule for rule in self.rules if rule["until"] > now]
                until = max((rule["until"] for rule in self.rules if matches(rule)), default=None)
                if until is None:
                    return
                # Woken early by a new rule or a clear: the loop looks again.
                self.cond.wait(until - now)
