"""Start one real LocalStack (community, on the host, no Docker) for geoplan's tests
and demo, on 127.0.0.1 and a free port, with geoplan's compatibility layer loaded
(compat.py: its bug fixes, and Route 53's data plane and ARC, whose DNS server and
cluster endpoints listen on loopback ports of LocalStack's process).

    python localstack/launch.py [--port 0] [--stock]

Prints `geoplan-emulator listening on http://127.0.0.1:PORT` once Route 53, DynamoDB,
STS and S3 answer (the line the moto launcher prints too, so harnesses treat both
alike), then runs until SIGTERM/SIGINT/SIGHUP, or until its parent dies, and stops
LocalStack with every process it started (DynamoDB Local's JVM, the Kinesis mock),
whatever session they put themselves in.

`--stock` starts LocalStack without compat.py, to show its bugs next to the fixes
(and without the data plane, ARC and the `/_geoplan/` hooks).

Runs under any Python 3; LocalStack itself runs in the venv localstack/setup.sh
builds (`target/localstack/venv`, Python 3.13, pinned by localstack/requirements.lock).
Every listener stays on loopback: DynamoDB Local and the Kinesis mock bind the
wildcard address with no option to change it, so they run under an LD_PRELOAD shim
(loopback.c) that turns wildcard binds into loopback binds.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOME = Path(os.environ.get("GEOPLAN_LOCALSTACK_HOME", HERE.parent / "target" / "localstack"))
# kms: DynamoDB asks it for the account's AWS-managed key (`encryption = "aws-managed"`).
SERVICES = "route53,dynamodb,dynamodbstreams,sts,s3,kms"
READY_WITHIN = 90.0


def die(message: str) -> None:
    sys.stderr.write(f"geoplan-localstack: {message}\n")
    sys.exit(2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """Linux: SIGTERM this launcher when the process that started it dies, so a
    killed test run cannot leave LocalStack behind; and adopt orphaned descendants
    (LocalStack starts DynamoDB Local in a session of its own, so stopping LocalStack's
    process group misses it, and once LocalStack is gone it would belong to init)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        libc.prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    except OSError:
        pass


def serve_at(nice: int) -> None:
    """Sets every thread below this process to `nice`, pass after pass until a pass
    changes nothing (a thread made meanwhile by one not yet changed would keep the old
    value); threads and processes made later inherit it. LocalStack starts at the
    launcher's nice value, behind the tests (its start, a JVM and Python, is the
    heaviest load the suite puts on the host); once it serves it stands in for AWS,
    which runs on other hosts, so it should not be the one the tests' load slows. A
    value this process may not set (a negative one without CAP_SYS_NICE) is left as
    it was. All of LocalStack stays in the launcher's session (the shim's setsid), so
    the kernel's per-session grouping (autogroup) does not void these values."""
    changed = True
    while changed:
        changed = False
        for pid in descendants():
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    if os.getpriority(os.PRIO_PROCESS, int(tid)) != nice:
                        os.setpriority(os.PRIO_PROCESS, int(tid), nice)
                        changed = True
                except (OSError, ValueError):
                    pass


