"""geoplan's compatibility layer for LocalStack 2026.3.0 (community).

Stock LocalStack cannot apply geoplan's Terraform module: terraform retries a 500
forever, and then replaces every calculated health check on each apply. Each `fix_`
function below fixes one bug (listed in localstack/README.md for reporting upstream),
is small, and is proven by a test in tests/it/localstack.rs that shows the stock
behaviour (a LocalStack started with `launch.py --stock`) next to the fixed one.

Then two features LocalStack lacks, the same code the moto backend runs
(`emulator.py`), over LocalStack's own moto Route 53 backends: Route 53's data plane
(`dataplane.py`: checkers, evaluation, GetHealthCheckStatus, TestDNSAnswer, DNS over
UDP) and ARC routing control (`arc.py`: the configuration API on LocalStack's port,
the five cluster endpoints, safety rules, RECOVERY_CONTROL checks), with the test
hooks `/_geoplan/dataplane` and `/_geoplan/arc` on LocalStack's port. Their tests are
in tests/it/dataplane.rs, run on both backends. And the moto launcher's
`/_geoplan/hang` (hangs.py), with an `account` filter for the tests sharing this
LocalStack (`serve_hang`).

Loaded in LocalStack's own process through its init hooks: `launch.py` writes a
two-line script into `<root>/etc/localstack/init/start.d/` that puts this folder on
`sys.path` and calls `apply()`. Patches replace class attributes, so they must run
before a service's provider is first created (launch.py does not set
EAGER_SERVICE_LOADING, so providers are created at their first request).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from typing import Any

LOG = logging.getLogger("geoplan.compat")

PINNED_LOCALSTACK = "2026.3.0"


def _bool(value: Any) -> bool:
    """moto keeps the XML's "true"/"false" strings; `"false"` is truthy in Python."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


# ---------------------------------------------------------------- Route 53: requests


def fix_empty_child_list() -> None:
    """Bug 1: CreateHealthCheck/UpdateHealthCheck with an empty `<ChildHealthChecks/>`
    (terraform sends it for `child_healthchecks = []`) or `<Regions/>` → 500.

    moto parses the body with xmltodict, which gives None for an empty element, and
    calls `.get` on it. An empty list means "none", so the element is dropped.
    """
    from moto.route53.responses import Route53

    empty = re.compile(r"<(ChildHealthChecks|Regions)\s*/>|<(ChildHealthChecks|Regions)>\s*</\2>")
    for name in ("create_health_check", "update_health_check"):
        original = getattr(Route53, name)

        def patched(self: Route53, _original: Any = original) -> Any:
            body = self.body.decode() if isinstance(self.body, bytes) else self.body
            self.body = empty.sub("", body)
            return _original(self)

        setattr(Route53, name, patched)


