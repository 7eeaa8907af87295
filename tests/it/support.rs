//! Test harness: a local AWS emulator (LocalStack shared by the tests, an account each,
//! or moto per test), the real geoplan binary in a temp dir, and SDK clients pointed
//! at the emulator.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The provider mirror the tests install providers from (offline `terraform init`).
pub fn plugin_mirror() -> String {
    std::env::var("GEOPLAN_PLUGIN_MIRROR").unwrap_or_else(|_| "/opt/tf-plugins".into())
}

/// Which emulator a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Real LocalStack (community) with geoplan's compat layer (localstack/launch.py):
    /// one per test binary, each test in an AWS account of its own.
    LocalStack,
    /// moto with geoplan's patches (localstack/emulator.py): one per test.
    Moto,
}

impl Backend {
    /// `GEOPLAN_EMULATOR=localstack|moto`, LocalStack by default.
    pub fn chosen() -> Backend {
        match std::env::var("GEOPLAN_EMULATOR").as_deref() {
            Err(_) | Ok("") | Ok("localstack") => Backend::LocalStack,
            Ok("moto") => Backend::Moto,
            Ok(other) => panic!("GEOPLAN_EMULATOR={other:?}: expected localstack or moto"),
        }
    }
}

/// The test hooks LocalStack serves too (through compat.py): the data plane's
/// (`dataplane`, scoped to the test's account), `hang` (its rules scoped to the test's
/// account, so only the test's own requests are held) and ARC's (`arc`: its cluster
/// endpoints are shared by every account of the instance, so darkness and throttles
/// are too). `calls` and `pause` are moto's alone.
pub const LOCALSTACK_HOOKS: [&str; 3] = ["dataplane", "hang", "arc"];

/// An AWS emulator for one test: its URL and the account (access key id) the test's
/// resources live in. On a shared LocalStack the accounts keep tests apart: zones,
/// health checks and tables of one test are invisible to another.
pub struct Emulator {
    pub url: String,
    pub account: String,
    pub backend: Backend,
    child: Option<Child>,
}

/// A fresh 12-digit account id (LocalStack takes a 12-digit access key id as the
/// account): the process id keeps concurrent test binaries apart, a counter tests.
fn fresh_account() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:06}{:06}", std::process::id() % 1_000_000, n)
}

/// Starts a launcher that prints `geoplan-emulator listening on URL` and returns the
/// child and the URL.
/// Makes the child die with the thread that starts it (Linux's PR_SET_PDEATHSIG), so
/// that a test binary killed before its Drops ran leaves no process behind to load the
/// host and distort later runs.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches nothing of the parent's.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Starts an emulator at `niceness` (where allowed: root or CAP_SYS_NICE; else as is).
fn launch(
    program: &str,
    args: &[String],
    what: &str,
    stderr: Stdio,
    niceness: i32,
) -> (Child, String) {
    let mut cmd = Command::new(program);
    cmd.args(args).stdout(Stdio::piped()).stderr(stderr);
    // The LocalStack launcher replaces this with a SIGTERM of its own, to clean up.
    die_with_parent(&mut cmd);
    // SAFETY: setpriority is async-signal-safe and touches nothing of the parent's.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            libc::setpriority(libc::PRIO_PROCESS as _, 0, niceness);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot start {what} with {program}: {e}; run localstack/setup.sh")
    });
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        // Keep draining so the emulator never blocks on a full pipe.
        for _ in lines {}
    });
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| {
            panic!(
                "{what} did not start within 120 s; run `{program} {}` to see why",
                args.join(" ")
            )
        });
    let url = line
        .strip_prefix("geoplan-emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected output from {what}: {line}"))
        .to_owned();
    (child, url)
}

