//! How the CLI ends: exit codes scripts can rely on, and how errors are printed.

use std::io::IsTerminal;
use std::process::ExitCode;

use crate::config::ConfigError;
use crate::config::diagnostic::Diagnostics;
use crate::deploy::DeployError;
use crate::deploy::terraform::TerraformError;

/// Exit codes scripts can rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Ok = 0,
    /// Anything else: IO, an unexpected failure.
    Failure = 1,
    /// Bad arguments, or a prompt that could not be shown.
    Usage = 2,
    /// regions.toml has errors; nothing was run.
    InvalidConfig = 3,
    /// terraform failed; its messages were printed.
    Terraform = 4,
    /// The user declined the apply or destroy.
    Declined = 5,
    /// The control plane refused a drain or restore (safety guard, auth, unknown region),
    /// or `adopt` found something it cannot import as the config describes it.
    Refused = 6,
    /// `cost`: this month's budgeted spend has reached the budget.
    OverBudget = 7,
    /// `drill`: an objective was missed, a step did not finish within its budget, or the
    /// drill was aborted (the region was restored).
    ObjectiveMissed = 8,
    /// Interrupted (SIGINT/SIGTERM); terraform stopped and saved its state.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

pub(super) fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub(super) fn print_diagnostics(d: &Diagnostics) {
    if !d.issues.is_empty() {
        eprint!("{}", d.render(color()));
    }
}

pub(super) fn report_error(e: &DeployError) -> Exit {
    match e {
        DeployError::Config(ConfigError::Invalid(d)) => {
            print_diagnostics(d);
            Exit::InvalidConfig
        }
        DeployError::Terraform(TerraformError::Failed { errors, shown, .. }) => {
            eprintln!("error: {e}");
            // Streamed as progress already: printing them again doubles every line.
            if !shown {
                for err in errors {
                    eprintln!("{err}");
                }
            }
            if errors.iter().any(|e| registry_unreachable(e)) {
                eprintln!(
                    "  help: terraform cannot reach its provider registry; point [terraform] plugin_mirror, --plugin-mirror or GEOPLAN_PLUGIN_MIRROR at a provider mirror (e.g. /opt/tf-plugins)"
                );
            }
            Exit::Terraform
        }
        DeployError::Terraform(TerraformError::Locked { .. }) => {
            eprintln!("error: {e}");
            eprintln!(
                "  help: nothing was changed; wait for it to finish, or pass --lock-timeout 10m to wait"
            );
            Exit::Terraform
        }
        DeployError::Terraform(TerraformError::Interrupted { .. }) => {
            eprintln!("error: {e}");
            Exit::Interrupted
        }
        DeployError::Locked(_) => {
            print_chain(e);
            Exit::Failure
        }
        DeployError::Terraform(TerraformError::Spawn { .. }) => {
            print_chain(e);
            eprintln!(
                "  help: install Terraform ≥ 1.5 or point --terraform / GEOPLAN_TERRAFORM at it"
            );
            Exit::Terraform
        }
        DeployError::Terraform(_) => {
            print_chain(e);
            Exit::Terraform
        }
        _ => {
            print_chain(e);
            Exit::Failure
        }
    }
}

/// Terraform's words when `init` cannot reach the provider registry.
fn registry_unreachable(text: &str) -> bool {
    text.contains("registry.terraform.io")
        && [
            "no such host",
            "Failed to query available provider packages",
            "could not connect",
            "i/o timeout",
            "connection refused",
        ]
        .iter()
        .any(|s| text.contains(s))
}

/// The `--json` form of an error: `{"error": {"code", "message"}}` on stdout, so a
/// script reading stdout gets JSON whatever happened.
pub(super) fn json_error(e: &DeployError) {
    let code = match e {
        DeployError::Config(ConfigError::Invalid(_)) => "invalid_config",
        DeployError::Terraform(TerraformError::Locked { .. }) | DeployError::Locked(_) => "locked",
        DeployError::Terraform(TerraformError::Interrupted { .. }) => "interrupted",
        DeployError::Terraform(_) => "terraform_failed",
        _ => "failed",
    };
    let mut message = e.to_string();
    if let DeployError::Terraform(TerraformError::Failed { errors, .. }) = e {
        for err in errors {
            message.push('\n');
            message.push_str(err);
        }
    }
    println!(
        "{}",
        serde_json::json!({ "error": { "code": code, "message": message } })
    );
}

/// `-v`: show the AWS SDK's full account of an error.
pub(super) static VERBOSE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

pub(super) fn print_chain(e: &dyn std::error::Error) {
    let message = e.to_string();
    eprintln!("error: {message}");
    let mut source = e.source();
    while let Some(s) = source {
        if s.is::<crate::aws::Detail>() && !VERBOSE.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!("  (run again with -v for the AWS SDK's details)");
            break;
        }
        // A cause the message already ends with (a CUR file's CSV, gzip, Parquet or
        // manifest error says where, then quotes it) is not said twice.
        let cause = s.to_string();
        if !message.ends_with(&cause) {
            eprintln!("  caused by: {cause}");
        }
        source = s.source();
    }
}
