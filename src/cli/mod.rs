//! The command line: arguments and dispatch. Each command's printing lives in the
//! submodule of its part of the product (`deploy`, `control`, `cost`); exit codes and
//! error printing in `exit`. Nothing outside `cli` imports from it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config;
use crate::deploy::DeployError;
use crate::deploy::terraform::Operation;

mod control;
mod cost;
mod deploy;
mod drill;
mod exit;

pub use exit::Exit;
use exit::{print_diagnostics, report_error};

#[derive(Debug, Parser)]
#[command(
    name = "geoplan",
    version,
    about = "Plan, apply and operate one service across several AWS regions"
)]
#[command(
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage error, 3 invalid config, 4 terraform failed, 5 declined at the prompt, 6 refused (by the control plane, or adopt), 7 over budget, 130 interrupted"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Show the full detail of AWS errors
    #[arg(long, short, global = true)]
    verbose: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a config and report every problem at once, with file:line:column
    Validate {
        /// The deployment config
        config: PathBuf,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Write the Terraform root module and print its directory
    Render(CommonArgs),
    /// Render, then terraform init and plan; print what would change
    Plan(RunArgs),
    /// Render, plan, ask, then apply exactly that plan
    Apply(ApplyArgs),
    /// Plan the destruction of everything the config created, ask, then apply it
    Destroy(ApplyArgs),
    /// Find what the config describes that already exists in AWS (made by hand or by
    /// other tools) and write import blocks, so the next plan adopts it instead of
    /// creating it; changes nothing in AWS
    Adopt(AdoptArgs),
    /// Cross-region transfer spend per region pair, against the budget
    Cost(CostArgs),
    /// Run the control plane: probe regions, fail over and back, serve the API
    Serve(ServeArgs),
    /// Show a running control plane's view of every region and record
    Status(StatusArgs),
    /// Take a region out of service by hand (through a running control plane)
    Drain {
        region: String,
        /// Why; recorded in the event log
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Practise a failover through a running control plane: drain REGION, see traffic leave it, hold, restore it through the failback gate, and report against [drill]
    Drill {
        /// The deployment config ([drill] gives the objective, hold and outcome probe)
        config: PathBuf,
        region: String,
        /// How long the region stays out; overrides drill.hold
        #[arg(long, value_parser = humantime::parse_duration)]
        hold: Option<std::time::Duration>,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Put a drained region back in service (through the failback gate)
    Restore {
        region: String,
        /// Override the failback gate (replicas not yet caught up); needs --reason
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why the gate is overridden; recorded in the event log
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        remote: RemoteArgs,
    },
}

#[derive(Debug, Args)]
struct CostArgs {
    /// The deployment config
    config: PathBuf,
    /// The month, YYYY-MM (default: this month)
    #[arg(long)]
    month: Option<String>,
    /// Read Cost and Usage Report files instead of Cost Explorer: a file, a directory of *.csv / *.csv.gz / *.parquet, or a Data Exports export folder (its manifests list the files)
    #[arg(long, value_name = "PATH")]
    cur: Option<PathBuf>,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
    /// AWS endpoint of a local emulator
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    endpoint_url: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The deployment config
    config: PathBuf,
    /// AWS endpoint of a local emulator
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    endpoint_url: Option<String>,
    /// Listen address; overrides monitor.listen
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// This instance's id, when several run with [control] (default: the host name)
    #[arg(long, value_name = "ID")]
    instance: Option<String>,
}

#[derive(Debug, Args)]
struct RemoteArgs {
    /// The control plane's address
    #[arg(long, env = "GEOPLAN_URL", default_value = "http://127.0.0.1:7700")]
    url: String,
    /// Bearer token for drain and restore
    #[arg(long, env = "GEOPLAN_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// Read AWS directly for this config instead of asking a control plane
    config: Option<PathBuf>,
    /// AWS endpoint of a local emulator (with CONFIG)
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    endpoint_url: Option<String>,
    #[command(flatten)]
    remote: RemoteArgs,
    /// Print the status document as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct CommonArgs {
    /// The deployment config
    config: PathBuf,
    /// AWS endpoint of a local emulator; renders emulator-only provider settings
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    endpoint_url: Option<String>,
    /// Provider filesystem mirror for offline `terraform init`
    #[arg(long, env = "GEOPLAN_PLUGIN_MIRROR", value_name = "DIR")]
    plugin_mirror: Option<PathBuf>,
    /// The terraform binary (default: `terraform` on PATH)
    #[arg(long, env = "GEOPLAN_TERRAFORM", value_name = "PATH")]
    terraform: Option<PathBuf>,
    /// Wait this long for another geoplan in the module directory and for Terraform's
    /// state lock, e.g. 5m (default: fail at once)
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    lock_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Print the summary as JSON on stdout (progress still goes to stderr)
    #[arg(long)]
    json: bool,
    /// Do not stream terraform's progress
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct AdoptArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Print the result as JSON on stdout
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ApplyArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Apply without asking
    #[arg(long)]
    auto_approve: bool,
}

/// Parses the arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    exit::VERBOSE.store(cli.verbose, std::sync::atomic::Ordering::Relaxed);
    if !matches!(cli.command, Command::Serve(_)) {
        // Like other Unix tools, a command whose output pipe closes (`| head`) ends
        // quietly. Rust ignores SIGPIPE, which turns the closed pipe into a panic in
        // `println!`; the default disposition ends the process instead. `serve` keeps it
        // ignored: its logs must never stop it.
        // SAFETY: called before any thread exists; SIG_DFL is a valid disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // One worker per core, as tokio sizes it (`TOKIO_WORKER_THREADS` overrides it).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Failure.into();
        }
    };
    runtime.block_on(run(cli)).into()
}

