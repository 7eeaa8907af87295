#!/usr/bin/env bash
# The main job in one command, against a local AWS emulator: start LocalStack (or moto
# with GEOPLAN_EMULATOR=moto), `geoplan apply` an example, show that a second plan has
# nothing to do, show the switches and effective routing read back from AWS, then stop
# the emulator (pass --keep to leave it running).
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

$geoplan validate "$config"
$geoplan apply "$config" --auto-approve
echo; echo "demo: a second apply finds nothing to do:"
$geoplan apply "$config" --auto-approve --quiet

echo; echo "demo: what Route 53 now routes, read back from the emulator:"
$geoplan status "$config"

if $keep; then
  echo; echo "demo: emulator left running at $AWS_ENDPOINT_URL (pid $pid)"
  echo "      config and state in $work"
  echo "      export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL GEOPLAN_PLUGIN_MIRROR=$GEOPLAN_PLUGIN_MIRROR"
fi
