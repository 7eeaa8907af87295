"""Route 53 Application Recovery Controller (ARC) routing control, which moto and
LocalStack's community edition do not have: the configuration API, the clusters' five
endpoints and the safety rules. Served by emulator.py (moto) and, in LocalStack's
process, by compat.py (`serve_arc`), where the caller's account is LocalStack's
(`Arc(accounts=...)`).

* **Configuration** (`route53-recovery-control-config`, restJson1, on the emulator's
  own port; requests are recognised by their SigV4 credential scope). Clusters,
  control panels, routing controls, assertion and gating safety rules and their tags,
  as in the Recovery Control Configuration API reference
  (https://docs.aws.amazon.com/recovery-cluster/latest/api/): a cluster gets a
  default control panel ("When you create a cluster, ... ARC creates a control
  panel, and sets this flag", `DefaultControlPanel`), a routing control created
  without a panel goes to it, and ARNs are AWS's
  (`arn:aws:route53-recovery-control::ACCOUNT:cluster/ID`, `.../controlpanel/ID`,
  `.../controlpanel/PANEL/routingcontrol/ID`, `.../controlpanel/PANEL/safetyrule/ID`).
  AWS serves this API from us-west-2 only, so a request scoped to another region is
  refused as AWS's endpoint would refuse it. New resources are DEPLOYED at once (or
  PENDING for the hook's `deploy_delay`); deletions take effect at once, so a
  waiter for PENDING_DELETION sees the 404 it waits for. A panel that still holds
  routing controls or rules, a cluster that still holds routing controls or panels
  besides its default one, and a routing control a rule names are refused with a
  ConflictException.
* **Cluster endpoints** (`route53-recovery-cluster`, awsJson1_0, target prefix
  `ToggleCustomerAPI`): five HTTP servers on loopback ports, one per region of
  `REGIONS`, shared by every cluster (they route by routing control ARN) and reading
  and writing one state, as the cluster's quorum does, so an update through any
  endpoint is seen at once through the others. `GetRoutingControlState`,
  `UpdateRoutingControlState(s)` (at most 10 controls a call, the documented quota:
  https://docs.aws.amazon.com/r53recovery/latest/dg/routing-control.quotas.html) and
  `ListRoutingControls` (paginated). A new routing control is Off. Errors carry the
  model's shapes and the HTTP codes of its Smithy model (400, 402, 403, 404, 409,
  429, 503).
* **Safety rules**, enforced on every update as the developer guide describes
  (https://docs.aws.amazon.com/r53recovery/latest/dg/routing-control.safety-rules.html):
  - an *assertion rule* is evaluated for a transaction that names one of its
    asserted controls ("The routing controls that are part of transactions that are
    evaluated"), on the states the transaction would leave: "ARC enforces that the
    criteria that you set when you configured the rule is met, or else the routing
    control states aren't changed". So with all controls Off (as they start) and
    "at least 1 On", turning one On passes; "at least 2 On" needs both turned On in
    one `UpdateRoutingControlStates`. A transaction that names none of the asserted
    controls is not held back by the rule;
  - a *gating rule* lets a transaction that names one of its target controls through
    only while its gating controls, as they stand, satisfy the rule config ("Routing
    controls that can only be set or unset if the specified RuleConfig evaluates to
    true for the specified GatingControls", API reference, NewGatingRule);
  - rule configs: `ATLEAST` N, `AND` (all On), `OR` (one On), `Inverted` negates
    (API reference, RuleConfig and RuleType);
  - `WaitPeriodMs`: "An evaluation period, in milliseconds (ms), during which any
    request against the target routing controls will fail. This helps prevent
    'flapping' of state" (API reference, AssertionRule). Here, once a transaction
    changes the state of a rule's asserted (assertion rule) or target (gating rule)
    controls, every update that names one of them is refused for WaitPeriodMs.
    Reads are not affected;
  - a refusal is a ConflictException whose message names the rule's ARN ("When a
    safety rule blocks a routing control state update, the error message includes
    the ARN of the rule that blocked the update",
    https://docs.aws.amazon.com/r53recovery/latest/dg/routing-control.override-safety-rule.html),
    one rule at a time; `SafetyRulesToOverride` skips the rules it names.
* **Test hooks** (`/_geoplan/arc`, served by emulator.py and compat.py): an endpoint can be made
  dark (it accepts the connection, reads the request and never answers; once the
  darkness ends the held request is dropped, never applied, as a request lost in a
  partition) or unavailable (`EndpointTemporarilyUnavailableException`, 503), and
  every endpoint counts the calls it received.

Not modelled: IAM (no AccessDeniedException), resource policies, the 3 mutating
calls per second per endpoint quota unless a test sets `throttle` with the hook,
and `ListRoutingControls` without a panel lists the caller's controls of every
cluster (the endpoints are shared), where AWS lists those of the endpoint's cluster.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs

# The five regions of a cluster's endpoints, in the order DescribeCluster lists them.
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "ap-southeast-2"]
CONFIG_SERVICE = "route53-recovery-control-config"
CONFIG_REGION = "us-west-2"
DATA_SERVICE = "route53-recovery-cluster"
MAX_UPDATE_ENTRIES = 10
ARN_PREFIX = "arn:aws:route53-recovery-control::"

# HTTP codes, from the Smithy models the SDKs are generated from (the published API
# reference of the data plane says 400 for most; the SDKs classify by `__type`).
CODES = {
    "ValidationException": 400,
    "ServiceLimitExceededException": 402,
    "ServiceQuotaExceededException": 402,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "ThrottlingException": 429,
    "InternalServerException": 500,
    "EndpointTemporarilyUnavailableException": 503,
}


class ArcError(Exception):
    def __init__(self, kind: str, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.kind, self.message, self.fields = kind, message, fields

    def response(self) -> tuple[int, dict[str, str], bytes]:
        body = {"__type": self.kind, "message": self.message, **self.fields}
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": self.kind}
        if self.kind == "ThrottlingException":
            headers["Retry-After"] = "1"
        return CODES.get(self.kind, 400), headers, json.dumps(body).encode()


def not_found(kind: str, arn: str) -> ArcError:
    return ArcError("ResourceNotFoundException", f"{kind} {arn} was not found.", resourceId=arn, resourceType=kind)


_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")


def account_of(authorization: str, moto_account: str | None = None) -> str:
    """The caller's account as moto decides it: MOTO_ACCOUNT_ID, the x-moto-account-id
    header, the access key's IAM account, else moto's default account."""
    if os.environ.get("MOTO_ACCOUNT_ID"):
        return os.environ["MOTO_ACCOUNT_ID"]
    if moto_account:
        return moto_account
    from moto.iam.models import get_account_id_from

    key = _ACCESS_KEY.search(authorization or "")
    return get_account_id_from(key.group(1) if key else "AKIAEXAMPLE")


def _satisfied(config: dict[str, Any], controls: list[str], states: dict[str, str]) -> bool:
    """A rule config over `controls` (API reference, RuleType: "ATLEAST - At least N
    routing controls must be set", "AND - All", "OR - Any"; Inverted: "If the rule
    would usually evaluate true, it's evaluated as false, and vice versa")."""
    on = sum(1 for arn in controls if states.get(arn) == "On")
    kind = config.get("Type")
    if kind == "AND":
        ok = on == len(controls)
    elif kind == "OR":
        ok = on >= 1
    else:  # ATLEAST
        ok = on >= int(config.get("Threshold") or 0)
    return not ok if config.get("Inverted") else ok


def _describe_config(config: dict[str, Any]) -> str:
    kind = config.get("Type")
    text = f"ATLEAST {config.get('Threshold')}" if kind == "ATLEAST" else str(kind)
    return f"NOT {text}" if config.get("Inverted") else text


def _page(items: list[Any], max_results: Any, token: Any) -> tuple[list[Any], str | None]:
    """One page: `NextToken` is the offset of the next item."""
    try:
        start = int(token) if token else 0
        size = int(max_results) if max_results else len(items) or 1
    except ValueError as e:
        raise ArcError("ValidationException", f"Invalid pagination parameter: {e}") from None
    if size < 1 or start < 0:
        raise ArcError("ValidationException", "MaxResults must be at least 1.")
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


class Arc:
    """Every account's ARC resources and routing control states, behind one lock (the
    emulator's server is threaded; every access is a short dictionary operation)."""

    def __init__(
        self,
        health_checks: Callable[[], Iterator[Any]] = lambda: iter(()),
        accounts: Callable[[str, str | None], str] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.health_checks = health_checks  # every moto Route 53 health check
        # The caller's account from its Authorization header (and moto's account
        # header): moto's rules by default; LocalStack's in LocalStack (compat.py).
        self.account_of: Callable[[str, str | None], str] = accounts or account_of
        self.clusters: dict[str, dict[str, Any]] = {}
        self.panels: dict[str, dict[str, Any]] = {}
        self.controls: dict[str, dict[str, Any]] = {}
        self.rules: dict[str, dict[str, Any]] = {}  # {"kind": ASSERTION|GATING, "rule": {...}}
        self.tags: dict[str, dict[str, str]] = {}
        self.tokens: dict[tuple[str, str, str], str] = {}  # (account, op, ClientToken) -> ARN
        self.ready_at: dict[str, float] = {}
        self.states: dict[str, str] = {}  # routing control ARN -> "On" | "Off"
        self.wait_until: dict[str, float] = {}  # safety rule ARN -> end of its wait period
        self.deploy_delay = 0.0
        self.endpoints = Endpoints(self)

    # ------------------------------------------------------------ helpers

    def _status(self, arn: str) -> str:
        return "DEPLOYED" if time.monotonic() >= self.ready_at.get(arn, 0.0) else "PENDING"

    def _new(self, arn: str) -> None:
        self.ready_at[arn] = time.monotonic() + self.deploy_delay

    def _get(self, table: dict[str, dict[str, Any]], kind: str, arn: Any) -> dict[str, Any]:
        if not isinstance(arn, str) or arn not in table:
            raise not_found(kind, str(arn))
        return table[arn]

    def _idempotent(self, account: str, op: str, body: dict[str, Any]) -> str | None:
        token = body.get("ClientToken")
        return self.tokens.get((account, op, token)) if token else None

    def _remember(self, account: str, op: str, body: dict[str, Any], arn: str) -> None:
        if body.get("ClientToken"):
            self.tokens[(account, op, body["ClientToken"])] = arn

    def _cluster_view(self, arn: str) -> dict[str, Any]:
        c = self.clusters[arn]
        return {
            "ClusterArn": arn,
            "ClusterEndpoints": [{"Endpoint": url, "Region": region} for region, url in self.endpoints.urls()],
            "Name": c["Name"],
            "Status": self._status(arn),
            "Owner": c["Owner"],
            "NetworkType": c["NetworkType"],
        }

    def _panel_view(self, arn: str) -> dict[str, Any]:
        p = self.panels[arn]
        return {
            "ClusterArn": p["ClusterArn"],
            "ControlPanelArn": arn,
            "DefaultControlPanel": p["DefaultControlPanel"],
            "Name": p["Name"],
            "RoutingControlCount": sum(1 for c in self.controls.values() if c["ControlPanelArn"] == arn),
            "Status": self._status(arn),
            "Owner": p["Owner"],
        }

    def _control_view(self, arn: str) -> dict[str, Any]:
        c = self.controls[arn]
        return {
            "ControlPanelArn": c["ControlPanelArn"],
            "Name": c["Name"],
            "RoutingControlArn": arn,
            "Status": self._status(arn),
            "Owner": c["Owner"],
        }

    def _rule_view(self, arn: str, listed: bool = False) -> dict[str, Any]:
        """`{"AssertionRule": ...}` or `{"GatingRule": ...}`; in ListSafetyRules, a `Rule`:
        `{"ASSERTION": ...}` or `{"GATING": ...}`."""
        entry = self.rules[arn]
        key = entry["kind"] if listed else {"ASSERTION": "AssertionRule", "GATING": "GatingRule"}[entry["kind"]]
        return {key: {**entry["rule"], "Status": self._status(arn)}}

    # ----------------------------------------------------- configuration

    def config(self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any], account: str) -> Any:
        """One call of the configuration API: the response document, or ArcError."""
        path = path.rstrip("/") or "/"
        q = {k: v[0] for k, v in query.items()}
        for verb, pattern, handler in _ROUTES:
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                with self.lock:
                    return handler(self, account, body, q, query, *match.groups())
        raise ArcError("ValidationException", f"No such operation: {method} {path}")

    def create_cluster(self, account: str, body: dict[str, Any], *_: Any) -> Any:
        arn = self._idempotent(account, "cluster", body)
        if arn is None:
            if not body.get("ClusterName"):
                raise ArcError("ValidationException", "ClusterName is required.")
            arn = f"{ARN_PREFIX}{account}:cluster/{uuid.uuid4()}"
            self.clusters[arn] = {"Name": body["ClusterName"], "Owner": account, "NetworkType": body.get("NetworkType") or "IPV4"}
            self.tags[arn] = dict(body.get("Tags") or {})
            self._new(arn)
            self._remember(account, "cluster", body, arn)
            # "When you create a cluster, ... ARC creates a control panel, and sets
            # this flag [DefaultControlPanel] for that control panel."
            self._add_panel(account, arn, "DefaultControlPanel", default=True)
        return {"Cluster": self._cluster_view(arn)}

    def _add_panel(self, account: str, cluster: str, name: str, default: bool = False) -> str:
        arn = f"{ARN_PREFIX}{account}:controlpanel/{uuid.uuid4().hex}"
        self.panels[arn] = {"ClusterArn": cluster, "Name": name, "Owner": account, "DefaultControlPanel": default}
        self.tags[arn] = {}
        self._new(arn)
        return arn

    def list_clusters(self, account: str, body: Any, q: dict[str, str], *_: Any) -> Any:
        arns = [a for a, c in self.clusters.items() if c["Owner"] == account]
        page, token = _page(arns, q.get("MaxResults"), q.get("NextToken"))
        return {"Clusters": [self._cluster_view(a) for a in page], **({"NextToken": token} if token else {})}

    def describe_cluster(self, account: str, body: Any, q: Any, query: Any, arn: str) -> Any:
        self._get(self.clusters, "Cluster", arn)
        return {"Cluster": self._cluster_view(arn)}

    def update_cluster(self, account: str, body: dict[str, Any], *_: Any) -> Any:
        cluster = self._get(self.clusters, "Cluster", body.get("ClusterArn"))
        if body.get("NetworkType") not in ("IPV4", "DUALSTACK"):
            raise ArcError("ValidationException", "NetworkType must be IPV4 or DUALSTACK.")
        cluster["NetworkType"] = body["NetworkType"]
        return {"Cluster": self._cluster_view(body["ClusterArn"])}

    def delete_cluster(self, account: str, body: Any, q: Any, query: Any, arn: str) -> Any:
        self._get(self.clusters, "Cluster", arn)
        panels = [p for p, v in self.panels.items() if v["ClusterArn"] == arn]
        if any(not self.panels[p]["DefaultControlPanel"] for p in panels) or any(
            c["ControlPanelArn"] in panels for c in self.controls.values()
        ):
            raise ArcError(
                "ConflictException",
                f"Cluster {arn} still has control panels or routing controls; delete them first.",
            )
        for p in panels:
            self._drop(self.panels, p)
        self._drop(self.clusters, arn)
        return {}

    def _drop(self, table: dict[str, Any], arn: str) -> None:
        table.pop(arn, None)
        self.tags.pop(arn, None)
        self.ready_at.pop(arn, None)

    def create_control_panel(self, account: str, body: dict[str, Any], *_: Any) -> Any:
        arn = self._idempotent(account, "controlpanel", body)
        if arn is None:
            self._get(self.clusters, "Cluster", body.get("ClusterArn"))
            if not body.get("ControlPanelName"):
                raise ArcError("ValidationException", "ControlPanelName is required.")
            arn = self._add_panel(account, body["ClusterArn"], body["ControlPanelName"])
            self.tags[arn] = dict(body.get("Tags") or {})
            self._remember(account, "controlpanel", body, arn)
        return {"ControlPanel": self._panel_view(arn)}

    def list_control_panels(self, account: str, body: Any, q: dict[str, str], *_: Any) -> Any:
        cluster = q.get("ClusterArn")
        if cluster:
            self._get(self.clusters, "Cluster", cluster)
        arns = [a for a, p in self.panels.items() if p["Owner"] == account and cluster in (None, p["ClusterArn"])]
        page, token = _page(arns, q.get("MaxResults"), q.get("NextToken"))
        return {"ControlPanels": [self._panel_view(a) for a in page], **({"NextToken": token} if token else {})}

    def describe_control_panel(self, account: str, body: Any, q: Any, query: Any, arn: str) -> Any:
        self._get(self.panels, "ControlPanel", arn)
        return {"ControlPanel": self._panel_view(arn)}

    def update_control_panel(self, account: str, body: dict[str, Any], *_: Any) -> Any:
        panel = self._get(self.panels, "ControlPanel", body.get("ControlPanelArn"))
        if not body.get("ControlPanelName"):
            raise ArcError("ValidationException", "ControlPanelName is required.")
        panel["Name"] = body["ControlPanelName"]
        return {"ControlPanel": self._panel_view(body["ControlPanelArn"])}

    def delete_control_panel(self, account: str, body: Any, q: Any, query: Any, arn: str) -> Any:
        panel = self._get(self.panels, "ControlPanel", arn)
        if panel["DefaultControlPanel"]:
            raise ArcError("ConflictException", f"Control panel {arn} is its cluster's default control panel.")
        if any(c["ControlPanelArn"] == arn for c in self.controls.values()) or any(
            r["rule"]["ControlPanelArn"] == arn for r in self.rules.values()
        ):
            raise ArcError(
                "ConflictException",
                f"Control panel {arn} still has routing controls or safety rules; delete them first.",
            )
        self._drop(self.panels, arn)
        return {}

    def create_routing_control(self, account: str, body: dict[str, Any], *_: Any) -> Any:
        arn = self._idempotent(account, "routingcontrol", body)
        if arn is None:
            cluster = body.get("ClusterArn")
            self._get(self.clusters, "Cluster", cluster)
            panel = body.get("ControlPanelArn") or next(
                (a for a, p in self.panels.items() if p["ClusterArn"] == cluster and p["DefaultControlPanel"]), None
            )
            if self._get(self.panels, "ControlPanel", panel)["ClusterArn"] != cluster:
                raise ArcError("ValidationException", f"Control panel {panel} is not in cluster {cluster}.")
            if not body.get("RoutingControlName"):
                raise ArcError("ValidationException", "RoutingControlName is required.")
            arn = f"{panel}/routingcontrol/{uuid.uuid4().hex[:16]}"
            self.controls[arn] = {"ControlPanelArn": panel, "Name": body["RoutingControlName"], "Owner": account}
            self.tags[arn] = {}
            self.states[arn] = "Off"  # a new routing control is Off
            self._new(arn)
            self._remember(account, "routingcontrol", body, arn)
        return {"RoutingControl": self._control_view(arn)}

    def list_routing_controls(self, account: str, body: Any, q: dict[str, str], query: Any, panel: str) -> Any:
        self._get(self.panels, "ControlPanel", panel)
        arns = [a for a, c in self.controls.items() if c["ControlPanelArn"] == panel]
        page, token = _page(arns, q.get("MaxResults"), q.get("NextToken"))
        return {"RoutingControls": [self._control_view(a) for a in page], **({"NextToken": token} if token else {})}

    def describe_routing_control(self, account: str, body: Any, q: Any, query: Any, arn: str) -> Any:
        self._get(self.controls, "RoutingControl", arn)
        return {"RoutingControl": self._control_view(arn)}

    def update_routing_control(self, account: str, body: dict[str, Any], *_: Any) -> Any:
        control = self._get(self.controls, "RoutingControl", body.get("RoutingControlArn"))
        if not body.get("RoutingControlName"):
            raise ArcError("ValidationException", "RoutingControlName is required.")
        control["Name"] = body["RoutingControlName"]
        return {"RoutingControl": self._control_view(body["RoutingControlArn"])}

    def delete_routing_control(self, account: str, body: Any, q: Any, query: Any, arn: str) -> Any:
        self._get(self.controls, "RoutingControl", arn)
        users = [r for r, v in self.rules.items() if arn in _rule_controls(v["rule"])]
        if users:
            raise ArcError("ConflictException", f"Routing control {arn} is used by safety rule {users[0]}; delete it first.")
        self._drop(self.controls, arn)
        self.states.pop(arn, None)
        return {}

    def list_associated_health_checks(self, account: str, body: Any, q: dict[str, str], query: Any, arn: str) -> Any:
        self._get(self.controls, "RoutingControl", arn)
        ids = sorted(c.id for c in self.health_checks() if getattr(c, "routing_control_arn", None) == arn)
        page, token = _page(ids, q.get("MaxResults"), q.get("NextToken"))
        return {"HealthCheckIds": page, **({"NextToken": token} if token else {})}

    def create_safety_rule(self, account: str, body: dict[str, Any], *_: Any) -> Any:
        arn = self._idempotent(account, "safetyrule", body)
        if arn is None:
            kinds = [k for k in ("AssertionRule", "GatingRule") if body.get(k)]
            if len(kinds) != 1:
                raise ArcError("ValidationException", "Specify exactly one of AssertionRule and GatingRule.")
            new = body[kinds[0]]
            kind = "ASSERTION" if kinds[0] == "AssertionRule" else "GATING"
            lists = ["AssertedControls"] if kind == "ASSERTION" else ["GatingControls", "TargetControls"]
            panel = new.get("ControlPanelArn")
            if panel not in self.panels:
                raise ArcError("ValidationException", f"Control panel {panel} was not found.")
            for key in ["Name", "RuleConfig", "WaitPeriodMs", *lists]:
                if new.get(key) in (None, "", []):
                    raise ArcError("ValidationException", f"{key} is required.")
            config = new["RuleConfig"]
            if config.get("Type") not in ("ATLEAST", "AND", "OR") or not isinstance(config.get("Threshold"), int):
                raise ArcError("ValidationException", "RuleConfig needs a Type of ATLEAST, AND or OR and a Threshold.")
            for key in lists:
                for control in new[key]:
                    if control not in self.controls:
                        raise ArcError("ValidationException", f"Routing control {control} was not found.")
            arn = f"{panel}/safetyrule/{uuid.uuid4().hex[:16]}"
            rule = {
                "ControlPanelArn": panel,
                "Name": new["Name"],
                "RuleConfig": {"Type": config["Type"], "Threshold": config["Threshold"], "Inverted": bool(config.get("Inverted"))},
                "SafetyRuleArn": arn,
                "WaitPeriodMs": int(new["WaitPeriodMs"]),
                "Owner": account,
                **{key: list(new[key]) for key in lists},
            }
            self.rules[arn] = {"kind": kind, "rule": rule}
            self.tags[arn] = dict(body.get("Tags") or {})
            self._new(arn)
            self._remember(account, "safetyrule", body, arn)
        return self._rule_view(arn)

    def list_safety_rules(self, account: str, body: Any, q: dict[str, str], query: Any, panel: str) -> Any:
        self._get(self.panels, "ControlPanel", panel)
        arns = [a for a, r in self.rules.items() if r["rule"]["ControlPanelArn"] == panel]
        page, token = _page(arns, q.get("MaxResults"), q.get("NextToken"))
        return {"SafetyRules": [self._rule_view(a, listed=True) for a in page], **({"NextToken": token} if token else {})}

    def describe_safety_rule(self, account: str, body: Any, q: Any, query: Any, arn: str) -> Any:
        self._get(self.rules, "SafetyRule", arn)
        return self._rule_view(arn)

    def update_safety_rule(self, account: str, body: dict[str, Any], *_: Any) -> Any:
        """"You can only update the name and the waiting period for a safety rule"."""
        update = body.get("AssertionRuleUpdate") or body.get("GatingRuleUpdate")
        if not update:
            raise ArcError("ValidationException", "Specify AssertionRuleUpdate or GatingRuleUpdate.")
        entry = self._get(self.rules, "SafetyRule", update.get("SafetyRuleArn"))
        if update.get("Name"):
            entry["rule"]["Name"] = update["Name"]
        if update.get("WaitPeriodMs") is not None:
            entry["rule"]["WaitPeriodMs"] = int(update["WaitPeriodMs"])
        return self._rule_view(update["SafetyRuleArn"])

    def delete_safety_rule(self, account: str, body: Any, q: Any, query: Any, arn: str) -> Any:
        self._get(self.rules, "SafetyRule", arn)
        self._drop(self.rules, arn)
        self.wait_until.pop(arn, None)
        return {}

    def _tagged(self, arn: str) -> dict[str, str]:
        if arn not in self.tags:
            raise not_found("Resource", arn)
        return self.tags[arn]

    def list_tags(self, account: str, body: Any, q: Any, query: Any, arn: str) -> Any:
        return {"Tags": dict(self._tagged(arn))}

    def tag_resource(self, account: str, body: dict[str, Any], q: Any, query: Any, arn: str) -> Any:
        self._tagged(arn).update(body.get("Tags") or {})
        return {}

    def untag_resource(self, account: str, body: Any, q: Any, query: dict[str, list[str]], arn: str) -> Any:
        tags = self._tagged(arn)
        for key in query.get("TagKeys", []):
            tags.pop(key, None)
        return {}

    # ------------------------------------------------------ data plane

    def state_of(self, arn: str | None) -> str | None:
        """A routing control's state, None for an unknown ARN (for Route 53's
        RECOVERY_CONTROL health checks)."""
        with self.lock:
            return self.states.get(arn) if arn else None

    def cluster_call(self, op: str, body: dict[str, Any], account: str) -> dict[str, Any]:
        with self.lock:
            if op == "GetRoutingControlState":
                arn = body.get("RoutingControlArn")
                control = self._data_control(arn)
                return {"RoutingControlArn": arn, "RoutingControlState": self.states[arn], "RoutingControlName": control["Name"]}
            if op == "UpdateRoutingControlState":
                entries = [{"RoutingControlArn": body.get("RoutingControlArn"), "RoutingControlState": body.get("RoutingControlState")}]
                self.update_states(entries, body.get("SafetyRulesToOverride") or [])
                return {}
            if op == "UpdateRoutingControlStates":
                entries = body.get("UpdateRoutingControlStateEntries")
                if not isinstance(entries, list) or not entries:
                    raise ArcError("ValidationException", "UpdateRoutingControlStateEntries is required.", reason="fieldValidationFailed")
                self.update_states(entries, body.get("SafetyRulesToOverride") or [])
                return {}
            if op == "ListRoutingControls":
                return self._list_states(body, account)
        raise ArcError("ValidationException", f"Unknown operation {op}.", reason="unknownOperation")

    def _data_control(self, arn: Any) -> dict[str, Any]:
        if not isinstance(arn, str) or not arn:
            raise ArcError(
                "ValidationException", "RoutingControlArn is required.", reason="fieldValidationFailed",
                fields=[{"name": "RoutingControlArn", "message": "RoutingControlArn is required."}],
            )
        if arn not in self.controls:
            raise not_found("RoutingControl", arn)
        return self.controls[arn]

    def _list_states(self, body: dict[str, Any], account: str) -> dict[str, Any]:
        panel = body.get("ControlPanelArn")
        if panel and panel not in self.panels:
            raise not_found("ControlPanel", panel)
        arns = [
            a for a, c in self.controls.items()
            if (c["ControlPanelArn"] == panel if panel else c["Owner"] == account)
        ]
        page, token = _page(arns, body.get("MaxResults"), body.get("NextToken"))
        controls = [
            {
                "ControlPanelArn": self.controls[a]["ControlPanelArn"],
                "ControlPanelName": self.panels[self.controls[a]["ControlPanelArn"]]["Name"],
                "RoutingControlArn": a,
                "RoutingControlName": self.controls[a]["Name"],
                "RoutingControlState": self.states[a],
                "Owner": self.controls[a]["Owner"],
            }
            for a in page
        ]
        return {"RoutingControls": controls, **({"NextToken": token} if token else {})}

    def update_states(self, entries: list[dict[str, Any]], overrides: list[str]) -> None:
        """One transaction: every entry applies, or none (ConflictException naming the
        first safety rule, in creation order, that blocks it)."""
        if len(entries) > MAX_UPDATE_ENTRIES:
            raise ArcError(
                "ServiceLimitExceededException",
                f"An update can change at most {MAX_UPDATE_ENTRIES} routing control states, not {len(entries)}.",
                limitCode="RoutingControlsPerUpdate", serviceCode="route53-recovery-cluster",
            )
        wanted: dict[str, str] = {}
        for entry in entries:
            arn = (entry or {}).get("RoutingControlArn")
            self._data_control(arn)
            state = str((entry or {}).get("RoutingControlState") or "").capitalize()
            if state not in ("On", "Off"):
                raise ArcError(
                    "ValidationException", f"RoutingControlState must be On or Off, not {entry.get('RoutingControlState')!r}.",
                    reason="fieldValidationFailed",
                    fields=[{"name": "RoutingControlState", "message": "must be On or Off"}],
                )
            wanted[arn] = state
        before = self.states
        after = {**before, **wanted}
        now = time.monotonic()
        for rule_arn, entry in list(self.rules.items()):
            if rule_arn in overrides or self._status(rule_arn) != "DEPLOYED":
                continue
            rule = entry["rule"]
            governed = rule["AssertedControls"] if entry["kind"] == "ASSERTION" else rule["TargetControls"]
            if not set(governed) & set(wanted):
                continue
            label = f"safety rule {rule_arn} ({entry['kind'].lower()} rule {rule['Name']!r})"
            left = self.wait_until.get(rule_arn, 0.0) - now
            if left > 0:
                raise self._blocked(rule_arn, f"{label} is in its wait period of {rule['WaitPeriodMs']} ms "
                                    f"after the last change of its controls ({int(left * 1000) + 1} ms left)")
            config = rule["RuleConfig"]
            if entry["kind"] == "ASSERTION" and not _satisfied(config, rule["AssertedControls"], after):
                raise self._blocked(rule_arn, f"{label} requires {_describe_config(config)} of its asserted "
                                    f"controls to be On after the update")
            if entry["kind"] == "GATING" and not _satisfied(config, rule["GatingControls"], before):
                raise self._blocked(rule_arn, f"{label} allows changes to its target controls only while "
                                    f"{_describe_config(config)} of its gating controls are On")
        changed = {arn for arn, state in wanted.items() if before.get(arn) != state}
        self.states = after
        for rule_arn, entry in self.rules.items():
            rule = entry["rule"]
            governed = rule["AssertedControls"] if entry["kind"] == "ASSERTION" else rule["TargetControls"]
            if changed & set(governed) and rule["WaitPeriodMs"] > 0:
                self.wait_until[rule_arn] = now + rule["WaitPeriodMs"] / 1000.0

    @staticmethod
    def _blocked(rule_arn: str, why: str) -> ArcError:
        return ArcError(
            "ConflictException",
            f"The routing control state update was blocked: {why}. "
            f"To bypass it, pass its ARN in SafetyRulesToOverride.",
            resourceId=rule_arn, resourceType="SafetyRule",
        )


def _rule_controls(rule: dict[str, Any]) -> set[str]:
    return set(rule.get("AssertedControls", [])) | set(rule.get("GatingControls", [])) | set(rule.get("TargetControls", []))


_ARN = r"(arn:.+)"
_ROUTES: list[tuple[str, str, Callable[..., Any]]] = [
    ("POST", r"/cluster", Arc.create_cluster),
    ("GET", r"/cluster", Arc.list_clusters),
    ("PUT", r"/cluster", Arc.update_cluster),
    ("GET", rf"/cluster/{_ARN}", Arc.describe_cluster),
    ("DELETE", rf"/cluster/{_ARN}", Arc.delete_cluster),
    ("POST", r"/controlpanel", Arc.create_control_panel),
    ("PUT", r"/controlpanel", Arc.update_control_panel),
    ("GET", r"/controlpanels", Arc.list_control_panels),
    ("GET", rf"/controlpanel/{_ARN}/routingcontrols", Arc.list_routing_controls),
    ("GET", rf"/controlpanel/{_ARN}/safetyrules", Arc.list_safety_rules),
    ("GET", rf"/controlpanel/{_ARN}", Arc.describe_control_panel),
    ("DELETE", rf"/controlpanel/{_ARN}", Arc.delete_control_panel),
    ("POST", r"/routingcontrol", Arc.create_routing_control),
    ("PUT", r"/routingcontrol", Arc.update_routing_control),
    ("GET", rf"/routingcontrol/{_ARN}/associatedRoute53HealthChecks", Arc.list_associated_health_checks),
    ("GET", rf"/routingcontrol/{_ARN}", Arc.describe_routing_control),
    ("DELETE", rf"/routingcontrol/{_ARN}", Arc.delete_routing_control),
    ("POST", r"/safetyrule", Arc.create_safety_rule),
    ("PUT", r"/safetyrule", Arc.update_safety_rule),
    ("GET", rf"/safetyrule/{_ARN}", Arc.describe_safety_rule),
    ("DELETE", rf"/safetyrule/{_ARN}", Arc.delete_safety_rule),
    ("GET", rf"/tags/{_ARN}", Arc.list_tags),
    ("POST", rf"/tags/{_ARN}", Arc.tag_resource),
    ("DELETE", rf"/tags/{_ARN}", Arc.untag_resource),
]


def config_response(
    arc: Arc, method: str, path: str, query_string: str, raw: bytes, account: str, region: str
) -> tuple[int, dict[str, str], bytes]:
    """One request of the configuration API (restJson1): status, headers, body. Served
    by emulator.py (`config_app`) and by LocalStack's gateway (compat.py)."""
    if region != CONFIG_REGION:
        # AWS serves the configuration API in us-west-2 only; a request signed for
        # another region fails there as any misscoped SigV4 request does.
        message = f"Credential should be scoped to a valid region, not '{region}'. "
        return (403, {"Content-Type": "application/json", "x-amzn-ErrorType": "InvalidSignatureException"},
                json.dumps({"__type": "InvalidSignatureException", "message": message}).encode())
    try:
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise ArcError("ValidationException", "The request body is not valid JSON.") from None
        result = arc.config(method, path, parse_qs(query_string), body, account)
        return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()
    except ArcError as e:
        return e.response()


REASONS = {200: "OK", 400: "Bad Request", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
           409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error"}


def config_app(arc: Arc, environ: dict, start_response: Any, region: str) -> list[bytes]:
    """WSGI: one request of the configuration API (restJson1)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    account = arc.account_of(environ.get("HTTP_AUTHORIZATION", ""), environ.get("HTTP_X_MOTO_ACCOUNT_ID"))
    code, headers, body = config_response(
        arc, environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""),
        environ.get("QUERY_STRING", ""), raw, account, region,
    )
    start_response(f"{code} {REASONS.get(code, 'Error')}", [*headers.items(), ("Content-Length", str(len(body)))])
    return [body]


# --------------------------------------------------------------------------- endpoints


class _Endpoint:
    def __init__(self, index: int, region: str) -> None:
        self.index, self.region = index, region
        self.url = ""
        self.dark_until = 0.0  # time.monotonic(); inf: until cleared
        self.unavailable_until = 0.0
        self.calls = 0
        self.answered = 0
        self.operations: dict[str, int] = {}
        self.mutations: list[float] = []  # times of recent mutating calls, for `throttle`


class Endpoints:
    """The five cluster endpoints: loopback HTTP servers, and the hook's state of each."""

    def __init__(self, arc: Arc) -> None:
        self.arc = arc
        self.cond = threading.Condition()
        self.list = [_Endpoint(i, region) for i, region in enumerate(REGIONS)]
        self.throttle = 0  # mutating calls per second per endpoint; 0: no limit

    def start(self) -> None:
        for endpoint in self.list:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            server.daemon_threads = True
            server.arc_endpoint = endpoint  # type: ignore[attr-defined]
            server.arc_endpoints = self  # type: ignore[attr-defined]
            endpoint.url = f"http://127.0.0.1:{server.server_address[1]}"
            threading.Thread(target=server.serve_forever, name=f"arc-{endpoint.region}", daemon=True).start()

    def urls(self) -> list[tuple[str, str]]:
        return [(e.region, e.url) for e in self.list]

    def pick(self, spec: str) -> list[_Endpoint]:
        """`0,2` or `us-east-1,eu-west-1` (indices or regions); ValueError if unknown."""
        out = []
        for token in filter(None, (t.strip() for t in spec.split(","))):
            match = [e for e in self.list if token in (str(e.index), e.region)]
            if not match:
                raise ValueError(f"no cluster endpoint {token!r}: use 0-4 or one of {', '.join(REGIONS)}")
            out += match
        return out

    def configure(self, query: dict[str, str]) -> None:
        """The POST hook: `dark=`/`unavailable=` endpoints for `seconds` (absent or 0:
        until cleared), `clear=1`, `deploy_delay=S`, `throttle=N`. Everything is
        checked before anything changes (ValueError: a 400)."""
        seconds = float(query.get("seconds") or 0)
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        dark = self.pick(query["dark"]) if "dark" in query else []
        unavailable = self.pick(query["unavailable"]) if "unavailable" in query else []
        delay = float(query["deploy_delay"]) if "deploy_delay" in query else None
        throttle = int(query["throttle"]) if "throttle" in query else None
        if (delay is not None and delay < 0) or (throttle is not None and throttle < 0):
            raise ValueError("deploy_delay and throttle must not be negative")
        until = time.monotonic() + seconds if seconds else float("inf")
        with self.cond:
            if query.get("clear") not in (None, "", "0"):
                for e in self.list:
                    e.dark_until = e.unavailable_until = 0.0
            for e in dark:
                e.dark_until = until
            for e in unavailable:
                e.unavailable_until = until
            if throttle is not None:
                self.throttle = throttle
            self.cond.notify_all()
        if delay is not None:
            with self.arc.lock:
                self.arc.deploy_delay = delay

    def report(self) -> dict[str, Any]:
        now = time.monotonic()
        with self.cond:
            return {
                "endpoints": [
                    {
                        "index": e.index,
                        "region": e.region,
                        "url": e.url,
                        "calls": e.calls,
                        "answered": e.answered,
                        "operations": dict(e.operations),
                        "dark": e.dark_until > now,
                        "unavailable": e.unavailable_until > now,
                    }
                    for e in self.list
                ],
                "throttle": self.throttle,
                "deploy_delay": self.arc.deploy_delay,
            }

    def admit(self, e: _Endpoint, op: str) -> bool:
        """Counts a call; holds it while the endpoint is dark. False: it was held, and is
        to be dropped unanswered."""
        with self.cond:
            e.calls += 1
            e.operations[op] = e.operations.get(op, 0) + 1
            held = False
            while True:
                left = e.dark_until - time.monotonic()
                if left <= 0:
                    return not held
                held = True
                self.cond.wait(None if left == float("inf") else left)

    def check(self, e: _Endpoint, op: str) -> None:
        """EndpointTemporarilyUnavailable while the hook says so; the throttle."""
        now = time.monotonic()
        with self.cond:
            if e.unavailable_until > now:
                raise ArcError("EndpointTemporarilyUnavailableException",
                               f"The cluster endpoint in {e.region} isn't available. Try another cluster endpoint.")
            if self.throttle and op.startswith("Update"):
                e.mutations = [t for t in e.mutations if t > now - 1.0]
                if len(e.mutations) >= self.throttle:
                    raise ArcError("ThrottlingException", "Rate exceeded.", retryAfterSeconds=1)
                e.mutations.append(now)

    def answered_one(self, e: _Endpoint) -> None:
        with self.cond:
            e.answered += 1


class _Handler(BaseHTTPRequestHandler):
    """One cluster endpoint: awsJson1_0 POSTs with `X-Amz-Target: ToggleCustomerAPI.Op`."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        endpoints: Endpoints = self.server.arc_endpoints  # type: ignore[attr-defined]
        endpoint: _Endpoint = self.server.arc_endpoint  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.headers.get("X-Amz-Target", "")
        prefix, _, op = target.partition(".")
        if not endpoints.admit(endpoint, op or target):
            self.close_connection = True  # dark: the held request is dropped unanswered
            return
        try:
            endpoints.check(endpoint, op)
            if prefix != "ToggleCustomerAPI":
                raise ArcError("ValidationException", f"Unknown operation {target!r}.", reason="unknownOperation")
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                raise ArcError("ValidationException", "The request body is not valid JSON.", reason="cannotParse") from None
            account = endpoints.arc.account_of(self.headers.get("Authorization", ""), self.headers.get("x-moto-account-id"))
            code, headers, data = 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(
                endpoints.arc.cluster_call(op, body, account)
            ).encode()
        except ArcError as e:
            code, headers, data = e.response()
            headers["Content-Type"] = "application/x-amz-json-1.0"
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        endpoints.answered_one(endpoint)
