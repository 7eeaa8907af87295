"""Route 53's data plane, which moto (and so LocalStack, whose Route 53 is moto's) does
not have: health checkers that probe, and the DNS answers they steer. Served by
emulator.py (moto) and, in LocalStack's process, by compat.py (`serve_data_plane`).

moto stores health checks and records but never evaluates them: its
`GetHealthCheckStatus` always answers "Success" and it has no `TestDNSAnswer`. So no
test could see what a flip changes where clients look. This module adds, inside the
emulator's process, over moto's own Route 53 objects:

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
  check is healthy when at least `HealthThreshold` of its children are; a
  `RECOVERY_CONTROL` check is healthy iff its ARC routing control is On ("If the
  routing control state is ON, the health check is considered healthy. If the state
  is OFF, the health check is considered unhealthy", API reference, HealthCheckConfig),
  read at each evaluation, so calculated parents, TestDNSAnswer and DNS follow a
  routing control update at once. A check whose routing control does not exist
  (deleted, or never created) has no state that is On, so it is unhealthy.
* **DNS answers** (`GET /2013-04-01/testdnsanswer`, and DNS itself on a UDP port),
  by the records' routing, with the
  rules of "How Amazon Route 53 chooses records when health checking is configured":
  a record whose health check is unhealthy is skipped; when every record of the name
  and type is unhealthy, Route 53 answers as if all were healthy; failover answers the
  primary while it is healthy, else a healthy secondary, else the primary; latency
  answers the nearest healthy region for the client subnet (the test says which is
  nearest with `POST /_geoplan/dataplane?subnet=10.1.0.0/16&regions=eu-west-1,us-east-1`);
  weighted picks among the healthy by weight; a record without a health check is
  healthy; an alias that evaluates target health is healthy while one of its target
  records in the zone is.

Runs over moto 5.2.1's objects (`emulator.py`) and over moto-ext's inside LocalStack
(`compat.py`), which name a few fields differently (see `_rtype`, `_check_of`,
`_multivalue`) and keep the XML's "true"/"false" strings (see `_bool`). The test knobs
(`configure`) can be scoped to one account, so that tests sharing one LocalStack, each
in its own account, do not steer one another's checkers and answers.

Not modelled: checker regions (one checker stands for all, so the 18% rule is
moot), latency measurement, geolocation routing, the state of `CLOUDWATCH_METRIC`
checks (they count as healthy), and the health and addresses
of an alias target outside the zone, such as a load balancer (healthy; answered by
its name in TestDNSAnswer, left out of a DNS answer).
"""

from __future__ import annotations

import http.client
import ipaddress
import random
import socket
import ssl
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterator
from xml.sax.saxutils import escape

XMLNS = "https://route53.amazonaws.com/doc/2013-04-01/"
ENDPOINT_TYPES = {"HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP"}


class _Checker:
    """One endpoint check's checker: its status and the streak of results against it."""

    def __init__(self, account: str | None) -> None:
        self.account = account
        self.healthy = True  # a new check is healthy until the threshold says otherwise
        self.streak = 0
        self.next_at = 0.0
        self.busy = False
        self.report: str | None = None
        self.checked: datetime | None = None


def _bool(value: Any) -> bool:
    """moto-ext (LocalStack) keeps the XML's "true"/"false" strings; `"false"` is truthy."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _rtype(record: Any) -> str:
    """A record's type: `type` in moto 5.2, `type_` in LocalStack's moto-ext."""
    return str(getattr(record, "type_", None) or getattr(record, "type", None) or "").upper()


def _check_of(record: Any) -> str | None:
    """A record's health check id: `health_check_id` in moto 5.2, `health_check` in moto-ext."""
    return getattr(record, "health_check_id", None) or getattr(record, "health_check", None) or None


def _multivalue(record: Any) -> bool:
    return _bool(getattr(record, "multi_value_answer", getattr(record, "multi_value", None)))


def _weighted(record: Any) -> bool:
    """moto-ext gives every record a weight (0); only a record with a set identifier
    (and no other policy, tested first) is a weighted one."""
    return bool(record.set_identifier) and getattr(record, "weight", None) not in (None, "")


