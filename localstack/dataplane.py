"""Route 53's data plane, which moto does not have: health checkers that probe, and the
DNS answers they steer.

moto stores health checks and records but never evaluates them: its
`GetHealthCheckStatus` always answers "Success" and it has no `TestDNSAnswer`. So no
test could see what a flip changes where clients look. This module adds, inside the
emulator process, over moto's own Route 53 objects:

* **Health checkers.** Every `HTTP`, `HTTPS`, `HTTP_STR_MATCH`, `HTTPS_STR_MATCH` and
  `TCP` check is probed at its `RequestInterval` (or the interval a test sets with
  `POST /_geoplan/dataplane?interval=S`). A status changes after `FailureThreshold`
  results in a row the other way, and a new check is healthy until then (Route 53
  developer guide, "How Amazon Route 53 determines whether a health check is
  healthy"). `GetHealthCheckStatus` reports the checker's last result.
* **Evaluation**, as the developer guide's "Health checks" and "Calculated health
  checks" describe: `Disabled` is healthy; `Inverted` turns healthy into unhealthy and
  back (after `Disabled`, so a disabled, inverted check is unhealthy: "If you want to
  stop routing traffic to a resource, change the value of Inverted"); a `CALCULATED`
  check is healthy when at least `HealthThreshold` of its children are.
* **DNS answers** (`GET /2013-04-01/testdnsanswer`), by the records' routing, with the
  rules of "How Amazon Route 53 chooses records when health checking is configured":
  a record whose health check is unhealthy is skipped; when every record of the name
  and type is unhealthy, Route 53 answers as if all were healthy; failover answers the
  primary while it is healthy, else a healthy secondary, else the primary; latency
  answers the nearest healthy region for the client subnet (the test says which is
  nearest with `POST /_geoplan/dataplane?subnet=10.1.0.0/16&regions=eu-west-1,us-east-1`);
  weighted picks among the healthy by weight; a record without a health check is
  healthy.

Not modelled: checker regions (one checker stands for all, so the 18% rule is
moot), latency measurement, geolocation routing, and the state of
`CLOUDWATCH_METRIC` and `RECOVERY_CONTROL` checks (they count as healthy).
"""

from __future__ import annotations

import http.client
import ipaddress
import random
import socket
import ssl
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterator
from xml.sax.saxutils import escape

XMLNS = "https://route53.amazonaws.com/doc/2013-04-01/"
ENDPOINT_TYPES = {"HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP"}


class _Checker:
    """One endpoint check's checker: its status and the streak of results against it."""

    def __init__(self) -> None:
        self.healthy = True  # a new check is healthy until the threshold says otherwise
        self.streak = 0
        self.next_at = 0.0
        self.busy = False
        self.report: str | None = None
        self.checked: datetime | None = None


def _norm(name: str) -> str:
    return name.lower().rstrip(".")


def _values(record: Any) -> list[str]:
    out = []
    for r in record.records or []:
        out.append(r["Value"] if isinstance(r, dict) else str(r))
    return out


