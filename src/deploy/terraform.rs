//! Running the real `terraform` binary: init, plan to a plan file, apply of that exact
//! plan, outputs. Progress comes from Terraform's machine-readable UI (`-json`), which
//! also yields the plan summary without a second `terraform show` (each extra command
//! starts the 700 MB provider again).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

pub const PLAN_FILE: &str = "geoplan.tfplan";

#[derive(Debug, thiserror::Error)]
pub enum TerraformError {
    #[error("cannot run terraform binary {}", binary.display())]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("terraform {step} failed{}", exit_suffix(*code))]
    Failed {
        step: &'static str,
        code: Option<i32>,
        /// Terraform's own error messages, verbatim.
        errors: Vec<String>,
        /// Whether they were already streamed to the user as progress.
        shown: bool,
    },
    #[error("terraform {step} was interrupted")]
    Interrupted { step: &'static str },
    #[error("another terraform run holds the state lock{}", if holder.is_empty() { String::new() } else { format!(": {holder}") })]
    Locked {
        step: &'static str,
        /// Who holds it, from Terraform's lock info.
        holder: String,
    },
    #[error("cannot read terraform {step} output")]
    Output {
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
}

fn exit_suffix(code: Option<i32>) -> String {
    code.map(|c| format!(" (exit status {c})"))
        .unwrap_or_else(|| " (killed by a signal)".into())
}

/// Where progress lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Prefixed lines on stderr.
    Stderr,
    Silent,
}

/// How to run terraform in one module directory.
#[derive(Debug, Clone)]
pub struct Terraform {
    pub binary: PathBuf,
    pub dir: PathBuf,
    /// Set as TF_CLI_CONFIG_FILE when present.
    pub cli_config: Option<PathBuf>,
    pub progress: Progress,
    /// How long terraform waits for a state lock another run holds.
    pub lock_timeout: std::time::Duration,
    /// Counts interrupts (SIGINT/SIGTERM) the caller received; each new one is passed
    /// on to terraform as one SIGINT.
    pub interrupts: Option<tokio::sync::watch::Receiver<u32>>,
    /// The module talks to a local emulator: terraform gets dummy credentials when the
    /// environment has none (the rendered files never hold credentials, so a test
    /// can choose its emulator account with AWS_ACCESS_KEY_ID).
    pub emulator: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Apply,
    Destroy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceChange {
    pub address: String,
    pub resource_type: String,
    pub action: String,
    /// Brought under Terraform by an `import` block in this plan.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub imported: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

impl Counts {
    fn record(&mut self, action: &str) {
        match action {
            "create" => self.add += 1,
            "update" => self.change += 1,
            "delete" => self.destroy += 1,
            "replace" => {
                self.add += 1;
                self.destroy += 1;
            }
            _ => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.add + self.change + self.destroy == 0
    }
}

/// What a plan would do, by resource and by resource type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanSummary {
    pub operation: Option<Operation>,
    pub totals: Counts,
    pub by_type: BTreeMap<String, Counts>,
    pub changes: Vec<ResourceChange>,
    /// Resources changed outside Terraform since the last apply.
    pub drift: Vec<ResourceChange>,
    pub warnings: Vec<String>,
    /// Resources the plan imports (adopts) rather than creates.
    pub imports: usize,
}

impl PlanSummary {
    /// Whether applying the plan does anything: an import-only plan still records
    /// the imported resources in the state.
    pub fn has_changes(&self) -> bool {
        !self.totals.is_empty() || self.imports > 0
    }

    fn add(&mut self, change: ResourceChange) {
        if change.imported {
            self.imports += 1;
        }
        self.totals.record(&change.action);
        self.by_type
            .entry(change.resource_type.clone())
            .or_default()
            .record(&change.action);
        self.changes.push(change);
    }
}

/// Timings of the terraform processes geoplan ran, to separate its own overhead.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timings {
    pub steps: Vec<(String, f64)>,
}

// --- Terraform's machine-readable UI (https://developer.hashicorp.com/terraform/internals/machine-readable-ui)

#[derive(Debug, Deserialize)]
struct UiMessage {
    #[serde(rename = "@level", default)]
    level: String,
    #[serde(rename = "@message", default)]
    message: String,
    #[serde(rename = "type", default)]
    kind: String,
    change: Option<UiChange>,
    diagnostic: Option<UiDiagnostic>,
}

#[derive(Debug, Deserialize)]
struct UiChange {
    resource: UiResource,
    action: String,
    /// Present when an `import` block brings the resource in (`{"id": ...}`).
    #[serde(default)]
    importing: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct UiResource {
    addr: String,
    resource_type: String,
}

#[derive(Debug, Deserialize)]
struct UiDiagnostic {
    severity: String,
    summary: String,
    #[serde(default)]
    detail: String,
    address: Option<String>,
    range: Option<UiRange>,
}

#[derive(Debug, Deserialize)]
struct UiRange {
    filename: String,
    start: UiPos,
}

#[derive(Debug, Deserialize)]
struct UiPos {
    line: usize,
}

impl UiDiagnostic {
    fn render(&self) -> String {
        let mut s = format!("{}: {}", capitalise(&self.severity), self.summary);
        if let Some(addr) = &self.address {
            s.push_str(&format!("\n  with {addr}"));
        }
        if let Some(r) = &self.range {
            s.push_str(&format!("\n  on {} line {}", r.filename, r.start.line));
        }
        if !self.detail.is_empty() {
            s.push_str(&format!("\n\n{}", self.detail));
        }
        s
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// What one run of terraform printed that geoplan keeps.
#[derive(Default)]
struct RunOutput {
    errors: Vec<String>,
    summary: PlanSummary,
    stdout: String,
}

impl Terraform {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(args)
            .current_dir(&self.dir)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a terminal's Ctrl-C reaches geoplan only, which
            // passes exactly one interrupt on (two make terraform abort without saving).
            .process_group(0)
            .kill_on_drop(true);
        if let Some(cli) = &self.cli_config {
            cmd.env("TF_CLI_CONFIG_FILE", cli);
        }
        // Terraform and its providers are Go programs, and a plan starts one AWS
        // provider (a 675 MB binary) per region. With the collector at 200 instead of
        // Go's default 100, a plan of the active-active example took 16 % less CPU and
        // 11 % less time, for 12 % more peak memory (README, "Terraform runs"). The
        // caller's own GOGC wins.
        if std::env::var_os("GOGC").is_none() {
            cmd.env("GOGC", "200");
        }
        if self.emulator && std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            cmd.env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test");
        }
        cmd
    }

