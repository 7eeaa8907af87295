#!/usr/bin/env bash
# geoplan's own overhead on `apply`, against the emulator.
# For each round: `geoplan apply --json` on a fresh emulator (its report gives the
# total wall time and the seconds spent in each terraform step), then, on another
# fresh emulator, `terraform init` + `terraform apply -auto-approve` run by hand on the
# same rendered module. Prints per-round figures and medians.
# Usage: benches/apply_overhead.sh [rounds=3] [example=examples/active-active.toml]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
example=${2:-examples/active-active.toml}
PYTHON=${GEOPLAN_PYTHON:-python3}
export GEOPLAN_PLUGIN_MIRROR=${GEOPLAN_PLUGIN_MIRROR:-/opt/tf-plugins}
geoplan=${GEOPLAN_BIN:-target/release/geoplan}
[ -x "$geoplan" ] || { echo "build $geoplan first (cargo build --release)" >&2; exit 1; }

start_emulator() {
  log=$(mktemp)
  "$PYTHON" localstack/emulator.py --port 0 >"$log" 2>&1 &
  emu_pid=$!
  for _ in $(seq 1 100); do grep -q 'listening on' "$log" && break; sleep 0.1; done
  export AWS_ENDPOINT_URL=$(sed -n 's/^geoplan-emulator listening on //p' "$log")
}
stop_emulator() { kill "$emu_pid"; wait "$emu_pid" 2>/dev/null || true; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=()
for i in $(seq 1 "$rounds"); do
  rm -rf "$work"/*; cp "$example" "$work/regions.toml"
  start_emulator
  report=$("$geoplan" apply "$work/regions.toml" --auto-approve --json --quiet 2>/dev/null)
  stop_emulator
  read -r total tf < <(echo "$report" | "$PYTHON" -c 'import json,sys; r=json.load(sys.stdin); print(r["total_seconds"], sum(s for _, s in r["terraform_seconds"]))')

  module=$("$geoplan" render "$work/regions.toml" 2>/dev/null)
  rm -rf "$module/.terraform" "$module"/terraform.tfstate*
  start_emulator
  "$geoplan" render "$work/regions.toml" >/dev/null 2>&1  # re-render with this emulator's endpoint
  t0=$(date +%s.%N)
  (cd "$module" && TF_CLI_CONFIG_FILE=$module/geoplan.tfrc terraform init -input=false >/dev/null \
    && TF_CLI_CONFIG_FILE=$module/geoplan.tfrc terraform apply -auto-approve -input=false >/dev/null)
  t1=$(date +%s.%N)
  stop_emulator
  by_hand=$(echo "$t1 - $t0" | bc)
  printf 'round %d: geoplan apply %.2f s (terraform %.2f s, geoplan own %.3f s); terraform by hand %.2f s\n' \
    "$i" "$total" "$tf" "$(echo "$total - $tf" | bc)" "$by_hand"
  results+=("$total $tf $by_hand")
done
printf '%s\n' "${results[@]}" | "$PYTHON" -c '
import sys, statistics as st
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
tot, tf, hand = zip(*rows)
own = [a - b for a, b in zip(tot, tf)]
print(f"median: geoplan apply {st.median(tot):.2f} s, its terraform steps {st.median(tf):.2f} s, "
      f"geoplan own overhead {st.median(own)*1000:.0f} ms (max {max(own)*1000:.0f} ms); terraform by hand {st.median(hand):.2f} s")
'
