"""Stand AWS up locally for geoplan's tests and demos.

This is moto 5.2.1's server with the two things geoplan needs and moto lacks:

* DynamoDB global tables, version 2019.11.21. moto accepts `UpdateTable` with
  `ReplicaUpdates` and ignores it, so the AWS provider waits 30 minutes for a replica
  that never appears. Here a replica `Create` makes a table of the same schema (and
  the same items) in the target region, a `Delete` drops it, and `DescribeTable` in
  any member region reports the other members as ACTIVE replicas with
  `GlobalTableVersion = 2019.11.21`. A replica is encrypted with the key its
  `Create` names (or its region's AWS-managed key when the table has SSE), and keeps
  the table's attribute definitions, indexes, TTL and on-demand limits, as AWS
  does, whichever member they are changed on. Writes to any member are copied to the others
  after `--replication-delay` seconds (0 copies synchronously), so lag-aware features
  can be tested; a new replica stays CREATING for `--replica-creation-delay` seconds,
  so what waits for it can be observed.
* The DynamoDB table class (`TableClass` on CreateTable/UpdateTable) and on-demand
  limits (`OnDemandThroughput`), which moto ignores: they are remembered and
  reported.
* Conditional writes to one DynamoDB item are atomic, as in DynamoDB: moto checks a
  condition and then writes, and its server is threaded, so a DynamoDB write is
  served alone here (reads are served together while no write runs).
* Route 53 `UpdateHealthCheck` without `ChildHealthChecks` or `Regions`: moto clears
  them; here they are kept, as AWS does.
* Route 53 `DELETE` of a record with a set identifier. moto removes every record in
  the zone with that identifier, whatever its name or type; here only the record
  with the same name, type and identifier goes.
* Route 53 `UpdateHealthCheck` with `HealthCheckVersion`: moto ignores it and never
  bumps the version. Here every update bumps it and a stale version is refused with
  `HealthCheckVersionMismatch` (409), as AWS does, so a fence on it can be tested.
* Route 53's data plane (`dataplane.py`): health checkers that probe endpoint checks,
  the evaluation of inverted, disabled and calculated checks, `GetHealthCheckStatus`
  from the checkers, and `TestDNSAnswer` by the records' routing, also served as DNS
  on a UDP port (`dig @127.0.0.1 -p PORT api.shop.example.com +subnet=10.2.0.0/24`).
* Route 53 health checks of type `RECOVERY_CONTROL`: moto drops `RoutingControlArn`;
  here it is kept and returned, without the fields AWS does not support for the type
  (`RequestInterval`, `FailureThreshold`, `MeasureLatency`, which it refuses, and
  `IPAddress`, `Port`), and the data plane makes such a check healthy iff its routing
  control is On.
* Route 53 Application Recovery Controller routing control (`arc.py`): the
  configuration API (`route53-recovery-control-config`, on this port, us-west-2 only
  as on AWS) with clusters, control panels, routing controls and safety rules, and the
  cluster data plane (`route53-recovery-cluster`) on five loopback ports, one per
  cluster endpoint region, which every cluster's DescribeCluster lists; safety rules
  are enforced on every update.
* CloudWatch over Smithy's RPC v2 CBOR protocol, the one the Rust SDK speaks, which
  moto 5.2.1 lacks (`cloudwatch_cbor`): PutMetricData, GetMetricData and ListMetrics on
  moto's own CloudWatch backend, so metrics put through either protocol (CBOR or
  moto's query) are read through both. Namespaces under `AWS/` are accepted, as moto
  does, so tests can seed DynamoDB's metrics.
* CloudWatch `ListMetrics`: moto lists a metric of two or more dimensions once per
  datum put; here once, as AWS does.

Test hooks under `/_geoplan/` (never part of AWS's API):
* `GET /_geoplan/calls`: how many `UpdateHealthCheck` calls each check received, and
  the time (seconds, monotonic) of every Route 53 request, to measure request rates.
* `POST /_geoplan/pause?seconds=N`: every other request waits until N seconds have
  passed, as if AWS could not be reached (clients time out).
* `POST /_geoplan/hang?service=S&region=R&agent=A&seconds=N`: for N seconds, hold the
  requests that match every filter given (service and region from the SigV4 credential
  scope, agent a substring of the user agent), a one-sided partition; `?clear=1` ends
  every hang at once.
* `POST /_geoplan/dataplane?interval=S`: every health checker probes each S seconds
  (`interval=0`: each check's own `RequestInterval`);
  `?subnet=CIDR&regions=R1,R2`: latency routing answers clients in CIDR from the first
  healthy region of that list. `GET /_geoplan/dataplane` says where the DNS server
  answers: `{"dns": "127.0.0.1:PORT"}` (a UDP port of the emulator's host).
* `GET /_geoplan/arc`: the five ARC cluster endpoints, each with its index, region,
  URL, the calls it received (`calls`, and per operation) and answered, and whether it
  is dark or unavailable.
  `POST /_geoplan/arc?dark=0,2&seconds=N` (indices or regions, `dark=eu-west-1`):
  those endpoints accept connections and read requests but never answer them, for N
  seconds (no `seconds`: until cleared); a request held there is dropped unanswered
  when the darkness ends, never applied. `?unavailable=1&seconds=N`: they answer
  `EndpointTemporarilyUnavailableException` (503). `?clear=1`: every endpoint serves
  again. `?deploy_delay=S`: new ARC resources stay PENDING for S seconds (default 0).
  `?throttle=N`: at most N state updates a second per endpoint, then
  ThrottlingException (AWS's quota is 3; default 0, no limit). The Route 53 hang
  (`/_geoplan/hang?service=route53`) does not touch the cluster endpoints, which are
  other ports; `/_geoplan/pause` does not either.

Usage: python localstack/emulator.py [--host 127.0.0.1] [--port 0] [--replication-delay 0]
       [--replica-creation-delay 0]
With `--port 0` the OS picks a free port. Once it serves, the launcher prints one line,
`geoplan-emulator listening on http://HOST:PORT`, which test harnesses wait for.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import re
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any, Iterator

# The `/_geoplan/hang` rules, shared with LocalStack's compat layer (hangs.py, beside
# this file, on sys.path when this file runs as a script or compat.py imports it).
from hangs import Hangs as _Hangs
from hangs import service_and_region as _service_and_region

PINNED_MOTO = "5.2.1"


def _check_moto() -> None:
    import moto

    if moto.__version__ != PINNED_MOTO:
        sys.stderr.write(
            f"geoplan-emulator: moto {moto.__version__} is installed but the patches "
            f"below are written against moto {PINNED_MOTO}; "
            f"run: pip install 'moto[server]=={PINNED_MOTO}'\n"
        )
        sys.exit(2)


# --------------------------------------------------------------------------- DynamoDB


class _GlobalTables:
    """Which regions hold a replica of which table, per account.

    A std lock, not finer-grained: moto's server is threaded and every access is a
    short dictionary update.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        # (account_id, table_name) -> set of region names, the origin included
        self.members: dict[tuple[str, str], set[str]] = {}
        self.replication_delay = 0.0
        # Seconds a new replica stays CREATING, and when each one is ready:
        # (account_id, region, table_name) -> time.monotonic() deadline.
        self.creation_delay = 0.0
        self.ready_at: dict[tuple[str, str, str], float] = {}

    def status(self, account_id: str, region: str, name: str) -> str:
        with self.lock:
            ready = self.ready_at.get((account_id, region, name), 0.0)
        return "ACTIVE" if time.monotonic() >= ready else "CREATING"

    def regions(self, account_id: str, name: str) -> set[str]:
        with self.lock:
            return set(self.members.get((account_id, name), ()))

    def add(self, account_id: str, name: str, *regions: str) -> None:
        with self.lock:
            self.members.setdefault((account_id, name), set()).update(regions)

    def remove(self, account_id: str, name: str, region: str) -> None:
        with self.lock:
            group = self.members.get((account_id, name))
            if group is None:
                return
            group.discard(region)
            if len(group) <= 1:
                del self.members[(account_id, name)]