    fn say(&self, line: &str) {
        if self.progress == Progress::Stderr {
            for l in line.lines() {
                eprintln!("[terraform] {l}");
            }
        }
    }

    /// Runs one terraform command, streaming its output. `json` parses stdout as the
    /// machine-readable UI; otherwise stdout is passed through (or kept, for `keep`).
    async fn run(
        &self,
        step: &'static str,
        args: &[&str],
        mode: Mode,
        timings: &mut Timings,
    ) -> Result<RunOutput, TerraformError> {
        let started = Instant::now();
        let mut child = self
            .command(args)
            .spawn()
            .map_err(|source| TerraformError::Spawn {
                binary: self.binary.clone(),
                source,
            })?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let progress = self.progress;
        // Stderr carries plain-text errors (e.g. a bad CLI config) in every mode.
        let stderr_task = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut kept = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if progress == Progress::Stderr {
                    eprintln!("[terraform] {line}");
                }
                kept.push(line);
            }
            kept
        });
        let mut out = RunOutput::default();
        let mut lines = BufReader::new(stdout).lines();
        let mut interrupts = self.interrupts.clone();
        let mut interrupted = 0u32;
        let mut condensing = false;
        loop {
            let line = tokio::select! {
                line = lines.next_line() => line.map_err(|source| TerraformError::Output { step, source })?,
                Some(()) = next_interrupt(&mut interrupts) => {
                    interrupted += 1;
                    if let Some(pid) = child.id() {
                        // SAFETY: kill(2) with a pid we spawned and have not reaped.
                        unsafe {
                            libc::kill(pid as libc::pid_t, libc::SIGINT);
                        }
                    }
                    eprintln!("{}", if interrupted == 1 {
                        "geoplan: interrupt passed to terraform; it is finishing what is in flight and saving state (interrupt again to abort at once)"
                    } else {
                        "geoplan: second interrupt passed to terraform; it stops at once and may not save state"
                    });
                    continue;
                }
            };
            let Some(line) = line else { break };
            match mode {
                Mode::Json => self.ui_line(&line, &mut out),
                Mode::ApplyJson => self.apply_line(&line, &mut out),
                Mode::Text => {
                    if let Some(note) = condense_lock_warning(&line, &mut condensing) {
                        if !note.is_empty() {
                            self.say(note);
                        }
                    } else {
                        self.say(&line);
                    }
                }
                Mode::Keep => {
                    out.stdout.push_str(&line);
                    out.stdout.push('\n');
                }
            }
        }
        let status = child
            .wait()
            .await
            .map_err(|source| TerraformError::Output { step, source })?;
        let stderr_lines = stderr_task.await.unwrap_or_default();
        timings
            .steps
            .push((step.to_owned(), started.elapsed().as_secs_f64()));
        if !status.success() {
            if interrupted > 0 {
                return Err(TerraformError::Interrupted { step });
            }
            let mut errors = out.errors;
            let text: String = stderr_lines.join("\n");
            if !text.trim().is_empty() {
                errors.push(text.trim().to_owned());
            }
            if let Some(lock) = errors
                .iter()
                .find(|e| e.contains("Error acquiring the state lock"))
            {
                return Err(TerraformError::Locked {
                    step,
                    holder: lock_holder(lock),
                });
            }
            return Err(TerraformError::Failed {
                step,
                code: status.code(),
                errors,
                shown: self.progress == Progress::Stderr,
            });
        }
        Ok(out)
    }