def _account(backend: Any) -> str | None:
    return getattr(backend, "account_id", None)


def _norm(name: str) -> str:
    return name.lower().rstrip(".")


def _values(record: Any) -> list[str]:
    out = []
    for r in record.records or []:
        out.append(r["Value"] if isinstance(r, dict) else str(r))
    return out


class DataPlaneError(Exception):
    """An API error: the Route 53 error code, the HTTP status and the message."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


class DataPlane:
    """Health checkers and DNS answers over moto's Route 53 backends (`backends()` yields
    every account's backend)."""

    def __init__(
        self,
        backends: Callable[[], Iterator[Any]],
        routing_control_state: Callable[[str | None], str | None] = lambda arn: None,
    ) -> None:
        self.backends = backends
        # An ARC routing control's state ("On", "Off"; None: no such control).
        self.routing_control_state = routing_control_state
        self.lock = threading.Lock()
        self.checkers: dict[str, _Checker] = {}
        # The hooks' settings, per account (None: every account without its own).
        self.intervals: dict[str | None, float] = {}
        # (subnet, regions nearest first), most specific first when asked
        self.nearest: dict[str | None, list[tuple[Any, list[str]]]] = {}
        self.rng = random.Random(0)
        threading.Thread(target=self._run, name="route53-checkers", daemon=True).start()

    # ------------------------------------------------------------------ hooks

    def configure(self, query: dict[str, str]) -> None:
        """`interval=S` sets every checker's interval (absent: each check's own);
        `subnet=CIDR&regions=a,b` says which regions are nearest to clients there.
        `account=ID` applies either to that account's checks and zones alone (its own
        settings win over the unscoped ones)."""
        # Everything is checked before anything changes (ValueError: a 400).
        interval = None
        if "interval" in query:
            interval = float(query["interval"] or "0")
            if not (interval == 0 or 0.01 <= interval <= 3600):
                raise ValueError(f"interval must be 0 or 0.01..3600 seconds, not {query['interval']}")
        net = ipaddress.ip_network(query["subnet"], strict=False) if "subnet" in query else None
        account = query.get("account") or None
        if account is not None and not (account.isdigit() and len(account) == 12):
            raise ValueError(f"account must be a 12-digit account id, not {account}")
        with self.lock:
            if "interval" in query:
                if interval:
                    self.intervals[account] = interval
                else:
                    self.intervals.pop(account, None)
                for c in self.checkers.values():
                    if account is None or c.account == account:
                        c.next_at = 0.0
            if net is not None:
                regions = [r for r in query.get("regions", "").split(",") if r]
                mine = self.nearest.get(account, [])
                self.nearest[account] = [(n, r) for n, r in mine if n != net] + [(net, regions)]

    def _interval(self, account: str | None) -> float | None:
        """The hook's interval for an account's checkers (lock held)."""
        return self.intervals.get(account, self.intervals.get(None))

    # ------------------------------------------------------------- checkers

    def _backends(self, account: str | None = None) -> Iterator[Any]:
        """Every backend, or only the account's."""
        for backend in self.backends():
            if account is None or _account(backend) == account:
                yield backend

    def _checks(self, account: str | None = None) -> Iterator[tuple[Any, Any]]:
        for backend in self._backends(account):
            for check in list(backend.health_checks.values()):
                yield backend, check

    def _run(self) -> None:
        while True:
            now = time.monotonic()
            next_at = now + 0.1  # new checks and hook changes are seen within 0.1 s
            try:
                next_at = min(next_at, self._schedule(now))
            except Exception as e:  # noqa: BLE001 - the checkers must outlive any one bad check
                sys.stderr.write(f"geoplan-emulator: health checkers: {type(e).__name__}: {e}\n")
            time.sleep(max(next_at - time.monotonic(), 0.005))

    def _schedule(self, now: float) -> float:
        """Starts the probes that are due; returns when the next one is."""
        live = set()
        next_at = float("inf")
        for backend, check in self._checks():
            if (check.type_ or "") not in ENDPOINT_TYPES:
                continue
            live.add(check.id)
            with self.lock:
                c = self.checkers.setdefault(check.id, _Checker(_account(backend)))
                if not c.busy and now >= c.next_at:
                    c.busy = True
                    c.next_at = now + (self._interval(c.account) or float(check.request_interval or 30))
                    threading.Thread(target=self._probe, args=(check, c), daemon=True).start()
                next_at = min(next_at, c.next_at)
        with self.lock:
            for gone in set(self.checkers) - live:
                del self.checkers[gone]
        return next_at

    def _probe(self, check: Any, c: _Checker) -> None:
        try:
            ok, report = _probe(check)
        except Exception as e:  # noqa: BLE001 - a probe that cannot even start fails
            ok, report = False, f"Failure: {type(e).__name__}: {e}"
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

    def find_check(self, check_id: str, account: str | None = None) -> tuple[Any, Any] | None:
        for backend, check in self._checks(account):
            if check.id == check_id:
                return backend, check
        return None

    def healthy(self, backend: Any, check_id: str, depth: int = 0) -> bool:
        check = backend.health_checks.get(check_id)
        if check is None or depth > 8:
            return True
        kind = check.type_ or ""
        if _bool(check.disabled):
            raw = True
        elif kind == "CALCULATED":
            children = check.children or []
            up = sum(1 for child in children if self.healthy(backend, child, depth + 1))
            raw = up >= int(check.health_threshold or 0)
        elif kind in ENDPOINT_TYPES:
            with self.lock:
                c = self.checkers.get(check.id)
                raw = True if c is None else c.healthy
        elif kind == "RECOVERY_CONTROL":
            raw = self.routing_control_state(getattr(check, "routing_control_arn", None)) == "On"
        else:
            raw = True
        return not raw if _bool(check.inverted) else raw

    def status(self, check_id: str, account: str | None = None) -> tuple[str, datetime] | None:
        """GetHealthCheckStatus: the checker's latest report and when it was made (None
        before its first probe); DataPlaneError for an unknown or calculated check."""
        found = self.find_check(check_id, account)
        if found is None:
            raise DataPlaneError("NoSuchHealthCheck", 404, f"A health check with id {check_id} does not exist.")
        _, check = found
        if (check.type_ or "") == "CALCULATED":
            # "You can't use GetHealthCheckStatus to get the status of a calculated
            # health check" (API reference, GetHealthCheckStatus).
            raise DataPlaneError("InvalidInput", 400, "A calculated health check has no checker status.")
        with self.lock:
            c = self.checkers.get(check.id)
            report, checked = (c.report, c.checked) if c else (None, None)
        if (check.type_ or "") == "RECOVERY_CONTROL":
            # Not documented for this type: report the routing control's state, as a
            # checker reports its last probe (before Inverted and Disabled).
            state = self.routing_control_state(getattr(check, "routing_control_arn", None))
            report = f"Success: routing control state is {state}" if state == "On" else (
                f"Failure: routing control state is {state}" if state else "Failure: routing control not found"
            )
            checked = datetime.now(timezone.utc)
        if report is None or checked is None:
            return None
        return report, checked

    def status_xml(self, check_id: str) -> tuple[int, str]:
        try:
            found = self.status(check_id)
        except DataPlaneError as e:
            return e.status, _error(e.code, e.message)
        obs = ""
        if found is not None:
            report, checked = found
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

    def regions_nearest(self, client: str | None, account: str | None = None) -> list[str]:
        """The regions nearest to `client`, nearest first, by the most specific subnet
        the hook named for the account (its own subnets, then the unscoped ones)."""
        with self.lock:
            own = list(self.nearest.get(account, [])) if account is not None else []
            nearest = own + [m for m in self.nearest.get(None, []) if all(m[0] != n for n, _ in own)]
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

    def answer(
        self, zone_id: str, name: str, rtype: str, client: str | None, account: str | None = None
    ) -> tuple[str, list[str]]:
        """(response code, values) of a query for `name` `rtype` in the zone (of the
        account's, when one is given); KeyError if there is no such zone."""
        zone_id = zone_id.split("/")[-1]
        for backend in self._backends(account):
            zone = backend.zones.get(zone_id)
            if zone is not None:
                code, _, values = self._answer(backend, zone, _norm(name), rtype.upper(), client, 0)
                return code, values
        raise KeyError(zone_id)

    def _answer(
        self, backend: Any, zone: Any, name: str, rtype: str, client: str | None, depth: int
    ) -> tuple[str, str, list[str]]:
        """(response code, the type answered, values): a name with only a CNAME answers
        the CNAME whatever was asked."""
        rrsets = [r for r in list(zone.rrsets) if _norm(r.name) == name]
        if not rrsets:
            return "NXDOMAIN", rtype, []
        of_type = [r for r in rrsets if _rtype(r) == rtype]
        if not of_type:
            cname = [r for r in rrsets if _rtype(r) == "CNAME"]
            return ("NOERROR", "CNAME", _values(cname[0])) if cname else ("NOERROR", rtype, [])
        return "NOERROR", rtype, self.choose(backend, zone, of_type, client, depth)

    def _record_healthy(self, backend: Any, zone: Any, record: Any, client: str | None, depth: int) -> bool:
        check_id = _check_of(record)
        if check_id and not self.healthy(backend, check_id):
            return False
        alias = record.alias_target or {}
        if alias and str(alias.get("EvaluateTargetHealth", "")).lower() == "true" and depth < 8:
            # "Evaluate target health": an alias to records in the zone is healthy while
            # at least one of them is (no fail-open here: that is for the answer). An
            # alias to a resource outside the zone (a load balancer) counts as healthy:
            # no emulator here knows its targets' health.
            target = _norm(alias.get("DNSName", ""))
            rtype = _rtype(record)
            targets = [r for r in list(zone.rrsets) if _norm(r.name) == target and _rtype(r) == rtype]
            if targets:
                return any(self._record_healthy(backend, zone, r, client, depth + 1) for r in targets)
        return True

    def _record_values(self, backend: Any, zone: Any, record: Any, client: str | None, depth: int) -> list[str]:
        alias = record.alias_target or {}
        if alias and depth < 8:
            target = _norm(alias.get("DNSName", ""))
            if any(_norm(r.name) == target for r in zone.rrsets):
                return self._answer(backend, zone, target, _rtype(record), client, depth + 1)[2]
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
            order = self.regions_nearest(client, _account(backend))
            rank = {region: i for i, region in enumerate(order)}
            best = min(pool, key=lambda r: (rank.get(r.region, len(rank)), r.region or ""))
            return values(best)
        if any(_multivalue(r) for r in records):
            out: list[str] = []
            for r in pool[:8]:
                out += values(r)
            return out
        if any(_weighted(r) for r in records):
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
        return values(records[0])

    def answer_xml(self, query: dict[str, str]) -> tuple[int, str]:
        for field in ("hostedzoneid", "recordname", "recordtype"):
            if not query.get(field):
                return 400, _error("InvalidInput", f"{field} is required")
        client = query.get("edns0clientsubnetip") or query.get("resolverip")
        try:
            code, values = self.answer(query["hostedzoneid"], query["recordname"], query["recordtype"], client)
        except KeyError:
            return 404, _error("NoSuchHostedZone", f"No hosted zone found with ID: {query['hostedzoneid']}")
        data = "".join(f"<RecordDataEntry>{escape(v)}</RecordDataEntry>" for v in values)
        return 200, (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<TestDNSAnswerResponse xmlns="{XMLNS}">'
            f"<Nameserver>ns-geoplan.emulator</Nameserver><RecordName>{escape(query['recordname'])}</RecordName>"
            f"<RecordType>{escape(query['recordtype'])}</RecordType><RecordData>{data}</RecordData>"
            f"<ResponseCode>{code}</ResponseCode><Protocol>UDP</Protocol></TestDNSAnswerResponse>"
        )


    # ----------------------------------------------------------- DNS server

    def serve_dns(self, host: str, account: str | None = None) -> int:
        """Answers DNS queries on a free UDP port of `host`, from the hosted zones (the
        account's only, when one is given: as on AWS, where each zone has name servers
        of its own, two accounts' zones of one name do not shadow each other), as
        Route 53's name servers would (authoritative, no recursion); returns the port.
        The client for latency routing is the EDNS client subnet (RFC 7871, what
        `dig +subnet=` sends) when the query has one, else the sender's address."""
        try:
            import dnslib  # noqa: F401
        except ImportError:
            sys.exit("geoplan-emulator: dnslib is missing (the DNS server needs it): run localstack/setup.sh")
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, 0))
        threading.Thread(target=self._dns_loop, args=(sock, account), name="dns", daemon=True).start()
        return int(sock.getsockname()[1])

    def _dns_loop(self, sock: socket.socket, account: str | None) -> None:
        while True:
            data, sender = sock.recvfrom(4096)
            try:
                reply = self._dns_reply(data, sender[0], account)
            except Exception:  # noqa: BLE001 - a packet that is not a query gets no answer
                continue
            sock.sendto(reply, sender)

    def _zone_for(self, name: str, account: str | None = None) -> tuple[Any, Any] | None:
        best = None
        for backend in self._backends(account):
            for zone in list(backend.zones.values()):
                zname = _norm(zone.name)
                if (name == zname or name.endswith("." + zname)) and (best is None or len(zname) > len(_norm(best[1].name))):
                    best = (backend, zone)
        return best

    def _dns_reply(self, data: bytes, sender: str, account: str | None = None) -> bytes:
        from dnslib import AAAA, CNAME, QTYPE, RCODE, RR, TXT, A, DNSRecord

        query = DNSRecord.parse(data)
        reply = query.reply(ra=0, aa=1)
        q = query.q
        name = _norm(str(q.qname))
        client = sender
        for rr in query.ar:
            if rr.rtype == QTYPE.OPT:
                for option in rr.rdata or []:
                    if option.code == 8:
                        client = _ecs_address(option.data) or client
        found = self._zone_for(name, account)
        if found is None:
            reply.header.rcode = RCODE.REFUSED
            return reply.pack()
        backend, zone = found
        code, answered, values = self._answer(backend, zone, name, QTYPE[q.qtype], client, 0)
        reply.header.rcode = getattr(RCODE, code)
        ttl = next(
            (int(r.ttl or 60) for r in list(zone.rrsets) if _norm(r.name) == name and _rtype(r) == answered),
            60,
        )
        kinds = {"A": A, "AAAA": AAAA, "CNAME": CNAME, "TXT": TXT}
        if answered in kinds:
            for value in values:
                text = value.strip('"') if answered == "TXT" else value
                try:
                    rdata = kinds[answered](text)
                except Exception:  # noqa: BLE001 - e.g. an alias to a load balancer's name
                    continue
                reply.add_answer(RR(q.qname, getattr(QTYPE, answered), rdata=rdata, ttl=ttl))
        return reply.pack()


def _ecs_address(data: bytes) -> str | None:
    """The address of an EDNS client subnet option: family (2 bytes), source and scope
    prefix lengths (1 byte each), then the address truncated to the prefix."""
    if len(data) < 4:
        return None
    family = int.from_bytes(data[:2], "big")
    raw = data[4:]
    if family == 1:
        return str(ipaddress.IPv4Address(raw[:4].ljust(4, b"\0")))
    if family == 2:
        return str(ipaddress.IPv6Address(raw[:16].ljust(16, b"\0")))
    return None


def _error(code: str, message: str) -> str:
    return (
        f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{escape(message)}</Message></Error></ErrorResponse>"
    )


def _probe(check: Any) -> tuple[bool, str]:
    """One probe as a Route 53 checker makes it (developer guide, "How Amazon Route 53
    determines whether a health check is healthy"): TCP must connect within 10 s; HTTP(S)
    must connect within 4 s and answer a 2xx or 3xx status within 2 s more (and for
    *_STR_MATCH have the search string in the first 5,120 bytes)."""
    kind = check.type_ or ""
    timeout = 10.0 if kind == "TCP" else 4.0
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
            conn.connect()
            if conn.sock is not None:
                conn.sock.settimeout(2.0)
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