def warm_dynamodb(url: str) -> None:
    """Asks LocalStack's DynamoDB once, so that DynamoDB Local (a JVM) starts now, at
    the launcher's nice value, rather than at the first test's request."""
    request = urllib.request.Request(
        url,
        data=b"{}",
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Authorization": "AWS4-HMAC-SHA256 Credential=000000000000/20260101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    try:
        urllib.request.urlopen(request, timeout=120).read()
    except OSError as e:
        sys.stderr.write(f"geoplan-localstack: warming DynamoDB up failed: {e}\n")


def descendants() -> list[int]:
    """Every process below this one, from /proc."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                # The command name may hold spaces and parentheses: split after the last ')'.
                fields = f.read().rsplit(")", 1)[1].split()
            parent[int(entry)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [], [os.getpid()]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        found += kids
        frontier += kids
    return found


def instance_root(stock: bool) -> Path:
    """A FILESYSTEM_ROOT of this instance's own: LocalStack writes state and temp
    files under it; the installed packages are linked in, read-only."""
    runs = HOME / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    # Folders of launchers that died without cleaning up (SIGKILL).
    for old in runs.iterdir():
        try:
            os.kill(int(old.name.split("-")[0]), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(old, ignore_errors=True)
        except PermissionError:
            pass
    root = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=runs))
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "usr" / "lib" / "localstack").symlink_to(HOME / "root" / "usr" / "lib" / "localstack")
    init = root / "etc" / "localstack" / "init" / "start.d"
    init.mkdir(parents=True)
    if not stock:
        (init / "geoplan_compat.py").write_text(
            f"import sys\nsys.path.insert(0, {str(HERE)!r})\nimport compat\ncompat.apply()\n"
        )
    return root


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=2) as r:
        return json.load(r)


def wait_ready(url: str, proc: subprocess.Popen, stock: bool, log: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN
    wanted = set(SERVICES.split(","))
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            die(f"LocalStack exited with {proc.returncode} while starting; its log:\n{log.read_text()[-4000:]}")
        try:
            health = get_json(f"{url}/_localstack/health")["services"]
            init = get_json(f"{url}/_localstack/init")
        except (OSError, ValueError, KeyError):
            time.sleep(0.2)
            continue
        up = {s for s in wanted if health.get(s) in ("available", "running")}
        scripts = [s for s in init.get("scripts", []) if s.get("stage") == "START"]
        failed = [s for s in scripts if s.get("state") == "ERROR"]
        if failed:
            die(f"geoplan's compat layer failed to load; LocalStack's log:\n{log.read_text()[-4000:]}")
        loaded = stock or any(
            s.get("name", "").endswith("geoplan_compat.py") and s.get("state") == "SUCCESSFUL"
            for s in scripts
        )
        if up == wanted and loaded:
            return
        time.sleep(0.2)
    die(f"LocalStack did not become ready within {READY_WITHIN:.0f} s; its log:\n{log.read_text()[-4000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--stock", action="store_true", help="without geoplan's compat layer")
    parser.add_argument(
        "--serving-nice",
        type=int,
        default=None,
        help="once ready, run LocalStack at this nice value (it starts at the launcher's)",
    )
    args = parser.parse_args()

    python = HOME / "venv" / "bin" / "python"
    shim = HOME / "loopback.so"
    for needed in (python, shim, HOME / "root" / "usr" / "lib" / "localstack" / "dynamodb-local" / "2" / "DynamoDBLocal.jar"):
        if not needed.exists():
            die(f"{needed} is missing: run localstack/setup.sh")

    die_with_parent()
    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}"
    root = instance_root(args.stock)
    log = root / "localstack.log"
    env = {
        k: v
        for k, v in os.environ.items()
        # The AWS settings of the caller (an endpoint, a profile) are not LocalStack's.
        if not k.startswith(("AWS_", "LOCALSTACK_", "GATEWAY_"))
    }
    env.update(
        OVERRIDE_IN_DOCKER="0",
        GATEWAY_SERVER="hypercorn",  # the default server binds 0.0.0.0
        GATEWAY_LISTEN=f"127.0.0.1:{port}",
        LOCALSTACK_HOST=f"127.0.0.1:{port}",
        DNS_ADDRESS="0",
        SKIP_SSL_CERT_DOWNLOAD="1",
        DISABLE_EVENTS="1",
        DYNAMODB_IN_MEMORY="1",
        SERVICES=SERVICES,
        FILESYSTEM_ROOT=str(root),
        LD_PRELOAD=str(shim),
    )
    with open(log, "wb") as out:
        # A process group of its own (not a session: see serve_at), stopped with every
        # descendant by stop().
        proc = subprocess.Popen(
            [str(python), "-m", "localstack.runtime.main"],
            env=env,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
        )

    def stop(code: int = 0) -> None:
        # LocalStack first (it stops its services), then whatever is left below us.
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
            pids = descendants()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            end = time.monotonic() + grace
            while time.monotonic() < end:
                # Reap what exits (this launcher is the subreaper of orphans).
                try:
                    while os.waitpid(-1, os.WNOHANG)[0] > 0:
                        pass
                except ChildProcessError:
                    pass
                if not descendants():
                    break
                time.sleep(0.05)
        shutil.rmtree(root, ignore_errors=True)
        sys.exit(code)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop(0))
    try:
        wait_ready(url, proc, args.stock, log)
    except SystemExit as e:
        stop(e.code if isinstance(e.code, int) else 2)
    if args.serving_nice is not None:
        warm_dynamodb(url)
        serve_at(args.serving_nice)
    print(f"geoplan-emulator listening on {url}", flush=True)
    while proc.poll() is None:
        time.sleep(0.5)
    sys.stderr.write(f"geoplan-localstack: LocalStack exited with {proc.returncode}\n")
    stop(1)


if __name__ == "__main__":
    main()
