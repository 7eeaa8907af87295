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
}

impl PlanSummary {
    pub fn has_changes(&self) -> bool {
        !self.totals.is_empty()
    }

    fn add(&mut self, change: ResourceChange) {
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
            .kill_on_drop(true);
        if let Some(cli) = &self.cli_config {
            cmd.env("TF_CLI_CONFIG_FILE", cli);
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
        while let Some(line) = lines
            .next_line()
            .await
            .map_err(|source| TerraformError::Output { step, source })?
        {
            match mode {
                Mode::Json => self.ui_line(&line, &mut out),
                Mode::Text => self.say(&line),
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
            let mut errors = out.errors;
            let text: String = stderr_lines.join("\n");
            if !text.trim().is_empty() {
                errors.push(text.trim().to_owned());
            }
            return Err(TerraformError::Failed {
                step,
                code: status.code(),
                errors,
            });
        }
        Ok(out)
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
        let mut args = vec![
            "plan",
            "-input=false",
            "-json",
            "-lock-timeout=60s",
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
                    "-lock-timeout=60s",
                    PLAN_FILE,
                ],
                Mode::Json,
                timings,
            )
            .await;
        // A plan file is single-use; never leave one that could be applied twice.
        let _ = std::fs::remove_file(self.dir.join(PLAN_FILE));
        result.map(|_| ())
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
    Text,
    Keep,
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
}