GLOBAL_TABLES = _GlobalTables()

# (account_id, region, table name) -> TableClass; moto 5.2.1 keeps no table class.
TABLE_CLASSES: dict[tuple[str, str, str], str] = {}
# (account_id, region, table name) -> OnDemandThroughput; moto 5.2.1 keeps none.
ON_DEMAND: dict[tuple[str, str, str], dict[str, int]] = {}


def _patch_dynamodb() -> None:
    from moto.dynamodb.exceptions import ResourceNotFoundException
    from moto.dynamodb.models import DynamoDBBackend, Table, dynamodb_backends
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    def backend(account_id: str, region: str) -> DynamoDBBackend:
        return dynamodb_backends[account_id][region]

    def sync_replicas(account_id: str, region: str, name: str) -> None:
        """Copies to every replica what AWS keeps the same across a global table:
        attribute definitions, global and local indexes, TTL and on-demand limits."""
        source = backend(account_id, region).tables.get(name)
        if source is None:
            return
        limits = ON_DEMAND.get((account_id, region, name))
        for target in GLOBAL_TABLES.regions(account_id, name) - {region}:
            dst = backend(account_id, target).tables.get(name)
            if dst is None:
                continue
            dst.attr = copy.deepcopy(source.attr)
            dst.global_indexes = copy.deepcopy(source.global_indexes)
            dst.indexes = copy.deepcopy(source.indexes)
            dst.ttl = copy.deepcopy(source.ttl)
            if limits:
                ON_DEMAND[(account_id, target, name)] = dict(limits)
            else:
                ON_DEMAND.pop((account_id, target, name), None)

    def create_replica(
        account_id: str, region: str, name: str, target: str, kms_key: str | None = None
    ) -> None:
        source = backend(account_id, region).get_table(name)
        dst = backend(account_id, target)
        if name in dst.tables:
            # A replica of an existing table: AWS refuses unless it is empty; the
            # provider never does this, so keep the table as it is.
            GLOBAL_TABLES.add(account_id, name, region, target)
            return
        stream = copy.deepcopy(source.stream_specification) or None
        if stream is not None and not stream.get("StreamEnabled"):
            stream = None
        replica = dst.create_table(
            name,
            schema=copy.deepcopy(source.schema),
            throughput=copy.deepcopy(source.throughput),
            attr=copy.deepcopy(source.attr),
            global_indexes=[],
            indexes=[],
            streams=stream,
            billing_mode=source.billing_mode,
            # The replica's own key, or the AWS-managed key of its region.
            sse_specification=(
                {"Enabled": True, "SSEType": "KMS", **({"KMSMasterKeyId": kms_key} if kms_key else {})}
                if kms_key or (source.sse_specification or {}).get("Enabled")
                else None
            ),
            tags=[],
            deletion_protection_enabled=False,
            warm_throughput=None,
        )
        # AWS seeds a new replica with the table's data.
        replica.items = copy.deepcopy(source.items)
        with GLOBAL_TABLES.lock:
            GLOBAL_TABLES.ready_at[(account_id, target, name)] = (
                time.monotonic() + GLOBAL_TABLES.creation_delay
            )
        GLOBAL_TABLES.add(account_id, name, region, target)
        sync_replicas(account_id, region, name)

    def delete_replica(account_id: str, region: str, name: str, target: str) -> None:
        dst = backend(account_id, target)
        if name in dst.tables:
            dst.tables.pop(name)
        GLOBAL_TABLES.remove(account_id, name, target)

    # The table class: moto ignores `TableClass`; remember it and report it.
    original_create_table = DynamoHandler.create_table

    def create_table(self: DynamoHandler) -> Any:
        result = original_create_table(self)
        key = (self.current_account, self.region, self.body["TableName"])
        if self.body.get("TableClass"):
            TABLE_CLASSES[key] = self.body["TableClass"]
        # On-demand limits: moto ignores `OnDemandThroughput`; remember and report them.
        if self.body.get("OnDemandThroughput"):
            ON_DEMAND[key] = dict(self.body["OnDemandThroughput"])
        else:
            ON_DEMAND.pop(key, None)
        return result

    DynamoHandler.create_table = create_table

    original_update_table = DynamoHandler.update_table

    def update_table(self: DynamoHandler) -> Any:
        updates = self.body.get("ReplicaUpdates") or []
        name = self.body["TableName"]
        if self.body.get("TableClass"):
            TABLE_CLASSES[(self.current_account, self.region, name)] = self.body["TableClass"]
        if updates:
            # Fail the way AWS does for an unknown table before touching replicas.
            self.dynamodb_backend.get_table(name)
        result = original_update_table(self)
        limits = self.body.get("OnDemandThroughput")
        if limits:
            ON_DEMAND[(self.current_account, self.region, name)] = dict(limits)
        if not updates:
            sync_replicas(self.current_account, self.region, name)
            return result
        for update in updates:
            if "Create" in update:
                target = update["Create"]["RegionName"]
                kms_key = update["Create"].get("KMSMasterKeyId")
                create_replica(self.current_account, self.region, name, target, kms_key)
            elif "Delete" in update:
                target = update["Delete"]["RegionName"]
                delete_replica(self.current_account, self.region, name, target)
            # "Update" (per-replica throughput or table class) needs no emulation.
        table = self.dynamodb_backend.get_table(name)
        return DynamoResult(table.describe())

    DynamoHandler.update_table = update_table

    # TTL is a table-wide setting on AWS: set on one replica, it applies to all.
    original_update_ttl = DynamoHandler.update_time_to_live

    def update_time_to_live(self: DynamoHandler) -> Any:
        result = original_update_ttl(self)
        sync_replicas(self.current_account, self.region, self.body["TableName"])
        return result

    DynamoHandler.update_time_to_live = update_time_to_live

    original_describe = Table.describe

    def describe(self: Table, base_key: str = "TableDescription") -> dict[str, Any]:
        result = original_describe(self, base_key)
        table_class = TABLE_CLASSES.get((self.account_id, self.region_name, self.name))
        if table_class:
            result[base_key]["TableClassSummary"] = {"TableClass": table_class}
        limits = ON_DEMAND.get((self.account_id, self.region_name, self.name))
        if limits:
            result[base_key]["OnDemandThroughput"] = dict(limits)
        result[base_key]["TableStatus"] = GLOBAL_TABLES.status(
            self.account_id, self.region_name, self.name
        )
        members = GLOBAL_TABLES.regions(self.account_id, self.name)
        if self.region_name in members and len(members) > 1:
            result[base_key]["GlobalTableVersion"] = "2019.11.21"
            result[base_key]["Replicas"] = [
                {
                    "RegionName": region,
                    "ReplicaStatus": GLOBAL_TABLES.status(self.account_id, region, self.name),
                    "ReplicaTableClassSummary": {"TableClass": "STANDARD"},
                }
                for region in sorted(members)
                if region != self.region_name
            ]
        return result

    Table.describe = describe

    original_delete_table = DynamoDBBackend.delete_table

    def delete_table(self: DynamoDBBackend, name: str) -> Table:
        table = original_delete_table(self, name)
        GLOBAL_TABLES.remove(self.account_id, name, self.region_name)
        TABLE_CLASSES.pop((self.account_id, self.region_name, name), None)
        return table

    DynamoDBBackend.delete_table = delete_table

    # Replication of writes: after a successful write in one member region, copy the
    # item (or its removal) to every other member, now or after the configured delay.
    def replicate(account_id: str, region: str, name: str, apply: Any) -> None:
        members = GLOBAL_TABLES.regions(account_id, name)
        others = [r for r in members if r != region]
        if not others:
            return

        def run() -> None:
            for other in others:
                try:
                    apply(backend(account_id, other))
                except ResourceNotFoundException:
                    pass  # the replica was deleted meanwhile

        def run_alone() -> None:
            # A copy is a write like any other: served alone (see DYNAMODB_REQUESTS).
            with DYNAMODB_REQUESTS.write():
                run()

        if GLOBAL_TABLES.replication_delay > 0:
            timer = threading.Timer(GLOBAL_TABLES.replication_delay, run_alone)
            timer.daemon = True
            timer.start()
        else:
            run()

    original_put_item = DynamoDBBackend.put_item

    def put_item(self: DynamoDBBackend, table_name: str, item_attrs: dict, *args: Any, **kwargs: Any) -> Any:
        result = original_put_item(self, table_name, item_attrs, *args, **kwargs)
        attrs = copy.deepcopy(item_attrs)
        replicate(
            self.account_id,
            self.region_name,
            table_name,
            lambda other: original_put_item(other, table_name, attrs),
        )
        return result

    DynamoDBBackend.put_item = put_item

    original_delete_item = DynamoDBBackend.delete_item

    def delete_item(self: DynamoDBBackend, table_name: str, key: dict, *args: Any, **kwargs: Any) -> Any:
        result = original_delete_item(self, table_name, key, *args, **kwargs)
        key_copy = copy.deepcopy(key)
        replicate(
            self.account_id,
            self.region_name,
            table_name,
            lambda other: original_delete_item(other, table_name, key_copy),
        )
        return result

    DynamoDBBackend.delete_item = delete_item


