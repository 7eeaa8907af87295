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
    /// The control plane refused a drain or restore (safety guard, auth, unknown region).
    Refused = 6,
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
        DeployError::Terraform(TerraformError::Failed { errors, .. }) => {
            eprintln!("error: {e}");
            for err in errors {
                eprintln!("{err}");
            }
            Exit::Terraform
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

pub(super) fn print_chain(e: &dyn std::error::Error) {
    eprintln!("error: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        eprintln!("  caused by: {s}");
        source = s.source();
    }
}