/// Counts SIGINT and SIGTERM from now on. geoplan outlives terraform, passing each one
/// on (`deploy::terraform`), so that terraform stops cleanly and saves its state and
/// geoplan reports what happened.
fn count_interrupts() -> tokio::sync::watch::Receiver<u32> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = tokio::sync::watch::channel(0u32);
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return rx;
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(()) = int.recv() => {}
                Some(()) = term.recv() => {}
                else => break,
            }
            tx.send_modify(|n| *n += 1);
        }
    });
    rx
}

async fn run(cli: Cli) -> Exit {
    let interrupts = match cli.command {
        Command::Plan(_) | Command::Apply(_) | Command::Destroy(_) => Some(count_interrupts()),
        _ => None,
    };
    match cli.command {
        Command::Validate { config, json } => deploy::validate(config, json),
        Command::Render(args) => deploy::render(args),
        Command::Plan(args) => deploy::plan(args, interrupts).await,
        Command::Apply(args) => deploy::apply(args, Operation::Apply, interrupts).await,
        Command::Destroy(args) => deploy::apply(args, Operation::Destroy, interrupts).await,
        Command::Adopt(args) => deploy::adopt(args).await,
        Command::Cost(args) => cost::cost(args).await,
        Command::Serve(args) => control::serve(args).await,
        Command::Status(args) => match &args.config {
            Some(path) => {
                let loaded = match load_config(path) {
                    Ok(l) => l,
                    Err(exit) => return exit,
                };
                let endpoint = endpoint(args.endpoint_url.clone(), &loaded.config);
                control::status_direct(&loaded.config, endpoint.as_deref(), args.json).await
            }
            None => control::status(&args.remote.url, args.json).await,
        },
        Command::Drain {
            region,
            reason,
            remote,
        } => control::drain(&remote.url, remote.token.as_deref(), &region, &reason).await,
        Command::Drill {
            config,
            region,
            hold,
            json,
            remote,
        } => {
            let loaded = match load_config(&config) {
                Ok(l) => l,
                Err(exit) => return exit,
            };
            drill::Drill {
                config: &loaded.config,
                region: &region,
                url: &remote.url,
                token: remote.token.as_deref(),
                hold,
                json,
            }
            .run()
            .await
        }
        Command::Restore {
            region,
            force,
            reason,
            remote,
        } => {
            let force = force.then(|| reason.unwrap_or_default());
            control::restore(
                &remote.url,
                remote.token.as_deref(),
                &region,
                force.as_deref(),
            )
            .await
        }
    }
}

pub(super) fn load_config(path: &std::path::Path) -> Result<config::Loaded, Exit> {
    let loaded = config::load(path).map_err(|e| report_error(&DeployError::Config(e)))?;
    print_diagnostics(&loaded.diagnostics);
    Ok(loaded)
}

/// The emulator endpoint in effect: the flag or environment, else the config's.
pub(super) fn endpoint(flag: Option<String>, config: &config::Config) -> Option<String> {
    flag.filter(|s| !s.is_empty())
        .or_else(|| config.aws.endpoint_url.clone())
}