# --------------------------------------------------------------------------- Route 53


UPDATE_CALLS: dict[str, int] = {}
UPDATE_CALLS_LOCK = threading.Lock()

# DynamoDB applies a conditional write atomically per item. moto checks the condition
# and then writes, in two steps, and its server is threaded: two writers could both pass
# a condition only one of them meets (two instances taking over one lease item in one
# epoch was seen). So a DynamoDB write is served alone, and reads (which moto serves
# by iterating its dicts, which a write may resize) together while no write runs.
class _ReadWriteLock:
    """Many readers or one writer; a waiting writer holds back new readers, so a
    steady stream of scans cannot starve the writes."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.readers = 0
        self.writing = False
        self.writers_waiting = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self.cond:
            while self.writing or self.writers_waiting:
                self.cond.wait()
            self.readers += 1
        try:
            yield
        finally:
            with self.cond:
                self.readers -= 1
                if self.readers == 0:
                    self.cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self.cond:
            self.writers_waiting += 1
            while self.writing or self.readers:
                self.cond.wait()
            self.writers_waiting -= 1
            self.writing = True
        try:
            yield
        finally:
            with self.cond:
                self.writing = False
                self.cond.notify_all()


DYNAMODB_REQUESTS = _ReadWriteLock()
# The DynamoDB operations that only read (the rest change something).
DYNAMODB_READS = frozenset(
    ["GetItem", "BatchGetItem", "Query", "Scan", "DescribeTable", "ListTables", "DescribeTimeToLive",
     "ListTagsOfResource", "DescribeContinuousBackups", "DescribeKinesisStreamingDestination",
     "DescribeContributorInsights", "DescribeTableReplicaAutoScaling", "DescribeGlobalTable",
     "DescribeGlobalTableSettings", "DescribeLimits", "DescribeEndpoints", "TransactGetItems"]
)


def version_mismatch(health_check_id: str) -> Exception:
    """Route 53's 409 `HealthCheckVersionMismatch`: an UpdateHealthCheck on a stale
    version. Shared with LocalStack's compatibility layer (compat.py)."""
    from moto.route53.exceptions import Route53ClientError

    class HealthCheckVersionMismatch(Route53ClientError):
        code = 409

    return HealthCheckVersionMismatch(
        "HealthCheckVersionMismatch",
        f"The value of HealthCheckVersion in the request doesn't match the "
        f"value of HealthCheckVersion in health check {health_check_id}.",
    )


