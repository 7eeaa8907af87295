"""geoplan's compatibility layer for LocalStack 2026.3.0 (community).

Stock LocalStack cannot apply geoplan's Terraform module: terraform retries a 500
forever, and then replaces every calculated health check on each apply. Each function
below fixes one bug (listed in localstack/README.md for reporting upstream), is small,
and is proven by a test in tests/it/localstack.rs that shows the stock behaviour (a
LocalStack started with `launch.py --stock`) next to the fixed one.

Loaded in LocalStack's own process through its init hooks: `launch.py` writes a
two-line script into `<root>/etc/localstack/init/start.d/` that puts this folder on
`sys.path` and calls `apply()`. Patches replace class attributes, so they must run
before a service's provider is first created (launch.py does not set
EAGER_SERVICE_LOADING, so providers are created at their first request).
"""

from __future__ import annotations

import logging
import os
import re
import sys
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


def fix_health_check_status() -> None:
    """Bug 4: GetHealthCheckStatus always reports success, even for an inverted switch.

    No emulator probes endpoints, so an endpoint check counts as healthy; but the rest
    of AWS's rules are applied: a CALCULATED check is healthy when at least
    HealthThreshold children are, a disabled check is healthy, and Inverted turns the
    result over.
    """
    from moto.core.utils import iso_8601_datetime_with_milliseconds
    from moto.route53.responses import GET_HEALTH_CHECK_STATUS_RESPONSE, Route53, Template

    def healthy(backend: Any, hc: Any, depth: int = 0) -> bool:
        if _bool(hc.disabled):
            return True
        if hc.type_ == "CALCULATED":
            children = [backend.health_checks.get(c) for c in (hc.children or [])]
            up = sum(1 for c in children if c is not None and depth < 8 and healthy(backend, c, depth + 1))
            result = up >= int(hc.health_threshold or 0)
        else:
            result = True
        return result != _bool(hc.inverted)

    def get_health_check_status(self: Route53) -> str:
        hc_id = self.parsed_url.path.rstrip("/").split("/")[-2]
        hc = self.backend.get_health_check(hc_id)
        xml = Template(GET_HEALTH_CHECK_STATUS_RESPONSE).render(
            timestamp=iso_8601_datetime_with_milliseconds()
        )
        if not healthy(self.backend, hc):
            xml = re.sub(
                r"<Status>[^<]*</Status>",
                "<Status>Failure: unhealthy by the emulator's rules (inverted, or too few healthy children)</Status>",
                xml,
            )
        return xml

    Route53.get_health_check_status = get_health_check_status


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


FIXES = [
    fix_empty_child_list,
    fix_calculated_threshold,
    fix_health_check_version,
    fix_get_health_check,
    fix_health_check_status,
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
    LOG.warning("geoplan compat: %d fixes applied", len(FIXES))