class DataPlane:
    """Health checkers and DNS answers over moto's Route 53 backends (`backends()` yields
    every account's backend)."""

    def __init__(self, backends: Callable[[], Iterator[Any]]) -> None:
        self.backends = backends
        self.lock = threading.Lock()
        self.checkers: dict[str, _Checker] = {}
        self.interval: float | None = None
        # (subnet, regions nearest first), most specific first when asked
        self.nearest: list[tuple[Any, list[str]]] = []
        self.rng = random.Random(0)
        threading.Thread(target=self._run, name="route53-checkers", daemon=True).start()

    # ------------------------------------------------------------------ hooks

    def configure(self, query: dict[str, str]) -> None:
        """`interval=S` sets every checker's interval (absent: each check's own);
        `subnet=CIDR&regions=a,b` says which regions are nearest to clients there."""
        with self.lock:
            if "interval" in query:
                value = query["interval"]
                self.interval = float(value) if value not in ("", "0") else None
                for c in self.checkers.values():
                    c.next_at = 0.0
            if "subnet" in query:
                net = ipaddress.ip_network(query["subnet"], strict=False)
                regions = [r for r in query.get("regions", "").split(",") if r]
                self.nearest = [(n, r) for n, r in self.nearest if n != net] + [(net, regions)]

    # ------------------------------------------------------------- checkers

    def _checks(self) -> Iterator[tuple[Any, Any]]:
        for backend in self.backends():
            for check in list(backend.health_checks.values()):
                yield backend, check

    def _run(self) -> None:
        while True:
            now = time.monotonic()
            for _, check in self._checks():
                if (check.type_ or "") not in ENDPOINT_TYPES:
                    continue
                with self.lock:
                    c = self.checkers.setdefault(check.id, _Checker())
                    if c.busy or now < c.next_at:
                        continue
                    c.busy = True
                    interval = self.interval or float(check.request_interval or 30)
                    c.next_at = now + interval
                threading.Thread(target=self._probe, args=(check, c, interval), daemon=True).start()
            time.sleep(0.02)

    def _probe(self, check: Any, c: _Checker, interval: float) -> None:
        ok, report = _probe(check, timeout=min(4.0, max(interval, 0.05)))
        with self.lock:
            c.busy = False
            c.report = report
            c.checked = datetime.now(timezone.utc)
            if ok == c.healthy:
                c.streak = 0
                return
            c.streak += 1
            if c.streak >= int(check.failure_threshold or 3):
                c.healthy = ok
                c.streak = 0

    # ----------------------------------------------------------- evaluation

    def find_check(self, check_id: str) -> tuple[Any, Any] | None:
        for backend, check in self._checks():
            if check.id == check_id:
                return backend, check
        return None

    def healthy(self, backend: Any, check_id: str, depth: int = 0) -> bool:
        check = backend.health_checks.get(check_id)
        if check is None or depth > 8:
            return True
        kind = check.type_ or ""
        if check.disabled:
            raw = True
        elif kind == "CALCULATED":
            children = check.children or []
            up = sum(1 for child in children if self.healthy(backend, child, depth + 1))
            raw = up >= int(check.health_threshold or 0)
        elif kind in ENDPOINT_TYPES:
            with self.lock:
                c = self.checkers.get(check.id)
                raw = True if c is None else c.healthy
        else:
            raw = True
        return not raw if check.inverted else raw

    def status_xml(self, check_id: str) -> tuple[int, str]:
        found = self.find_check(check_id)
        if found is None:
            return 404, _error("NoSuchHealthCheck", f"A health check with id {check_id} does not exist.")
        _, check = found
        if (check.type_ or "") not in ENDPOINT_TYPES:
            # "You can't use GetHealthCheckStatus to get the status of a calculated
            # health check" (API reference, GetHealthCheckStatus).
            return 400, _error("InvalidInput", f"{check.type_} health checks have no checker status.")
        with self.lock:
            c = self.checkers.get(check.id)
            report, checked = (c.report, c.checked) if c else (None, None)
        obs = ""
        if report is not None and checked is not None:
            obs = (
                "<HealthCheckObservation><Region>us-east-1</Region>"
                f"<IPAddress>127.0.0.1</IPAddress><StatusReport><Status>{escape(report)}</Status>"
                f"<CheckedTime>{checked.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z</CheckedTime>"
                "</StatusReport></HealthCheckObservation>"
            )
        return 200, (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<GetHealthCheckStatusResponse xmlns="{XMLNS}">'
            f"<HealthCheckObservations>{obs}</HealthCheckObservations></GetHealthCheckStatusResponse>"
        )

    # ---------------------------------------------------------- DNS answers

    def regions_nearest(self, client: str | None) -> list[str]:
        with self.lock:
            nearest = list(self.nearest)
        if client:
            try:
                ip = ipaddress.ip_address(client.split("/")[0])
            except ValueError:
                ip = None
            if ip is not None:
                matches = [(n, r) for n, r in nearest if ip.version == n.version and ip in n]
                if matches:
                    return max(matches, key=lambda m: m[0].prefixlen)[1]
        return []

    def answer(self, zone_id: str, name: str, rtype: str, client: str | None) -> tuple[str, list[str]]:
        """(response code, values) of a query for `name` `rtype` in the zone."""
        zone_id = zone_id.split("/")[-1]
        for backend in self.backends():
            zone = backend.zones.get(zone_id)
            if zone is not None:
                return self._answer(backend, zone, _norm(name), rtype.upper(), client, 0)
        return "SERVFAIL", []

    def _answer(self, backend: Any, zone: Any, name: str, rtype: str, client: str | None, depth: int) -> tuple[str, list[str]]:
        rrsets = [r for r in list(zone.rrsets) if _norm(r.name) == name]
        if not rrsets:
            return "NXDOMAIN", []
        of_type = [r for r in rrsets if (r.type or "").upper() == rtype]
        if not of_type:
            cname = [r for r in rrsets if (r.type or "").upper() == "CNAME"]
            return ("NOERROR", _values(cname[0])) if cname else ("NOERROR", [])
        chosen = self.choose(backend, zone, of_type, client, depth)
        return "NOERROR", chosen

    def _record_healthy(self, backend: Any, zone: Any, record: Any, client: str | None, depth: int) -> bool:
        if record.health_check_id and not self.healthy(backend, record.health_check_id):
            return False
        alias = record.alias_target or {}
        if alias and str(alias.get("EvaluateTargetHealth", "")).lower() == "true" and depth < 8:
            target = _norm(alias.get("DNSName", ""))
            _, values = self._answer(backend, zone, target, (record.type or "").upper(), client, depth + 1)
            return bool(values)
        return True

    def _record_values(self, backend: Any, zone: Any, record: Any, client: str | None, depth: int) -> list[str]:
        alias = record.alias_target or {}
        if alias and depth < 8:
            target = _norm(alias.get("DNSName", ""))
            if any(_norm(r.name) == target for r in zone.rrsets):
                return self._answer(backend, zone, target, (record.type or "").upper(), client, depth + 1)[1]
            return [target]
        return _values(record)

    def choose(self, backend: Any, zone: Any, records: list[Any], client: str | None, depth: int) -> list[str]:
        healthy = [r for r in records if self._record_healthy(backend, zone, r, client, depth)]
        # "If all the records ... are unhealthy, Route 53 responds to DNS queries using
        # all the records" (fail-open).
        pool = healthy or records
        values = lambda r: self._record_values(backend, zone, r, client, depth)  # noqa: E731
        if any(r.failover for r in records):
            primary = [r for r in records if (r.failover or "").upper() == "PRIMARY"]
            secondary = [r for r in records if (r.failover or "").upper() == "SECONDARY"]
            for r in primary + secondary:
                if r in healthy:
                    return values(r)
            return values(primary[0]) if primary else values(records[0])
        if any(r.region for r in records):
            order = self.regions_nearest(client)
            rank = {region: i for i, region in enumerate(order)}
            best = min(pool, key=lambda r: (rank.get(r.region, len(rank)), r.region or ""))
            return values(best)
        if any(r.weight is not None for r in records):
            weighted = [r for r in pool if int(r.weight or 0) > 0] or pool
            total = sum(int(r.weight or 0) for r in weighted)
            if total <= 0:
                return values(self.rng.choice(weighted))
            pick = self.rng.uniform(0, total)
            for r in weighted:
                pick -= int(r.weight or 0)
                if pick <= 0:
                    return values(r)
            return values(weighted[-1])
        if any(r.multi_value_answer for r in records):
            out: list[str] = []
            for r in pool[:8]:
                out += values(r)
            return out
        return values(records[0])

    def answer_xml(self, query: dict[str, str]) -> tuple[int, str]:
        for field in ("hostedzoneid", "recordname", "recordtype"):
            if not query.get(field):
                return 400, _error("InvalidInput", f"{field} is required")
        client = query.get("edns0clientsubnetip") or query.get("resolverip")
        code, values = self.answer(query["hostedzoneid"], query["recordname"], query["recordtype"], client)
        data = "".join(f"<RecordDataEntry>{escape(v)}</RecordDataEntry>" for v in values)
        return 200, (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<TestDNSAnswerResponse xmlns="{XMLNS}">'
            f"<Nameserver>ns-geoplan.emulator</Nameserver><RecordName>{escape(query['recordname'])}</RecordName>"
            f"<RecordType>{escape(query['recordtype'])}</RecordType><RecordData>{data}</RecordData>"
            f"<ResponseCode>{code}</ResponseCode><Protocol>UDP</Protocol></TestDNSAnswerResponse>"
        )