def _patch_route53() -> None:
    from moto.route53.responses import Route53

    original_update = Route53.update_health_check

    def update_health_check(self: Route53) -> Any:
        hc_id = self._get_param("HealthCheckId")
        version = self._get_param("HealthCheckVersion")
        with UPDATE_CALLS_LOCK:
            UPDATE_CALLS[hc_id] = UPDATE_CALLS.get(hc_id, 0) + 1
        hc = self.backend.health_checks.get(hc_id)
        if hc is not None and version is not None and int(version) != hc.health_check_version:
            raise version_mismatch(hc_id)
        # moto clears a calculated check's children (and a check's regions) when an
        # update does not send them; AWS keeps them.
        kept = (hc.children, hc.regions) if hc is not None else (None, None)
        result = original_update(self)
        if hc is not None:
            if self._get_param("ChildHealthChecks") is None:
                hc.children = kept[0]
            if self._get_param("Regions") is None:
                hc.regions = kept[1]
            hc.health_check_version += 1
        return result

    Route53.update_health_check = update_health_check

    _patch_recovery_control_checks()
    patch_route53_delete_by_identifier()


# Fields of a health check config that "[are] not supported when you specify a value for
# Type of RECOVERY_CONTROL" (API reference, HealthCheckConfig), and the endpoint fields
# that have no meaning for it; GetHealthCheck leaves them out, so terraform, which
# sends none of them, plans no change.
_NOT_FOR_RECOVERY_CONTROL = ("RequestInterval", "FailureThreshold", "MeasureLatency")
_ENDPOINT_ONLY = ("IPAddress", "Port")


