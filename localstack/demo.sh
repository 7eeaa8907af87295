#!/usr/bin/env bash
# The main job in one command, against a local AWS emulator: start LocalStack (or moto
# with GEOPLAN_EMULATOR=moto), `geoplan apply` an example, show that a second plan has
# nothing to do, show the switches and effective routing read back from AWS, `dig` the
# record before and after a drain through `geoplan serve` (where the emulator serves
# DNS), then stop the emulator (pass --keep to leave it running).
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
geoplan=$PWD/target/debug/geoplan

# A fresh emulator has none of a previous run's resources: work on a copy, so no
# stale Terraform state from an earlier demo is involved.
work=$(mktemp -d)
cp "$config" "$work/"
config=$work/$(basename "$config")

log=$(mktemp)
case "${GEOPLAN_EMULATOR:-localstack}" in
  localstack) launcher=localstack/launch.py ;;
  moto) launcher=localstack/emulator.py ;;
  *) echo "demo: GEOPLAN_EMULATOR must be localstack or moto" >&2; exit 2 ;;
esac
"$PYTHON" "$launcher" --port "${GEOPLAN_EMULATOR_PORT:-0}" >"$log" 2>&1 &
pid=$!
cleanup() {
  if ! $keep; then
    kill "$pid" 2>/dev/null || true
    rm -rf "$work"
  fi
  rm -f "$log"
}
trap cleanup EXIT
for _ in $(seq 1 900); do grep -q 'listening on' "$log" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
export AWS_ENDPOINT_URL=$(sed -n 's/^geoplan-emulator listening on //p' "$log")
[ -n "$AWS_ENDPOINT_URL" ] || { cat "$log" >&2; echo "demo: the emulator did not start" >&2; exit 1; }
echo "demo: AWS emulator (${GEOPLAN_EMULATOR:-localstack}) at $AWS_ENDPOINT_URL"

# The example's endpoints are documentation addresses that never answer: where the
# emulator runs Route 53's health checkers, they probe once an hour, so the checks stay
# healthy for the demo (three failures make a check unhealthy).
curl -sf -X POST "$AWS_ENDPOINT_URL/_geoplan/dataplane?interval=3600" >/dev/null 2>&1 || true

$geoplan validate "$config"
$geoplan apply "$config" --auto-approve
echo; echo "demo: a second apply finds nothing to do:"
$geoplan apply "$config" --auto-approve --quiet

echo; echo "demo: what Route 53 now routes, read back from the emulator:"
$geoplan status "$config"

# DNS before and after a drain, from the emulator's DNS server (Route 53's data plane).
record=$(sed -n 's/^record *= *"\([^"]*\)".*/\1/p' "$config" | head -1)
dns=$(curl -sf "$AWS_ENDPOINT_URL/_geoplan/dataplane" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["dns"])' 2>/dev/null || true)
drain=$(sed -n 's/^name *= *"\([a-z]*-[a-z]*-[0-9]\)".*/\1/p' "$config" | tail -1)
if [ -z "$dns" ] || [ -z "$record" ] || grep -q '^\[monitor\]' "$config"; then
  echo; echo "demo: (no dig: this emulator has no DNS server, or the config sets [monitor])"
else
  # Clients in 10.2.0.0/16 are nearest the last region, then the first.
  first=$(sed -n 's/^name *= *"\([a-z]*-[a-z]*-[0-9]\)".*/\1/p' "$config" | head -1)
  curl -sf -X POST "$AWS_ENDPOINT_URL/_geoplan/dataplane?subnet=10.2.0.0/16&regions=$drain,$first" >/dev/null
  ask() {
    echo "\$ dig @${dns%:*} -p ${dns##*:} +short +subnet=10.2.3.4/24 $record"
    if command -v dig >/dev/null; then
      dig @"${dns%:*}" -p "${dns##*:}" +short +subnet=10.2.3.4/24 "$record"
    else # the same query, sent with dnslib (installed by setup.sh)
      "$PYTHON" - "${dns%:*}" "${dns##*:}" "$record" <<'PY'
import sys
from dnslib import DNSRecord, EDNS0, EDNSOption
from ipaddress import ip_address
q = DNSRecord.question(sys.argv[3], "A")
q.add_ar(EDNS0(opts=[EDNSOption(8, bytes([0, 1, 24, 0]) + ip_address("10.2.3.4").packed[:3])]))
reply = DNSRecord.parse(q.send(sys.argv[1], int(sys.argv[2]), timeout=5))
print("\n".join(str(r.rdata) for r in reply.rr))
PY
    fi
  }
  echo; echo "demo: DNS answers a client near $drain:"
  ask
  # A control plane (automatic failover off: the example's endpoints are documentation
  # addresses that never answer), then a drain through it.
  printf '\n[monitor]\nauto_failover = false\n' >>"$config"
  port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  export GEOPLAN_API_TOKEN=demo GEOPLAN_URL=http://127.0.0.1:$port
  (cd "$work" && exec "$geoplan" serve "$config" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1) &
  serve=$!
  for _ in $(seq 1 300); do curl -sf "$GEOPLAN_URL/readyz" >/dev/null && break; sleep 0.1; done
  echo; echo "demo: geoplan drain $drain --reason demo"
  $geoplan drain "$drain" --reason demo
  echo; echo "demo: and now:"
  ask
  kill -INT "$serve"; wait "$serve" || true
fi

if $keep; then
  echo; echo "demo: emulator left running at $AWS_ENDPOINT_URL (pid $pid)"
  echo "      config and state in $work"
  echo "      export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL GEOPLAN_PLUGIN_MIRROR=$GEOPLAN_PLUGIN_MIRROR"
fi
