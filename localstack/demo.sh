#!/usr/bin/env bash
# The main job in one command, against a local AWS emulator: start the emulator,
# `geoplan apply` an example, show that a second plan has nothing to do, show the
# records geoplan created, then stop the emulator (pass --keep to leave it running).
# Usage: localstack/demo.sh [examples/active-active.toml] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."

config=examples/active-active.toml
keep=false
for arg in "$@"; do
  case "$arg" in
    --keep) keep=true ;;
    *) config=$arg ;;
  esac
done

PYTHON=${GEOPLAN_PYTHON:-python3}
export GEOPLAN_PLUGIN_MIRROR=${GEOPLAN_PLUGIN_MIRROR:-/opt/tf-plugins}
cargo build --quiet
geoplan=target/debug/geoplan

log=$(mktemp)
"$PYTHON" localstack/emulator.py --port "${GEOPLAN_EMULATOR_PORT:-0}" >"$log" 2>&1 &
pid=$!
cleanup() { if ! $keep; then kill "$pid" 2>/dev/null || true; fi; rm -f "$log"; }
trap cleanup EXIT
for _ in $(seq 1 100); do grep -q 'listening on' "$log" && break; sleep 0.1; done
export AWS_ENDPOINT_URL=$(sed -n 's/^geoplan-emulator listening on //p' "$log")
[ -n "$AWS_ENDPOINT_URL" ] || { cat "$log" >&2; echo "demo: the emulator did not start" >&2; exit 1; }
echo "demo: AWS emulator at $AWS_ENDPOINT_URL"

$geoplan validate "$config"
$geoplan apply "$config" --auto-approve
echo; echo "demo: a second apply finds nothing to do:"
$geoplan apply "$config" --auto-approve --quiet

zone=$(cd "$($geoplan render "$config" 2>/dev/null)" && terraform output -raw zone_id)
echo; echo "demo: records in zone $zone:"
curl -fsS "$AWS_ENDPOINT_URL/2013-04-01/hostedzone/$zone/rrset" \
  | "$PYTHON" -c '
import sys, xml.etree.ElementTree as ET
ns = {"r": "https://route53.amazonaws.com/doc/2013-04-01/"}
for rr in ET.parse(sys.stdin).getroot().iterfind(".//r:ResourceRecordSet", ns):
    get = lambda k: rr.findtext("r:" + k, default="", namespaces=ns)
    if get("Type") in ("NS", "SOA"):
        continue
    routing = get("Region") or get("Failover") or "simple"
    values = [v.text for v in rr.iterfind(".//r:Value", ns)] or [rr.findtext(".//r:DNSName", namespaces=ns)]
    print(f"  {get(\"Name\"):40} {get(\"Type\"):5} {routing:14} {\",\".join(values)}")
'
if $keep; then
  echo; echo "demo: emulator left running at $AWS_ENDPOINT_URL (pid $pid)"
  echo "      export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL GEOPLAN_PLUGIN_MIRROR=$GEOPLAN_PLUGIN_MIRROR"
fi