def _patch_recovery_control_checks() -> None:
    """Route 53 health checks of type RECOVERY_CONTROL keep their `RoutingControlArn`
    ("If the routing control state is ON, the health check is considered healthy. If
    the state is OFF, the health check is considered unhealthy", API reference,
    HealthCheckConfig Type); moto 5.2.1 drops it."""
    from moto.route53.exceptions import InvalidInput
    from moto.route53.models import HealthCheck
    from moto.route53.responses import Route53

    original_config = HealthCheck.health_check_config

    def health_check_config(self: HealthCheck) -> dict[str, Any]:
        config = original_config.fget(self)
        if self.type_ == "RECOVERY_CONTROL":
            for key in _NOT_FOR_RECOVERY_CONTROL + _ENDPOINT_ONLY:
                config.pop(key, None)
            config["RoutingControlArn"] = getattr(self, "routing_control_arn", None)
        return config

    HealthCheck.health_check_config = property(health_check_config)

    original_create = Route53.create_health_check

    def create_health_check(self: Route53) -> Any:
        config = self._get_param("HealthCheckConfig") or {}
        if config.get("Type") == "RECOVERY_CONTROL":
            if not config.get("RoutingControlArn"):
                raise InvalidInput("A health check of type RECOVERY_CONTROL needs a RoutingControlArn.")
            given = [k for k in _NOT_FOR_RECOVERY_CONTROL if config.get(k) not in (None, False, "false")]
            if given:
                raise InvalidInput(f"{', '.join(given)} is not supported for health checks of type RECOVERY_CONTROL.")
        result = original_create(self)
        if config.get("Type") == "RECOVERY_CONTROL":
            result.result["HealthCheck"].routing_control_arn = config["RoutingControlArn"]
        return result

    Route53.create_health_check = create_health_check


def patch_route53_delete_by_identifier() -> None:
    """Route 53 `DELETE` of a record with a set identifier removes that record only.

    moto (and moto-ext inside LocalStack) calls zone.delete_rrset_by_id(identifier),
    which drops every record carrying that identifier, whatever its name or type.
    Shared with LocalStack's compatibility layer (compat.py).
    """
    from moto.route53.models import FakeZone, Route53Backend

    original_change = Route53Backend.change_resource_record_sets

    def change_resource_record_sets(
        self: Route53Backend, zoneid: str, change_list: list[dict[str, Any]]
    ) -> None:
        # moto's DELETE branch calls zone.delete_rrset_by_id(identifier), which drops
        # every record carrying that identifier. Route it through a zone-level
        # override that also knows the name and type of the record being deleted.
        zone = self.get_hosted_zone(zoneid)
        pending = [
            change["ResourceRecordSet"]
            for change in change_list
            if change.get("Action") == "DELETE"
            and "SetIdentifier" in change.get("ResourceRecordSet", {})
        ]
        zone._geoplan_pending_deletes = pending
        try:
            return original_change(self, zoneid, change_list)
        finally:
            zone._geoplan_pending_deletes = []

    def delete_rrset_by_id(self: FakeZone, set_identifier: str) -> None:
        pending = getattr(self, "_geoplan_pending_deletes", [])
        # The record sets in `pending` are the same dicts moto is processing; by now
        # moto has appended the trailing dot to their names.
        match = next(
            (r for r in pending if r.get("SetIdentifier") == set_identifier), None
        )
        if match is None:
            raise AssertionError("geoplan-emulator: unexpected DELETE by identifier")
        pending.remove(match)
        name = match["Name"] if match["Name"].endswith(".") else match["Name"] + "."
        self.rrsets = [
            rrset
            for rrset in self.rrsets
            if not (
                rrset.set_identifier == set_identifier
                and rrset.name == name
                # `type` in moto 5.2, `type_` in LocalStack's moto-ext.
                and getattr(rrset, "type_", getattr(rrset, "type", None)) == match.get("Type")
            )
        ]

    Route53Backend.change_resource_record_sets = change_resource_record_sets
    FakeZone.delete_rrset_by_id = delete_rrset_by_id