    /// An apply of a plan file repeats the plan's `planned_change` messages, already
    /// shown by the plan: only what the apply does is shown.
    fn apply_line(&self, line: &str, out: &mut RunOutput) {
        if serde_json::from_str::<UiMessage>(line).is_ok_and(|m| m.kind == "planned_change") {
            return;
        }
        self.ui_line(line, out);
    }

    fn ui_line(&self, line: &str, out: &mut RunOutput) {
        let Ok(msg) = serde_json::from_str::<UiMessage>(line) else {
            self.say(line);
            return;
        };
        match msg.kind.as_str() {
            "planned_change" | "resource_drift" => {
                if let Some(c) = msg.change {
                    let change = ResourceChange {
                        imported: c.importing.is_some() || c.action == "import",
                        address: c.resource.addr,
                        resource_type: c.resource.resource_type,
                        action: c.action,
                    };
                    if msg.kind == "resource_drift" {
                        self.say(&format!("drift: {}", msg.message));
                        out.summary.drift.push(change);
                    } else {
                        self.say(&msg.message);
                        out.summary.add(change);
                    }
                }
            }
            "diagnostic" => {
                if let Some(d) = msg.diagnostic {
                    let text = d.render();
                    self.say(&text);
                    if d.severity == "error" {
                        out.errors.push(text);
                    } else {
                        out.summary.warnings.push(text);
                    }
                }
            }
            "apply_start" | "apply_progress" | "apply_complete" | "apply_errored"
            | "change_summary" | "refresh_start" | "refresh_complete" | "provision_errored" => {
                self.say(&msg.message)
            }
            _ if msg.level == "error" => {
                self.say(&msg.message);
                out.errors.push(msg.message);
            }
            _ => {}
        }
    }

    fn lock_timeout_arg(&self) -> String {
        format!("-lock-timeout={}ms", self.lock_timeout.as_millis())
    }

    pub async fn init(&self, timings: &mut Timings) -> Result<(), TerraformError> {
        self.run(
            "init",
            &["init", "-input=false", "-no-color"],
            Mode::Text,
            timings,
        )
        .await?;
        Ok(())
    }

    /// Plans into the plan file; the summary says what applying it would do.
    pub async fn plan(
        &self,
        operation: Operation,
        timings: &mut Timings,
    ) -> Result<PlanSummary, TerraformError> {
        let out_arg = format!("-out={PLAN_FILE}");
        let lock_arg = self.lock_timeout_arg();
        let mut args = vec![
            "plan",
            "-input=false",
            "-json",
            lock_arg.as_str(),
            out_arg.as_str(),
        ];
        if operation == Operation::Destroy {
            args.push("-destroy");
        }
        let out = self.run("plan", &args, Mode::Json, timings).await?;
        let mut summary = out.summary;
        summary.operation = Some(operation);
        Ok(summary)
    }

