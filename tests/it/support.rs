//! Test harness: a local AWS emulator per test, the real geoplan binary in a temp
//! dir, and SDK clients pointed at the emulator.

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

/// A running AWS emulator: moto with geoplan's patches (localstack/emulator.py),
/// started on a free port for this test alone, or an already running one named by
/// `GEOPLAN_TEST_ENDPOINT` (for example LocalStack), shared by every test.
pub struct Emulator {
    pub url: String,
    child: Option<Child>,
}

impl Emulator {
    pub fn start() -> Emulator {
        if let Ok(url) = std::env::var("GEOPLAN_TEST_ENDPOINT") {
            return Emulator { url, child: None };
        }
        let python = std::env::var("GEOPLAN_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = Command::new(&python)
            .arg(repo().join("localstack/emulator.py"))
            .args(["--host", "127.0.0.1", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the emulator with {python}: {e}; run localstack/setup.sh")
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
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the emulator did not start within 60 s; run `{python} localstack/emulator.py` to see why"));
        let url = line
            .strip_prefix("geoplan-emulator listening on ")
            .unwrap_or_else(|| panic!("unexpected emulator output: {line}"))
            .to_owned();
        Emulator {
            url,
            child: Some(child),
        }
    }

    pub async fn route53(&self) -> aws_sdk_route53::Client {
        geoplan::aws::route53(Some(&self.url)).await
    }

    /// Makes every AWS request wait until `d` has passed, as if AWS could not be
    /// reached (the emulator's `/_geoplan/pause` hook).
    pub async fn pause(&self, d: Duration) {
        let resp = reqwest::Client::new()
            .post(format!(
                "{}/_geoplan/pause?seconds={}",
                self.url,
                d.as_secs_f64()
            ))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "pause: {}", resp.status());
    }

    pub async fn dynamodb(&self, region: &str) -> aws_sdk_dynamodb::Client {
        geoplan::aws::dynamodb(region, Some(&self.url)).await
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
        cmd.env("AWS_ENDPOINT_URL", &e.url);
    }
    cmd
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
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeRegion {
    pub async fn start_new() -> FakeRegion {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut r = FakeRegion { port, task: None };
        r.start().await;
        r
    }

    pub async fn start(&mut self) {
        if self.task.is_some() {
            return;
        }
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(([127, 0, 0, 1], self.port).into()).unwrap();
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
    use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType, Tag, TagResourceType};
    let mut ids = Vec::new();
    for role in ["endpoint", "switch", "region"] {
        let config = match role {
            "endpoint" => HealthCheckConfig::builder()
                .r#type(HealthCheckType::Http)
                .ip_address("127.0.0.1")
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
        let id = r53
            .create_health_check()
            .caller_reference(format!("{deployment}-{region}-{role}"))
            .health_check_config(config.build().unwrap())
            .send()
            .await
            .unwrap()
            .health_check()
            .unwrap()
            .id()
            .to_owned();
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        r53.change_tags_for_resource()
            .resource_type(TagResourceType::Healthcheck)
            .resource_id(&id)
            .add_tags(tag("geoplan:name", deployment))
            .add_tags(tag("geoplan:region", region))
            .add_tags(tag("geoplan:role", role))
            .send()
            .await
            .unwrap();
        ids.push(id);
    }
}