# --------------------------------------------------------------------------- CloudWatch


CLOUDWATCH_CBOR_PATH = "/service/GraniteServiceVersion20100801/operation/"
# moto's error codes (CloudWatch's awsQuery codes) -> the error shapes of its Smithy model.
_CLOUDWATCH_ERROR_SHAPES = {
    "InvalidParameterValue": "InvalidParameterValueException",
    "InvalidParameterCombination": "InvalidParameterCombinationException",
    "MissingParameter": "MissingRequiredParameterException",
    "InternalServiceError": "InternalServiceFault",
}


def _naive_utc(value: Any) -> Any:
    """A decoded CBOR value with its timestamps (tag 1: aware datetimes) as moto keeps
    them, naive UTC."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    if isinstance(value, dict):
        return {k: _naive_utc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_naive_utc(v) for v in value]
    return value


def _epoch(value: datetime) -> Any:
    """A timestamp as the protocol sends it: tag 1 over epoch seconds (a float); moto's
    naive datetimes are UTC."""
    from cbor2 import CBORTag

    return CBORTag(1, (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp())


def _patch_cloudwatch() -> None:
    """moto's ListMetrics lists a metric of two or more dimensions once per datum put:
    its `are_dimensions_same` wants every dimension equal to every other. AWS lists each
    metric once; so does this, through either protocol."""
    from moto.cloudwatch import models

    def same(a: list, b: list) -> bool:
        return sorted((d.name, d.value) for d in a) == sorted((d.name, d.value) for d in b)

    models.are_dimensions_same = same


def _cloudwatch_put_metric_data(backend: Any, body: dict) -> None:
    data = list(body.get("MetricData") or [])
    for entity in body.get("EntityMetricData") or []:
        data += entity.get("MetricData") or []
    backend.put_metric_data(body["Namespace"], data)


def _cloudwatch_get_metric_data(backend: Any, body: dict) -> dict:
    from moto.cloudwatch.exceptions import ValidationError

    queries = body.get("MetricDataQueries") or []
    for i, query in enumerate(queries, 1):
        if "MetricStat" not in query and "Expression" not in query:
            raise ValidationError(f"The parameter MetricDataQueries.member.{i}.MetricStat is required.")
    results = backend.get_metric_data(
        queries, body["StartTime"], body["EndTime"], body.get("ScanBy") or "TimestampDescending"
    )
    # Values as CBOR floats: the SDK (minicbor's f64) refuses an integer for a double.
    return {
        "MetricDataResults": [
            {
                "Id": r["id"],
                "Label": r["label"],
                "Timestamps": [_epoch(t) for t in r["timestamps"]],
                "Values": [float(v) for v in r["values"]],
                "StatusCode": r["status_code"],
            }
            for r in results
        ],
        "Messages": [],
    }


def _cloudwatch_list_metrics(backend: Any, body: dict) -> dict:
    token, metrics = backend.list_metrics(
        body.get("NextToken"), body.get("Namespace"), body.get("MetricName"), body.get("Dimensions") or []
    )
    out: dict[str, Any] = {
        "Metrics": [
            {
                "Namespace": m.namespace,
                "MetricName": m.name,
                "Dimensions": [{"Name": d.name, "Value": d.value} for d in m.dimensions],
            }
            for m in metrics
        ]
    }
    if token:
        out["NextToken"] = token
    return out


CLOUDWATCH_CBOR_OPERATIONS = {
    "PutMetricData": _cloudwatch_put_metric_data,
    "GetMetricData": _cloudwatch_get_metric_data,
    "ListMetrics": _cloudwatch_list_metrics,
}


def cloudwatch_cbor(environ: dict, start_response: Any, region: str) -> list[bytes]:
    """CloudWatch over Smithy's RPC v2 CBOR protocol, which moto 5.2.1 lacks and the
    Rust SDK (aws-sdk-cloudwatch 1.118) speaks: `POST CLOUDWATCH_CBOR_PATH + Operation`
    with `smithy-protocol: rpc-v2-cbor` and a CBOR map of the input's members, answered
    with a CBOR map of the output's (none for PutMetricData, whose output is Unit).
    https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html ("Smithy RPC v2
    CBOR protocol"): timestamps are tag 1 over epoch seconds; an error is 400 (500 for a
    server fault) with `{"__type": shape id, "message": ...}`. CloudWatch is
    @awsQueryCompatible, so an error also carries `x-amzn-query-error: Code;Sender`, the
    code the SDK matches its errors on. An unknown operation is a 404
    `UnknownOperationException`, as smithy-rs servers answer (the spec says nothing).

    PutMetricData, GetMetricData and ListMetrics run on moto's own CloudWatch backend of
    the caller's account (as moto decides it from the request) in the region of the
    SigV4 credential scope, so what either protocol puts the other reads."""
    import gzip
    import traceback
    import uuid

    import cbor2
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core.exceptions import ServiceException
    from moto.core.responses import BaseResponse
    from werkzeug.wrappers import Request

    request = Request(environ)
    operation = request.path[len(CLOUDWATCH_CBOR_PATH):]

    def answer(status: str, output: dict | None, extra: tuple[tuple[str, str], ...] = ()) -> list[bytes]:
        payload = b"" if output is None else cbor2.dumps(output)
        headers = [("smithy-protocol", "rpc-v2-cbor"), ("x-amzn-RequestId", str(uuid.uuid4()))]
        if output is not None:
            headers.append(("Content-Type", "application/cbor"))
        headers += [("Content-Length", str(len(payload))), *extra]
        start_response(status, headers)
        return [payload]

    def error(status: str, code: str, message: str, shape_id: str | None = None) -> list[bytes]:
        shape_id = shape_id or f"com.amazonaws.cloudwatch#{_CLOUDWATCH_ERROR_SHAPES.get(code, code)}"
        fault = "Receiver" if status.startswith("5") else "Sender"
        return answer(status, {"__type": shape_id, "message": message}, (("x-amzn-query-error", f"{code};{fault}"),))

    handler = CLOUDWATCH_CBOR_OPERATIONS.get(operation)
    if handler is None:
        return error("404 Not Found", "UnknownOperationException", f"Operation {operation} is not served here "
                     "over rpc-v2-cbor.", "com.amazon.coral.service#UnknownOperationException")
    # The account as moto's own responses take it (MOTO_ACCOUNT_ID, x-moto-account-id,
    # an IAM access key's account, else the default).
    probe = BaseResponse(service_name="cloudwatch")
    probe.headers, probe.querystring = request.headers, {}
    backend = cloudwatch_backends[probe.get_current_account()][region or "us-east-1"]
    try:
        data = request.get_data()
        if request.headers.get("Content-Encoding", "").lower() == "gzip":  # @requestCompression
            data = gzip.decompress(data)
        body = _naive_utc(cbor2.loads(data)) if data else {}
    except (ValueError, OSError, cbor2.CBORDecodeError) as e:
        return error("400 Bad Request", "SerializationException", f"Cannot read the CBOR body: {e}")
    try:
        return answer("200 OK", handler(backend, body))
    except ServiceException as e:
        return error("400 Bad Request", e.code, e.message)
    except KeyError as e:
        return error("400 Bad Request", "MissingParameter", f"The parameter {e.args[0]} is required.")
    except Exception as e:  # noqa: BLE001: a server fault, as AWS would answer it
        traceback.print_exc()
        return error("500 Internal Server Error", "InternalServiceError", f"{type(e).__name__}: {e}")


# --------------------------------------------------------------------------- server


_HEALTH_CHECK_STATUS = re.compile(r"/2013-04-01/healthcheck/([^/]+)/status/?")


def _route53_backends() -> Iterator[Any]:
    """Every account's moto Route 53 backend."""
    from moto.route53.models import route53_backends

    # Keyed by account, then by partition ("aws", "aws-cn", ...).
    for account in list(route53_backends.values()):
        for backend in list(account.values()):
            yield backend