    /// Applies exactly the plan file written by [`Terraform::plan`].
    pub async fn apply_plan(&self, timings: &mut Timings) -> Result<(), TerraformError> {
        let result = self
            .run(
                "apply",
                &[
                    "apply",
                    "-input=false",
                    "-json",
                    &self.lock_timeout_arg(),
                    PLAN_FILE,
                ],
                Mode::ApplyJson,
                timings,
            )
            .await;
        // A plan file is single-use; never leave one that could be applied twice.
        let _ = std::fs::remove_file(self.dir.join(PLAN_FILE));
        result.map(|_| ())
    }

    /// The resource addresses in the state (`terraform state list`); empty when there
    /// is no state yet.
    pub async fn state_list(
        &self,
        timings: &mut Timings,
    ) -> Result<std::collections::BTreeSet<String>, TerraformError> {
        let out = self
            .run(
                "state list",
                &["state", "list", "-no-color"],
                Mode::Keep,
                timings,
            )
            .await;
        match out {
            Ok(out) => Ok(out.stdout.lines().map(str::to_owned).collect()),
            // A remote backend with no state yet (a first apply) is an empty state, not
            // an error; a local one has an empty state file by then.
            Err(TerraformError::Failed { errors, .. })
                if errors.iter().any(|e| e.contains("No state file was found")) =>
            {
                Ok(Default::default())
            }
            Err(e) => Err(e),
        }
    }