fn python() -> String {
    std::env::var("GEOPLAN_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// A LocalStack this test binary shares, started at first use: with geoplan's compat
/// layer, or stock (`--stock`) for the tests that show its bugs. The launcher is
/// started from a thread that lives as long as the process: it stops LocalStack when
/// its parent goes away (PR_SET_PDEATHSIG), and Linux counts the starting thread as
/// the parent.
fn shared_localstack(stock: bool) -> String {
    static PATCHED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static STOCK: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let cell = if stock { &STOCK } else { &PATCHED };
    cell.get_or_init(|| {
        if !stock && let Ok(url) = std::env::var("GEOPLAN_TEST_ENDPOINT") {
            return url;
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut args = vec![repo().join("localstack/launch.py").display().to_string()];
            if stock {
                args.push("--stock".into());
            }
            // Its stderr carries only failures (with LocalStack's log tail).
            // LocalStack's start (a JVM, Python, node) is the heaviest load the suite
            // puts on the host: it runs behind everything else (nice 10), so that it
            // does not starve the moto emulators that stand in for AWS in the timing
            // tests. Once it serves, it stands in for AWS too: ahead (nice -5, where
            // allowed), like moto.
            args.extend(["--serving-nice".into(), "-5".into()]);
            let (child, url) = launch(&python(), &args, "LocalStack", Stdio::inherit(), 10);
            let _ = tx.send(url);
            let _keep = child;
            loop {
                std::thread::park();
            }
        });
        rx.recv()
            .expect("LocalStack failed to start (see the panic above)")
    })
    .clone()
}

impl Emulator {
    /// The emulator `GEOPLAN_EMULATOR` chooses (see `Backend::chosen`).
    pub fn start() -> Emulator {
        match Backend::chosen() {
            Backend::LocalStack => Emulator::localstack(false),
            Backend::Moto => Emulator::moto(),
        }
    }

    /// An account of its own on the shared LocalStack, whichever backend is chosen;
    /// `stock` without geoplan's compat layer.
    pub fn localstack(stock: bool) -> Emulator {
        Emulator {
            url: shared_localstack(stock),
            account: fresh_account(),
            backend: Backend::LocalStack,
            child: None,
        }
    }

    /// moto for this test alone, whichever backend is chosen: for what LocalStack
    /// community lacks (Cost Explorer) and for moto's test hooks (`/_geoplan/`:
    /// request counts and a pause that makes AWS unreachable).
    pub fn moto() -> Emulator {
        Emulator::moto_with(&[])
    }

    /// moto with extra launcher flags (e.g. `--replication-delay 1.5`).
    pub fn moto_with(extra: &[&str]) -> Emulator {
        let script = repo().join("localstack/emulator.py").display().to_string();
        let mut args = vec![
            script,
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        // moto logs every request on stderr.
        // The emulator stands in for AWS, which runs on other hosts: the load the tests
        // put on this one (terraform applies, the other tests' instances) should slow
        // geoplan, not AWS. Where allowed it runs ahead of them.
        let (child, url) = launch(&python(), &args, "the moto emulator", Stdio::null(), -5);
        Emulator {
            url,
            account: fresh_account(),
            backend: Backend::Moto,
            child: Some(child),
        }
    }

    /// The environment a process needs to reach this emulator as this test's account.
    pub fn env(&self) -> [(&'static str, &str); 3] {
        [
            ("AWS_ENDPOINT_URL", self.url.as_str()),
            ("AWS_ACCESS_KEY_ID", self.account.as_str()),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ]
    }

    /// SDK configuration for this test's account in `region`.
    pub async fn sdk_config(&self, region: &str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .endpoint_url(&self.url)
            .credentials_provider(aws_sdk_route53::config::Credentials::new(
                &self.account,
                "test",
                None,
                None,
                "geoplan-tests",
            ))
            .load()
            .await
    }

    pub async fn route53(&self) -> aws_sdk_route53::Client {
        aws_sdk_route53::Client::new(&self.sdk_config("us-east-1").await)
    }

    /// The URL of the test hook `/_geoplan/PATH_AND_QUERY`. On LocalStack, shared by the
    /// tests, the data plane's settings and DNS server, and the hang rules (what they
    /// hold, and what `clear=1` drops), are scoped to this test's account (`account=`);
    /// a moto is the test's own.
    pub fn hook_url(&self, path_and_query: &str) -> String {
        let mut url = format!("{}/_geoplan/{path_and_query}", self.url);
        let name = path_and_query.split('?').next().unwrap_or_default();
        if self.backend == Backend::LocalStack && matches!(name, "dataplane" | "hang") {
            let sep = if path_and_query.contains('?') {
                '&'
            } else {
                '?'
            };
            url.push_str(&format!("{sep}account={}", self.account));
        }
        url
    }

    /// Ends every hang at once; on LocalStack, every hang of this test's account.
    pub async fn clear_hangs(&self) {
        self.hook("hang?clear=1").await;
    }

    /// POSTs to a test hook, `/_geoplan/PATH_AND_QUERY`, which must succeed. moto serves
    /// every hook; LocalStack (compat.py) serves those of `LOCALSTACK_HOOKS`.
    pub async fn hook(&self, path_and_query: &str) {
        let name = path_and_query.split('?').next().unwrap_or_default();
        assert!(
            self.backend == Backend::Moto || LOCALSTACK_HOOKS.contains(&name),
            "/_geoplan/{path_and_query} is a hook of the moto emulator only: start it with Emulator::moto()"
        );
        let resp = reqwest::Client::new()
            .post(self.hook_url(path_and_query))
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "{path_and_query}: {}",
            resp.status()
        );
    }

    /// Holds, for `d`, the requests to `service` in `region` whose user agent contains
    /// `agent` (a `serve` instance's is `app/geoplan-<id>`): a one-sided hang. An empty
    /// filter matches anything; on LocalStack only this test's account's requests are
    /// held.
    pub async fn hang(&self, service: &str, region: &str, agent: &str, d: Duration) {
        self.hook(&format!(
            "hang?service={service}&region={region}&agent={agent}&seconds={}",
            d.as_secs_f64()
        ))
        .await;
    }

    /// Makes every AWS request wait until `d` has passed, as if AWS could not be
    /// reached (the moto emulator's `/_geoplan/pause` hook).
    pub async fn pause(&self, d: Duration) {
        self.hook(&format!("pause?seconds={}", d.as_secs_f64()))
            .await;
    }

    pub async fn dynamodb(&self, region: &str) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config(region).await)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A temp dir holding a copy of a config, where geoplan writes its module.
pub struct Workdir {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Workdir {
    /// Copies `examples/<name>.toml` (or any repo-relative file) into a temp dir.
    pub fn with(repo_file: &str) -> Workdir {
        let dir = tempfile::tempdir().expect("temp dir");
        let src = repo().join(repo_file);
        let config = dir.path().join(src.file_name().expect("a file"));
        std::fs::copy(&src, &config).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        Workdir { dir, config }
    }

    pub fn with_text(name: &str, text: &str) -> Workdir {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join(name);
        std::fs::write(&config, text).expect("write config");
        Workdir { dir, config }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The built geoplan binary with a clean, explicit environment, not yet started.
pub fn geoplan_command(cwd: &Path, args: &[&str], emulator: Option<&Emulator>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_geoplan"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("GEOPLAN_TERRAFORM")
        .env("GEOPLAN_PLUGIN_MIRROR", plugin_mirror())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    if let Some(e) = emulator {
        cmd.envs(e.env());
    }
    cmd
}

/// Starts `geoplan apply CONFIG --auto-approve` and returns once terraform is creating
/// resources (so the run holds its locks), with the rest of its stderr, which the
/// caller must drain.
pub fn apply_in_progress(
    cwd: &Path,
    config: &str,
    emulator: &Emulator,
) -> (Child, std::io::Lines<BufReader<std::process::ChildStderr>>) {
    let mut child = geoplan_command(cwd, &["apply", config, "--auto-approve"], Some(emulator))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("Creating...") {
            break;
        }
    }
    (child, lines)
}

/// Keeps reading the rest of an `apply_in_progress`'s output, so that it never blocks
/// on a full pipe and so that a failure can show it.
pub fn keep_output(
    lines: std::io::Lines<BufReader<std::process::ChildStderr>>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        lines
            .map_while(Result::ok)
            .fold(String::new(), |text, line| text + &line + "\n")
    })
}

/// Waits for an `apply_in_progress` and asserts that it succeeded, showing the rest of
/// its output when it did not.
#[track_caller]
pub fn assert_finished(mut child: Child, output: std::thread::JoinHandle<String>) {
    let status = child.wait().unwrap();
    let text = output.join().unwrap();
    assert!(
        status.success(),
        "the first apply failed ({status}):\n{text}"
    );
}

/// Runs the built geoplan binary with a clean, explicit environment.
pub fn geoplan(cwd: &Path, args: &[&str], emulator: Option<&Emulator>) -> Output {
    geoplan_command(cwd, args, emulator)
        .output()
        .expect("run geoplan")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout, showing stderr when it failed.
#[track_caller]
pub fn success(o: &Output) -> String {
    assert!(
        o.status.success(),
        "geoplan failed ({:?})\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// The module's outputs, through geoplan's own terraform runner.
pub async fn terraform_outputs(module_dir: &Path) -> serde_json::Value {
    let tf = geoplan::deploy::terraform::Terraform {
        binary: "terraform".into(),
        dir: module_dir.to_owned(),
        cli_config: Some(module_dir.join("geoplan.tfrc")),
        progress: geoplan::deploy::terraform::Progress::Silent,
        lock_timeout: std::time::Duration::ZERO,
        interrupts: None,
        emulator: false,
    };
    tf.outputs(&mut geoplan::deploy::terraform::Timings::default())
        .await
        .expect("terraform output")
}

/// Runs terraform in `dir` with the offline provider mirror (and `env`), returning
/// whether it succeeded and everything it printed.
pub fn run_terraform(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let cli = dir.join("geoplan.tfrc");
    std::fs::write(&cli, geoplan::deploy::render::cli_config(&plugin_mirror()))
        .expect("write CLI config");
    let out = Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", &cli)
        .env("TF_IN_AUTOMATION", "1")
        .envs(env.iter().copied())
        .output()
        .expect("terraform is installed (see localstack/setup.sh)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A regional endpoint the test controls: an HTTP server on 127.0.0.1 that answers
/// 200 on every path, and can be stopped (connections refused) and started again on
/// the same port.
pub struct FakeRegion {
    pub port: u16,
    ip: std::net::Ipv4Addr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeRegion {
    pub async fn start_new() -> FakeRegion {
        FakeRegion::start_at(std::net::Ipv4Addr::LOCALHOST).await
    }

    /// On another loopback address (127.0.0.2, …: Linux routes all of 127/8 to lo),
    /// for a region whose endpoint must differ from another's.
    pub async fn start_at(ip: std::net::Ipv4Addr) -> FakeRegion {
        assert!(ip.is_loopback(), "tests listen on loopback only");
        let port = std::net::TcpListener::bind((ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut r = FakeRegion {
            port,
            ip,
            task: None,
        };
        r.start().await;
        r
    }

    pub async fn start(&mut self) {
        if self.task.is_some() {
            return;
        }
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind((self.ip, self.port).into()).unwrap();
        let listener = socket.listen(128).unwrap();
        let app = axum::Router::new().fallback(|| async { "ok" });
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }

    /// Stops accepting: the listener is closed, so probes get connection refused.
    pub async fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }
}

/// A health check with this caller reference; returns its id.
pub async fn create_check(
    r53: &aws_sdk_route53::Client,
    reference: &str,
    config: aws_sdk_route53::types::HealthCheckConfig,
) -> String {
    r53.create_health_check()
        .caller_reference(reference)
        .health_check_config(config)
        .send()
        .await
        .unwrap()
        .health_check()
        .unwrap()
        .id()
        .to_owned()
}

/// A hosted zone named `name` (its caller reference too); returns its id.
pub async fn hosted_zone(r53: &aws_sdk_route53::Client, name: &str) -> String {
    r53.create_hosted_zone()
        .name(name)
        .caller_reference(name)
        .send()
        .await
        .unwrap()
        .hosted_zone()
        .unwrap()
        .id()
        .to_owned()
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Creates one region's three tagged health checks directly through the SDK, as the
/// rendered Terraform would, for tests of the control plane that do not test apply.
pub async fn create_region_checks(
    r53: &aws_sdk_route53::Client,
    deployment: &str,
    region: &str,
    port: u16,
) {
    create_region_checks_at(r53, deployment, region, "127.0.0.1", port).await
}

/// `create_region_checks` with the endpoint check on `ip`.
pub async fn create_region_checks_at(
    r53: &aws_sdk_route53::Client,
    deployment: &str,
    region: &str,
    ip: &str,
    port: u16,
) {
    use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType};
    let mut ids = Vec::new();
    for role in ["endpoint", "switch", "region"] {
        let config = match role {
            "endpoint" => HealthCheckConfig::builder()
                .r#type(HealthCheckType::Http)
                .ip_address(ip)
                .port(port as i32)
                .resource_path("/"),
            "switch" => HealthCheckConfig::builder()
                .r#type(HealthCheckType::Calculated)
                .health_threshold(0),
            _ => HealthCheckConfig::builder()
                .r#type(HealthCheckType::Calculated)
                .health_threshold(2)
                .set_child_health_checks(Some(ids.clone())),
        };
        let id = create_check(
            r53,
            &format!("{deployment}-{region}-{role}"),
            config.build().unwrap(),
        )
        .await;
        tag_check(r53, &id, deployment, region, role).await;
        ids.push(id);
    }
}

/// An on-demand table `name` in `region` with a string partition key `key`.
pub async fn create_table(emu: &Emulator, region: &str, name: &str, key: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    emu.dynamodb(region)
        .await
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Tags a health check as `geoplan apply` tags its own: deployment, region, role.
pub async fn tag_check(
    r53: &aws_sdk_route53::Client,
    id: &str,
    deployment: &str,
    region: &str,
    role: &str,
) {
    use aws_sdk_route53::types::{Tag, TagResourceType};
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    r53.change_tags_for_resource()
        .resource_type(TagResourceType::Healthcheck)
        .resource_id(id)
        .add_tags(tag("geoplan:name", deployment))
        .add_tags(tag("geoplan:region", region))
        .add_tags(tag("geoplan:role", role))
        .send()
        .await
        .unwrap();
}