def _error(code: str, message: str) -> str:
    return (
        f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{escape(message)}</Message></Error></ErrorResponse>"
    )


def _probe(check: Any, timeout: float) -> tuple[bool, str]:
    """One probe as a Route 53 checker makes it: TCP connects; HTTP(S) wants a 2xx or 3xx
    status (and for *_STR_MATCH the search string in the first 5,120 bytes)."""
    kind = check.type_ or ""
    host = check.ip_address or check.fqdn or ""
    port = int(check.port or (443 if kind.startswith("HTTPS") else 80))
    start = time.monotonic()
    try:
        if kind == "TCP":
            socket.create_connection((host, port), timeout=timeout).close()
            return True, "Success: TCP connection established"
        if kind.startswith("HTTPS"):
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            headers = {"Host": check.fqdn or host, "User-Agent": "Amazon-Route53-Health-Check-Service"}
            conn.request("GET", check.resource_path or "/", headers=headers)
            resp = conn.getresponse()
            body = resp.read(5120)
        finally:
            conn.close()
        if not 200 <= resp.status < 400:
            return False, f"Failure: HTTP Status Code {resp.status}, {resp.reason}"
        if kind.endswith("STR_MATCH") and (check.search_string or "").encode() not in body:
            return False, "Failure: the search string was not found in the response body"
        return True, f"Success: HTTP Status Code {resp.status}, {resp.reason}"
    except (OSError, http.client.HTTPException) as e:
        waited = time.monotonic() - start
        return False, f"Failure: {type(e).__name__} after {waited:.2f}s: {e}"