def fix_calculated_threshold() -> None:
    """Bug 2: a CALCULATED check without `HealthThreshold` (terraform omits a zero) →
    500: moto renders "None" and LocalStack's parser fails on `int('None')`.
    AWS treats a missing threshold as 0."""
    from moto.route53.models import HealthCheck

    original = HealthCheck.__init__

    def __init__(self: HealthCheck, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.type_ == "CALCULATED" and self.health_threshold in (None, ""):
            self.health_threshold = 0

    HealthCheck.__init__ = __init__


def fix_health_check_version() -> None:
    """Bug 5: HealthCheckVersion is always 1 and a stale version is accepted.

    AWS bumps the version on every update and refuses an update whose
    `HealthCheckVersion` is not the current one (409 HealthCheckVersionMismatch); that
    is the fence geoplan's HA control plane relies on. Also resets the children and
    regions when an update lists none, and keeps booleans as booleans.
    """
    import xmltodict
    from moto.route53.models import HealthCheck
    from moto.route53.responses import UPDATE_HEALTH_CHECK_RESPONSE, Route53, Template

    original_update = Route53.update_health_check

    def update_health_check(self: Route53) -> Any:
        hc_id = self.parsed_url.path.split("/")[-1]
        body = self.body.decode() if isinstance(self.body, bytes) else self.body
        request = xmltodict.parse(body)["UpdateHealthCheckRequest"] or {}
        hc = self.backend.health_checks.get(hc_id)
        version = request.get("HealthCheckVersion")
        if hc is not None and version is not None and int(version) != version_of(hc):
            raise version_mismatch(hc_id)
        result = original_update(self)
        if hc is not None:
            # moto copies only truthy values: "false" stays a string, False is skipped.
            for key, attr in (("Inverted", "inverted"), ("Disabled", "disabled")):
                if key in request:
                    setattr(hc, attr, _bool(request[key]))
            hc.geoplan_version = version_of(hc) + 1
            # Render the response again with the fixed fields and version.
            result = Template(UPDATE_HEALTH_CHECK_RESPONSE).render(health_check=hc)
        return result

    Route53.update_health_check = update_health_check

    original_to_xml = HealthCheck.to_xml

    def to_xml(self: HealthCheck) -> str:
        xml = original_to_xml(self)
        xml = xml.replace(
            "<HealthCheckVersion>1</HealthCheckVersion>",
            f"<HealthCheckVersion>{version_of(self)}</HealthCheckVersion>",
        )
        for tag, attr in (("Inverted", "inverted"), ("Disabled", "disabled")):
            xml = re.sub(
                rf"<{tag}>[^<]*</{tag}>",
                f"<{tag}>{'true' if _bool(getattr(self, attr)) else 'false'}</{tag}>",
                xml,
            )
        return xml

    HealthCheck.to_xml = to_xml


def version_mismatch(health_check_id: str) -> Exception:
    from emulator import version_mismatch as shared

    return shared(health_check_id)


def version_of(hc: Any) -> int:
    return int(getattr(hc, "geoplan_version", 1))


def fix_get_health_check() -> None:
    """Bug 3: GetHealthCheck drops ChildHealthChecks, Regions and HealthCheckVersion,
    and reports Port 80 / RequestInterval 30 for CALCULATED checks, so terraform sees a
    difference and replaces every CALCULATED check on each apply. Here the answer has
    the fields AWS returns for the check's type."""
    from localstack.aws.api.route53 import (
        GetHealthCheckResponse,
        HealthCheck,
        NoSuchHealthCheck,
    )
    from localstack.services.route53.provider import Route53Provider
    from moto.route53.models import route53_backends

    def get_health_check(self: Any, context: Any, health_check_id: str, **kwargs: Any) -> Any:
        hc = route53_backends[context.account_id][context.partition].health_checks.get(
            health_check_id
        )
        if hc is None:
            raise NoSuchHealthCheck(f"No health check exists with the specified ID {health_check_id}")
        config: dict[str, Any] = {
            "Type": hc.type_,
            "Inverted": _bool(hc.inverted),
            "Disabled": _bool(hc.disabled),
        }
        if hc.type_ == "CALCULATED":
            config["HealthThreshold"] = int(hc.health_threshold or 0)
            config["ChildHealthChecks"] = list(hc.children or [])
        elif hc.type_ == "RECOVERY_CONTROL":
            # Only what AWS has for the type (see serve_arc).
            config["RoutingControlArn"] = getattr(hc, "routing_control_arn", None)
        else:
            optional = {
                "IPAddress": hc.ip_address,
                "FullyQualifiedDomainName": hc.fqdn,
                "ResourcePath": hc.resource_path,
                "SearchString": hc.search_string,
            }
            config.update({k: v for k, v in optional.items() if v})
            config["Port"] = int(hc.port)
            config["RequestInterval"] = int(hc.request_interval)
            config["FailureThreshold"] = int(hc.failure_threshold)
            config["MeasureLatency"] = _bool(hc.measure_latency)
            if hc.type_ in ("HTTPS", "HTTPS_STR_MATCH"):
                config["EnableSNI"] = _bool(hc.enable_sni)
            if hc.regions:
                config["Regions"] = list(hc.regions)
        return GetHealthCheckResponse(
            HealthCheck=HealthCheck(
                Id=hc.id,
                CallerReference=hc.caller_reference,
                HealthCheckConfig=config,
                HealthCheckVersion=version_of(hc),
            )
        )

    Route53Provider.get_health_check = get_health_check


def fix_delete_by_identifier() -> None:
    """Bug 6: a DELETE by name + set identifier deletes every record with that
    identifier. The fix is the one the moto emulator uses (emulator.py)."""
    from emulator import patch_route53_delete_by_identifier

    patch_route53_delete_by_identifier()


# ---------------------------------------------------------------------- DynamoDB


def fix_describe_table() -> None:
    """Bug 7: DescribeTable of a replicated table has no `GlobalTableVersion`, and a
    PROVISIONED table has no `BillingModeSummary` (DynamoDB Local omits it). The AWS
    provider reads the first to know a table is a version 2019.11.21 global table."""
    from localstack.services.dynamodb.provider import DynamoDBProvider

    original = DynamoDBProvider.describe_table

    def describe_table(self: Any, context: Any, table_name: str, **kwargs: Any) -> Any:
        result = original(self, context, table_name, **kwargs)
        table = result.get("Table") or {}
        if table.get("Replicas"):
            table.setdefault("GlobalTableVersion", "2019.11.21")
        if "BillingModeSummary" not in table:
            table["BillingModeSummary"] = {"BillingMode": "PROVISIONED"}
        return result

    DynamoDBProvider.describe_table = describe_table


def fix_stream_outlives_its_table() -> None:
    """Bug 8: deleting a table with a stream leaves the Kinesis stream that backs the
    stream (`__ddb_stream_<table>`), so creating a table of that name again fails with
    ResourceInUseException (500 on the stream). Terraform hits it when it replaces a
    table, e.g. one tainted by an interrupted apply. LocalStack deletes the stream in
    a fire-and-forget thread that does not get it done; here it is deleted before
    DeleteTable answers."""
    from localstack.services.dynamodb.provider import DynamoDBProvider
    from localstack.services.dynamodbstreams import dynamodbstreams_api as streams

    original = DynamoDBProvider.delete_table

    def delete_table(self: Any, context: Any, table_name: str, **kwargs: Any) -> Any:
        region = self.get_global_table_region(context, table_name)
        result = original(self, context, table_name, **kwargs)
        client = streams.get_kinesis_client(context.account_id, region)
        name = streams.get_kinesis_stream_name(table_name)
        # A stream is deleted once ACTIVE (a new one is CREATING for KINESIS_LATENCY),
        # then the answer waits until it is gone: at most ~5 s in all.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                client.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
                break
            except client.exceptions.ResourceNotFoundException:
                return result
            except client.exceptions.ResourceInUseException:
                time.sleep(0.1)
        while time.monotonic() < deadline:
            try:
                client.describe_stream_summary(StreamName=name)
            except client.exceptions.ResourceNotFoundException:
                return result
            time.sleep(0.05)
        LOG.warning("geoplan compat: stream %s of deleted table %s is still there", name, table_name)
        return result

    DynamoDBProvider.delete_table = delete_table


def fix_replica_encryption() -> None:
    """Bug 9: DescribeTable in a replica's region has no `SSEDescription`: LocalStack
    keeps it in the home region's store only. AWS describes the replica's own key: the
    customer-managed key given for that replica, or the account's AWS-managed key in
    that region."""
    from localstack.services.dynamodb.provider import DynamoDBProvider, SSEUtils, get_store

    original = DynamoDBProvider.describe_table

    def describe_table(self: Any, context: Any, table_name: str, **kwargs: Any) -> Any:
        result = original(self, context, table_name, **kwargs)
        home = self.get_global_table_region(context, table_name)
        table = result.get("Table") or {}
        if home == context.region or "SSEDescription" in table:
            return result
        store = get_store(context.account_id, home)
        if not (store.table_definitions.get(table_name) or {}).get("SSEDescription"):
            return result  # DynamoDB's own key: nothing to describe
        replica = store.REPLICAS.get(table_name, {}).get(context.region) or {}
        spec = {"Enabled": True, "KMSMasterKeyId": replica.get("KMSMasterKeyId")}
        table["SSEDescription"] = SSEUtils.get_sse_description(context.account_id, context.region, spec)
        return result

    DynamoDBProvider.describe_table = describe_table


def fix_replica_ttl() -> None:
    """Bug 10: DescribeTimeToLive in a replica's region says DISABLED: LocalStack keeps
    the TTL setting in the home region's store only. On AWS a global table's TTL
    applies to every replica."""
    from localstack.services.dynamodb.provider import DynamoDBProvider, modify_context_region

    original = DynamoDBProvider.describe_time_to_live

    def describe_time_to_live(self: Any, context: Any, table_name: str, **kwargs: Any) -> Any:
        home = self.get_global_table_region(context, table_name)
        if home == context.region:
            return original(self, context, table_name, **kwargs)
        with modify_context_region(context, home):
            return original(self, context, table_name, **kwargs)

    DynamoDBProvider.describe_time_to_live = describe_time_to_live


def fix_on_demand_limits_survive_index_updates() -> None:
    """Bug 11: an UpdateTable that adds or removes a global index drops the table's
    `OnDemandThroughput` (DynamoDB Local), so terraform plans to set the limits again
    after every index change. On AWS they stay. LocalStack already records the
    CreateTable input; here UpdateTable's limits are recorded too, and DescribeTable
    reports the recorded ones when DynamoDB Local has lost them."""
    from localstack.aws.api import handler
    from localstack.services.dynamodb.provider import DynamoDBProvider, get_store

    original_update = DynamoDBProvider.update_table
    original_describe = DynamoDBProvider.describe_table

    # Registered as the original is: a handler taking the whole input.
    @handler("UpdateTable", expand=False)
    def update_table(self: Any, context: Any, update_table_input: Any) -> Any:
        result = original_update(self, context, update_table_input)
        if limits := update_table_input.get("OnDemandThroughput"):
            name = update_table_input["TableName"]
            home = self.get_global_table_region(context, name)
            definitions = get_store(context.account_id, home).table_definitions.setdefault(name, {})
            definitions["OnDemandThroughput"] = dict(limits)
        return result

    def describe_table(self: Any, context: Any, table_name: str, **kwargs: Any) -> Any:
        result = original_describe(self, context, table_name, **kwargs)
        table = result.get("Table") or {}
        if "OnDemandThroughput" not in table:
            home = self.get_global_table_region(context, table_name)
            definitions = get_store(context.account_id, home).table_definitions.get(table_name) or {}
            if limits := definitions.get("OnDemandThroughput"):
                table["OnDemandThroughput"] = dict(limits)
        return result

    DynamoDBProvider.update_table = update_table
    DynamoDBProvider.describe_table = describe_table


def fix_added_index_limits() -> None:
    """Bug 12: a global index added by UpdateTable describes `OnDemandThroughput`
    {-1, -1}, while one created with its table describes none, as on AWS when no
    limit was set. Terraform then sees the added index differ from its config and
    plans to replace it on every run. Here the {-1, -1} ("no limit") is left out."""
    from localstack.services.dynamodb.provider import DynamoDBProvider

    original = DynamoDBProvider.describe_table

    def describe_table(self: Any, context: Any, table_name: str, **kwargs: Any) -> Any:
        result = original(self, context, table_name, **kwargs)
        for index in (result.get("Table") or {}).get("GlobalSecondaryIndexes") or []:
            limits = index.get("OnDemandThroughput") or {}
            if limits and all(v == -1 for v in limits.values()):
                index.pop("OnDemandThroughput")
        return result

    DynamoDBProvider.describe_table = describe_table


# ------------------------------------------- Route 53's data plane and ARC (features)

# Loopback only, as every listener of LocalStack's here (the DNS server, ARC's endpoints).
HOST = "127.0.0.1"
_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")


def _route53_backends() -> Any:
    """Every account's moto Route 53 backend in LocalStack (keyed by account, then by
    partition)."""
    from moto.route53.models import route53_backends

    for account in list(route53_backends.values()):
        yield from list(account.values())


def _account_of(authorization: str, _moto_account: str | None = None) -> str:
    """The caller's account as LocalStack decides it (a 12-digit access key id is the
    account), for requests LocalStack's gateway does not see (ARC's endpoints)."""
    from localstack.aws.accounts import get_account_id_from_access_key_id

    key = _ACCESS_KEY.search(authorization or "")
    return get_account_id_from_access_key_id(key.group(1) if key else "test")


def _hook_response(code: int, body: bytes = b"", mimetype: str = "text/plain") -> Any:
    from localstack.http import Response

    return Response(body, status=code, mimetype=mimetype)


def serve_data_plane(arc: Any) -> Any:
    """Route 53's data plane (dataplane.py) over LocalStack's moto Route 53 backends:
    stock LocalStack answers GetHealthCheckStatus with "Success" for every check (a
    calculated one included, which AWS refuses) and has no TestDNSAnswer (moto has
    none: 501). Here both are the data plane's, scoped to the caller's account; the
    checkers probe every account's endpoint checks; RECOVERY_CONTROL checks follow ARC.

    Hooks on LocalStack's port, as emulator.py serves them: `POST /_geoplan/dataplane`
    (`interval`, `subnet`/`regions`, and `account=ID` to apply them to that account
    alone, which tests sharing this LocalStack do), `GET /_geoplan/dataplane`
    (`{"dns": "127.0.0.1:PORT"}`; with `?account=ID`, a DNS server of that account's
    zones alone, so that two accounts' zones of one name do not shadow each other)."""
    from dataplane import DataPlane, DataPlaneError
    from localstack.aws.api.route53 import (
        GetHealthCheckStatusResponse,
        InvalidInput,
        NoSuchHealthCheck,
        NoSuchHostedZone,
        TestDNSAnswerResponse,
    )
    from localstack.services.edge import ROUTER
    from localstack.services.route53.provider import Route53Provider

    plane = DataPlane(_route53_backends, routing_control_state=arc.state_of)
    errors = {"NoSuchHealthCheck": NoSuchHealthCheck, "InvalidInput": InvalidInput}

    def get_health_check_status(self: Any, context: Any, health_check_id: str, **kwargs: Any) -> Any:
        try:
            found = plane.status(health_check_id, context.account_id)
        except DataPlaneError as e:
            raise errors[e.code](e.message) from None
        observations = []
        if found is not None:
            report, checked = found
            observations.append(
                {
                    "Region": "us-east-1",
                    "IPAddress": HOST,
                    "StatusReport": {"Status": report, "CheckedTime": checked},
                }
            )
        return GetHealthCheckStatusResponse(HealthCheckObservations=observations)

    def test_dns_answer(
        self: Any,
        context: Any,
        hosted_zone_id: str,
        record_name: str,
        record_type: str,
        resolver_ip: str | None = None,
        edns0_client_subnet_ip: str | None = None,
        edns0_client_subnet_mask: str | None = None,
        **kwargs: Any,
    ) -> Any:
        client = edns0_client_subnet_ip or resolver_ip
        try:
            code, values = plane.answer(hosted_zone_id, record_name, record_type, client, context.account_id)
        except KeyError:
            raise NoSuchHostedZone(f"No hosted zone found with ID: {hosted_zone_id}") from None
        return TestDNSAnswerResponse(
            Nameserver="ns-geoplan.emulator",
            RecordName=record_name,
            RecordType=record_type,
            RecordData=values,
            ResponseCode=code,
            Protocol="UDP",
        )

    Route53Provider.get_health_check_status = get_health_check_status
    Route53Provider.test_dns_answer = test_dns_answer

    dns_ports: dict[str | None, int] = {None: plane.serve_dns(HOST)}
    dns_lock = threading.Lock()

    def hook(request: Any, **_: Any) -> Any:
        query = {k: v for k, v in request.args.items()}
        if request.method == "GET":
            account = query.get("account") or None
            if account is not None and not (account.isdigit() and len(account) == 12):
                return _hook_response(400, b"account must be a 12-digit account id")
            with dns_lock:
                if account not in dns_ports:
                    dns_ports[account] = plane.serve_dns(HOST, account)
                port = dns_ports[account]
            return _hook_response(200, json.dumps({"dns": f"{HOST}:{port}"}).encode(), "application/json")
        try:
            plane.configure(query)
        except ValueError as e:
            return _hook_response(400, str(e).encode())
        return _hook_response(204)

    ROUTER.add("/_geoplan/dataplane", endpoint=hook, methods=["GET", "POST"])
    return plane


def serve_arc() -> Any:
    """ARC routing control (arc.py), which LocalStack's community edition lacks: a
    request signed for `route53-recovery-control-config` is answered by arc.py before
    LocalStack looks for a service (it has no provider for it), one signed for
    `route53-recovery-cluster` gets emulator.py's 404 (that API is served on the five
    cluster endpoints, loopback ports started here). Route 53 health checks of type
    RECOVERY_CONTROL keep their `RoutingControlArn` (moto drops it) and leave out the
    fields AWS refuses or has not for the type. `GET/POST /_geoplan/arc` as in
    emulator.py; its settings (dark, unavailable, throttle, deploy delay) are the
    endpoints', shared by every account."""
    from arc import CONFIG_SERVICE, DATA_SERVICE, Arc, config_response
    from localstack.aws.api.route53 import InvalidInput
    from localstack.aws.handlers.service import ServiceNameParser
    from localstack.services.edge import ROUTER
    from localstack.services.moto import call_moto
    from localstack.services.route53.provider import Route53Provider

    def health_checks() -> Any:
        for backend in _route53_backends():
            yield from list(backend.health_checks.values())

    arc = Arc(health_checks, _account_of)
    arc.endpoints.start()

    original_parse = ServiceNameParser.__call__

    def parse_service_name(self: Any, chain: Any, context: Any, response: Any) -> Any:
        scope = _SCOPE.search(context.request.headers.get("Authorization", ""))
        service = scope.group(2) if scope else ""
        if service not in (CONFIG_SERVICE, DATA_SERVICE):
            return original_parse(self, chain, context, response)
        request = context.request
        if service == CONFIG_SERVICE:
            code, headers, body = config_response(
                arc,
                request.method,
                request.path,
                request.query_string.decode(),
                request.get_data(),
                _account_of(request.headers.get("Authorization", "")),
                scope.group(1),
            )
        else:
            code, headers = 404, {"Content-Type": "application/json"}
            body = json.dumps({"__type": "ResourceNotFoundException", "message": "route53-recovery-cluster "
                               "is served on the cluster endpoints that DescribeCluster lists, not here."}).encode()
        response.status_code = code
        response.headers.update(headers)
        response.set_data(body)
        # Nothing of LocalStack's AWS chain applies to a service it does not have.
        chain.terminate()
        return None

    ServiceNameParser.__call__ = parse_service_name

    # RECOVERY_CONTROL checks: "If the routing control state is ON, the health check is
    # considered healthy" (API reference, HealthCheckConfig Type).
    not_for_the_type = ("RequestInterval", "FailureThreshold", "MeasureLatency")

    def create_health_check(
        self: Any, context: Any, caller_reference: str, health_check_config: Any, **kwargs: Any
    ) -> Any:
        config = health_check_config or {}
        if config.get("Type") != "RECOVERY_CONTROL":
            return call_moto(context)
        if not config.get("RoutingControlArn"):
            raise InvalidInput("A health check of type RECOVERY_CONTROL needs a RoutingControlArn.")
        given = [k for k in not_for_the_type if config.get(k) not in (None, False)]
        if given:
            raise InvalidInput(f"{', '.join(given)} is not supported for health checks of type RECOVERY_CONTROL.")
        result = call_moto(context)
        created = result["HealthCheck"]
        from moto.route53.models import route53_backends

        hc = route53_backends[context.account_id][context.partition].health_checks.get(created["Id"])
        if hc is not None:
            hc.routing_control_arn = config["RoutingControlArn"]
        created["HealthCheckConfig"] = {
            "Type": "RECOVERY_CONTROL",
            "Inverted": _bool(config.get("Inverted")),
            "Disabled": _bool(config.get("Disabled")),
            "RoutingControlArn": config["RoutingControlArn"],
        }
        return result

    Route53Provider.create_health_check = create_health_check

    # ListHealthChecks (moto's XML): the same fields as GetHealthCheck for the type.
    from moto.route53.models import HealthCheck

    original_to_xml = HealthCheck.to_xml

    def to_xml(self: HealthCheck) -> str:
        xml = original_to_xml(self)
        if self.type_ != "RECOVERY_CONTROL":
            return xml
        config = (
            "<HealthCheckConfig><Type>RECOVERY_CONTROL</Type>"
            f"<RoutingControlArn>{getattr(self, 'routing_control_arn', '') or ''}</RoutingControlArn>"
            f"<Inverted>{'true' if _bool(self.inverted) else 'false'}</Inverted>"
            f"<Disabled>{'true' if _bool(self.disabled) else 'false'}</Disabled></HealthCheckConfig>"
        )
        return re.sub(r"<HealthCheckConfig>.*</HealthCheckConfig>", config, xml, flags=re.S)

    HealthCheck.to_xml = to_xml

    def hook(request: Any, **_: Any) -> Any:
        if request.method == "GET":
            return _hook_response(200, json.dumps(arc.endpoints.report()).encode(), "application/json")
        try:
            arc.endpoints.configure({k: v for k, v in request.args.items()})
        except ValueError as e:
            return _hook_response(400, str(e).encode())
        return _hook_response(204)

    ROUTER.add("/_geoplan/arc", endpoint=hook, methods=["GET", "POST"])
    return arc


def serve_hang() -> Any:
    """The moto launcher's `POST /_geoplan/hang` (hangs.py, the same rules) on
    LocalStack's port, plus `account=ID` (12 digits): such a rule holds only the
    requests of that account (the SigV4 access key id, as LocalStack takes it), so a
    test on this shared LocalStack darkens its own account alone; `clear=1&account=ID`
    drops that account's rules only (`clear=1` alone, every rule).

    A request is held in LocalStack's handler chain, at `ServiceNameParser`, the first
    handler of its AWS part: after the edge router's routes (`/_geoplan/*`,
    `/_localstack/*`, never held) and before the compat layer's ARC configuration API
    (see serve_arc) and every service. With `GATEWAY_SERVER=hypercorn` the chain runs
    on the ASGI gateway's thread pool (rolo's `AsgiGateway`, 1000 threads), a request
    to a thread, so a held request blocks its thread alone: other requests, the
    checkers and DNS servers (threads of dataplane.py, reading moto's backends
    directly) and ARC's cluster endpoints (ports of their own) go on."""
    from hangs import Hangs
    from localstack.aws.handlers.service import ServiceNameParser
    from localstack.services.edge import ROUTER

    hangs = Hangs()
    original_parse = ServiceNameParser.__call__

    def parse_service_name(self: Any, chain: Any, context: Any, response: Any) -> Any:
        if hangs.rules:  # no rule, no cost (a rule added meanwhile is one added later)
            request = context.request
            authorization = request.headers.get("Authorization", "")
            environ = {
                "HTTP_AUTHORIZATION": authorization,
                "PATH_INFO": request.path,
                "HTTP_USER_AGENT": request.headers.get("User-Agent", ""),
                "HTTP_X_AMZ_USER_AGENT": request.headers.get("X-Amz-User-Agent", ""),
            }
            hangs.hold(environ, _account_of(authorization))
        return original_parse(self, chain, context, response)

    ServiceNameParser.__call__ = parse_service_name

    def hook(request: Any, **_: Any) -> Any:
        query = {k: v for k, v in request.args.items()}
        account = query.get("account") or None
        if account is not None and not (account.isdigit() and len(account) == 12):
            return _hook_response(400, b"account must be a 12-digit account id")
        if query.get("clear") not in (None, "", "0"):
            hangs.clear(account)
            return _hook_response(204)
        try:
            seconds = float(query.get("seconds", "0"))
        except ValueError:
            return _hook_response(400, b"seconds must be a number")
        hangs.add(
            query.get("service") or None,
            query.get("region") or None,
            query.get("agent") or None,
            seconds,
            account,
        )
        return _hook_response(204)

    ROUTER.add("/_geoplan/hang", endpoint=hook, methods=["POST"])
    return hangs


FIXES = [
    fix_empty_child_list,
    fix_calculated_threshold,
    fix_health_check_version,
    fix_get_health_check,
    fix_delete_by_identifier,
    fix_describe_table,
    fix_stream_outlives_its_table,
    fix_replica_encryption,
    fix_replica_ttl,
    fix_on_demand_limits_survive_index_updates,
    fix_added_index_limits,
]


def apply() -> None:
    from importlib.metadata import version

    # emulator.py (beside this file) holds the fixes shared with the moto backend.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    found = version("localstack-core")
    if found != PINNED_LOCALSTACK:
        # Patches written against one version may silently do nothing on another.
        raise RuntimeError(
            f"geoplan's LocalStack patches are written for localstack-core "
            f"{PINNED_LOCALSTACK}, found {found}: run localstack/setup.sh"
        )
    for fix in FIXES:
        fix()
    arc = serve_arc()
    plane = serve_data_plane(arc)
    # After serve_arc: a hang holds a request before the ARC configuration API, as on moto.
    serve_hang()
    LOG.warning(
        "geoplan compat: %d fixes applied; Route 53's data plane (%d checkers), ARC "
        "(endpoints %s) and the hang hook served",
        len(FIXES),
        len(plane.checkers),
        ", ".join(url for _, url in arc.endpoints.urls()),
    )