def _arc() -> Any:
    """ARC routing control (arc.py), its five cluster endpoints started."""
    from arc import Arc

    def health_checks() -> Iterator[Any]:
        for backend in _route53_backends():
            yield from list(backend.health_checks.values())

    arc = Arc(health_checks)
    arc.endpoints.start()
    return arc


def _data_plane(arc: Any) -> Any:
    """Health checkers and DNS answers over every account's moto Route 53 backend, with
    RECOVERY_CONTROL checks following ARC's routing controls."""
    from dataplane import DataPlane

    return DataPlane(_route53_backends, routing_control_state=arc.state_of)


def _xml(start_response: Any, code: int, body: str) -> list[bytes]:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[code]
    start_response(f"{code} {reason}", [("Content-Type", "text/xml")])
    return [body.encode()]


def _with_test_hooks(app: Any, host: str) -> Any:
    """Serves `/_geoplan/*`, holds every other request during a pause and the ones a
    hang rule matches while it lasts."""
    import json
    from urllib.parse import parse_qs

    from arc import DATA_SERVICE, config_app

    paused_until = [0.0]
    hangs = _Hangs()
    arc = _arc()
    plane = _data_plane(arc)
    dns_port = plane.serve_dns(host)
    route53_times: list[float] = []
    route53_log: list[str] = []

    def hooked(environ: dict, start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/2013-04-01/"):  # the Route 53 REST API
            with UPDATE_CALLS_LOCK:
                route53_times.append(time.monotonic())
                route53_log.append(f"{time.monotonic():.3f} {environ.get('REQUEST_METHOD')} {path}")
        if path == "/_geoplan/calls":
            with UPDATE_CALLS_LOCK:
                body = json.dumps(
                    {"UpdateHealthCheck": UPDATE_CALLS, "route53_times": route53_times, "route53_log": route53_log}
                ).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if path == "/_geoplan/pause":
            seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("seconds", ["0"])[0])
            paused_until[0] = time.monotonic() + seconds
            start_response("204 No Content", [])
            return [b""]
        if path == "/_geoplan/dataplane" and environ.get("REQUEST_METHOD") == "GET":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"dns": f"{host}:{dns_port}"}).encode()]
        if path == "/_geoplan/dataplane":
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            try:
                plane.configure(query)
            except ValueError as e:
                start_response("400 Bad Request", [("Content-Type", "text/plain")])
                return [str(e).encode()]
            start_response("204 No Content", [])
            return [b""]
        if path == "/_geoplan/hang":
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            if query.get("clear") not in (None, "", "0"):
                hangs.clear()
            else:
                hangs.add(
                    query.get("service") or None,
                    query.get("region") or None,
                    query.get("agent") or None,
                    float(query.get("seconds", "0")),
                )
            start_response("204 No Content", [])
            return [b""]
        if path == "/_geoplan/arc" and environ.get("REQUEST_METHOD") == "GET":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(arc.endpoints.report()).encode()]
        if path == "/_geoplan/arc":
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            try:
                arc.endpoints.configure(query)
            except ValueError as e:
                start_response("400 Bad Request", [("Content-Type", "text/plain")])
                return [str(e).encode()]
            start_response("204 No Content", [])
            return [b""]
        wait = paused_until[0] - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        hangs.hold(environ)
        # ARC's configuration API (arc.py), which moto lacks; its data plane is served
        # on the cluster endpoints' own ports, never here.
        service, region = _service_and_region(environ)
        if environ.get("HTTP_SMITHY_PROTOCOL") == "rpc-v2-cbor" and path.startswith(CLOUDWATCH_CBOR_PATH):
            return cloudwatch_cbor(environ, start_response, region)
        if service == "route53-recovery-control-config":
            return config_app(arc, environ, start_response, region)
        if service == DATA_SERVICE:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [json.dumps({"__type": "ResourceNotFoundException", "message": "route53-recovery-cluster "
                                "is served on the cluster endpoints that DescribeCluster lists, not here."}).encode()]
        # Route 53's data plane, which moto lacks (dataplane.py).
        status = _HEALTH_CHECK_STATUS.fullmatch(path)
        if status and environ.get("REQUEST_METHOD") == "GET":
            return _xml(start_response, *plane.status_xml(status.group(1)))
        if path.rstrip("/") == "/2013-04-01/testdnsanswer" and environ.get("REQUEST_METHOD") == "GET":
            query = {k.lower(): v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            return _xml(start_response, *plane.answer_xml(query))
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("DynamoDB_"):
            # Writes one at a time, reads together (see DYNAMODB_REQUESTS); a held
            # request waits above, before it takes the lock.
            op = target.partition(".")[2]
            with DYNAMODB_REQUESTS.read() if op in DYNAMODB_READS else DYNAMODB_REQUESTS.write():
                return list(app(environ, start_response))
        return app(environ, start_response)

    return hooked



def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--replication-delay",
        type=float,
        default=0.0,
        help="seconds before a write reaches the other replicas (default 0)",
    )
    parser.add_argument(
        "--replica-creation-delay",
        type=float,
        default=0.0,
        help="seconds a new replica stays CREATING (default 0)",
    )
    args = parser.parse_args(argv)

    _check_moto()
    _patch_dynamodb()
    _patch_route53()
    _patch_cloudwatch()
    GLOBAL_TABLES.replication_delay = args.replication_delay
    GLOBAL_TABLES.creation_delay = args.replica_creation_delay

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = _with_test_hooks(DomainDispatcherApplication(create_backend_app), args.host)
    server = make_server(args.host, args.port, app, threaded=True)

    def stop(_signum: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"geoplan-emulator listening on http://{args.host}:{server.port}", flush=True
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