    /// The module's outputs as JSON (`terraform output -json`).
    pub async fn outputs(
        &self,
        timings: &mut Timings,
    ) -> Result<serde_json::Value, TerraformError> {
        let out = self
            .run(
                "output",
                &["output", "-json", "-no-color"],
                Mode::Keep,
                timings,
            )
            .await?;
        serde_json::from_str(&out.stdout).map_err(|e| TerraformError::Output {
            step: "output",
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Json,
    ApplyJson,
    Text,
    Keep,
}

/// Terraform's 10-line "Incomplete lock file information" warning, printed on the first
/// init with a provider mirror, as one line that says what it means. Returns what to
/// print instead of `line` (empty: nothing), or `None` to print `line` itself.
fn condense_lock_warning(line: &str, inside: &mut bool) -> Option<&'static str> {
    if line.starts_with("Warning: Incomplete lock file information for providers") {
        *inside = true;
        return Some(
            "note: .terraform.lock.hcl records the provider's checksum for this platform only (it came from the plugin mirror); on another platform run `terraform providers lock -platform=OS_ARCH` in the module directory",
        );
    }
    if *inside {
        if line.contains("terraform providers lock") {
            *inside = false;
        }
        return Some("");
    }
    None
}

/// Resolves when the caller receives another interrupt; never without a channel.
async fn next_interrupt(rx: &mut Option<tokio::sync::watch::Receiver<u32>>) -> Option<()> {
    match rx {
        Some(rx) => rx.changed().await.ok(),
        None => std::future::pending().await,
    }
}

/// "apply by root@host since 2026-11-28 13:00:00 (lock ID 9b…)" from Terraform's lock
/// info block.
fn lock_holder(diagnostic: &str) -> String {
    let field = |name: &str| {
        diagnostic.lines().find_map(|l| {
            l.trim()
                .strip_prefix(name)
                .map(|v| v.trim_start_matches(':').trim().to_owned())
                .filter(|v| !v.is_empty())
        })
    };
    let operation =
        field("Operation").map(|o| o.trim_start_matches("OperationType").to_ascii_lowercase());
    let mut out = Vec::new();
    if let Some(o) = operation {
        out.push(o);
    }
    if let Some(w) = field("Who") {
        out.push(format!("by {w}"));
    }
    if let Some(c) = field("Created") {
        out.push(format!("since {c}"));
    }
    if let Some(id) = field("ID") {
        out.push(format!("(lock ID {id})"));
    }
    out.join(" ")
}

/// Finds `name` on PATH, or returns it unchanged for the OS to resolve.
pub fn resolve_binary(name: &Path) -> PathBuf {
    if name.components().count() > 1 {
        return name.to_owned();
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> RunOutput {
        let tf = Terraform {
            binary: "terraform".into(),
            dir: ".".into(),
            cli_config: None,
            progress: Progress::Silent,
            lock_timeout: std::time::Duration::ZERO,
            interrupts: None,
            emulator: false,
        };
        let mut out = RunOutput::default();
        for l in lines {
            tf.ui_line(l, &mut out);
        }
        out
    }

    #[test]
    fn summarises_planned_changes_by_type() {
        let out = parse(&[
            r#"{"@level":"info","@message":"Terraform 1.11.4","type":"version"}"#,
            r#"{"@level":"info","@message":"a: Plan to create","type":"planned_change","change":{"resource":{"addr":"aws_route53_record.a","resource_type":"aws_route53_record"},"action":"create"}}"#,
            r#"{"@level":"info","@message":"b: Plan to replace","type":"planned_change","change":{"resource":{"addr":"aws_route53_record.b","resource_type":"aws_route53_record"},"action":"replace"}}"#,
            r#"{"@level":"info","@message":"c: Plan to update","type":"planned_change","change":{"resource":{"addr":"aws_dynamodb_table.c","resource_type":"aws_dynamodb_table"},"action":"update"}}"#,
            r#"{"@level":"info","@message":"d: drifted","type":"resource_drift","change":{"resource":{"addr":"aws_dynamodb_table.d","resource_type":"aws_dynamodb_table"},"action":"update"}}"#,
            "not json at all",
        ]);
        let s = out.summary;
        assert_eq!(
            s.totals,
            Counts {
                add: 2,
                change: 1,
                destroy: 1
            }
        );
        assert_eq!(
            s.by_type["aws_route53_record"],
            Counts {
                add: 2,
                change: 0,
                destroy: 1
            }
        );
        assert_eq!(
            s.by_type["aws_dynamodb_table"],
            Counts {
                add: 0,
                change: 1,
                destroy: 0
            }
        );
        assert_eq!(s.drift.len(), 1);
        assert!(s.has_changes());
    }

    #[test]
    fn keeps_error_diagnostics_verbatim() {
        let out = parse(&[
            r#"{"@level":"error","@message":"Error: boom","type":"diagnostic","diagnostic":{"severity":"error","summary":"boom","detail":"the detail","address":"aws_x.y","range":{"filename":"route53.tf","start":{"line":7,"column":1,"byte":0},"end":{"line":7,"column":2,"byte":1}}}}"#,
            r#"{"@level":"warn","@message":"Warning: careful","type":"diagnostic","diagnostic":{"severity":"warning","summary":"careful","detail":""}}"#,
        ]);
        assert_eq!(
            out.errors,
            ["Error: boom\n  with aws_x.y\n  on route53.tf line 7\n\nthe detail"]
        );
        assert_eq!(out.summary.warnings, ["Warning: careful"]);
        assert!(!out.summary.has_changes());
    }

    #[test]
    fn the_lock_holder_is_read_from_terraforms_lock_info() {
        let detail = "Error: Error acquiring the state lock\n\nError message: resource temporarily unavailable\nLock Info:\n  ID:        9b2c-41\n  Path:      terraform.tfstate\n  Operation: OperationTypeApply\n  Who:       ci@runner-7\n  Version:   1.11.4\n  Created:   2026-11-28 13:00:00.1 +0000 UTC\n  Info:      \n";
        assert_eq!(
            lock_holder(detail),
            "apply by ci@runner-7 since 2026-11-28 13:00:00.1 +0000 UTC (lock ID 9b2c-41)"
        );
        assert_eq!(lock_holder("Error: Error acquiring the state lock"), "");
    }

    #[test]
    fn the_lock_file_warning_becomes_one_line() {
        let text = "Terraform has been successfully initialized!\nWarning: Incomplete lock file information for providers\n\nDue to your customized provider installation methods, Terraform was forced to\ncalculate lock file checksums locally for the following providers:\n  - hashicorp/aws\n\nTo calculate additional checksums for another platform, run:\n  terraform providers lock -platform=linux_amd64\n(where linux_amd64 is the platform to generate)\n";
        let mut inside = false;
        let shown: Vec<String> = text
            .lines()
            .filter_map(|l| match condense_lock_warning(l, &mut inside) {
                None => Some(l.to_owned()),
                Some("") => None,
                Some(note) => Some(note.to_owned()),
            })
            .collect();
        assert_eq!(shown.len(), 3, "{shown:#?}");
        assert!(shown[1].starts_with("note: .terraform.lock.hcl records"));
        assert_eq!(shown[2], "(where linux_amd64 is the platform to generate)");
    }
}
