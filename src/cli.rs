//! The command line: arguments, prompts, human and JSON output, exit codes.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::config::{self, ConfigError};
use crate::deploy::{self, DeployError, Overrides, Prepared};
use crate::diagnostic::Diagnostics;
use crate::terraform::{Operation, PlanSummary, Progress, Timings};

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

#[derive(Debug, Parser)]
#[command(
    name = "geoplan",
    version,
    about = "Plan, apply and operate one service across several AWS regions"
)]
#[command(
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage error, 3 invalid config, 4 terraform failed, 5 declined at the prompt"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// Put a drained region back in service
    Restore {
        region: String,
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
    /// Read Cost and Usage Report files (a file or a directory of *.csv / *.csv.gz) instead of Cost Explorer
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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

async fn run(cli: Cli) -> Exit {
    if matches!(
        cli.command,
        Command::Plan(_) | Command::Apply(_) | Command::Destroy(_)
    ) {
        // Terraform receives ctrl-c too (same process group) and stops cleanly, saving
        // state; geoplan must outlive it rather than die first and hide its result.
        tokio::spawn(async {
            while tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "geoplan: interrupt received; waiting for terraform to stop and save its state"
                );
            }
        });
    }
    match cli.command {
        Command::Validate { config, json } => validate(config, json),
        Command::Render(args) => render(args),
        Command::Plan(args) => plan(args).await,
        Command::Apply(args) => apply(args, Operation::Apply).await,
        Command::Destroy(args) => apply(args, Operation::Destroy).await,
        Command::Cost(args) => cost(args).await,
        Command::Serve(args) => serve(args).await,
        Command::Status(args) => match &args.config {
            Some(path) => {
                let loaded = match load_config(path) {
                    Ok(l) => l,
                    Err(exit) => return exit,
                };
                let endpoint = endpoint(args.endpoint_url.clone(), &loaded.config);
                crate::remote::status_direct(&loaded.config, endpoint.as_deref(), args.json).await
            }
            None => crate::remote::status(&args.remote.url, args.json).await,
        },
        Command::Drain {
            region,
            reason,
            remote,
        } => crate::remote::drain(&remote.url, remote.token.as_deref(), &region, &reason).await,
        Command::Restore { region, remote } => {
            crate::remote::restore(&remote.url, remote.token.as_deref(), &region).await
        }
    }
}

async fn cost(args: CostArgs) -> Exit {
    let loaded = match load_config(&args.config) {
        Ok(l) => l,
        Err(exit) => return exit,
    };
    let now = std::time::SystemTime::now();
    let month = match args
        .month
        .as_deref()
        .map(str::parse::<crate::cost::budget::Month>)
    {
        Some(Ok(m)) => m,
        Some(Err(e)) => {
            eprintln!("error: --month {e}");
            return Exit::Usage;
        }
        None => crate::cost::budget::civil(now).0,
    };
    let report = match &args.cur {
        Some(path) => crate::cost::from_cur(&loaded.config, path, month, now),
        None => {
            let endpoint = endpoint(args.endpoint_url, &loaded.config);
            crate::cost::from_explorer(&loaded.config, endpoint.as_deref(), month, now).await
        }
    };
    match report {
        Ok(r) if args.json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&r).expect("serialisable")
            );
            Exit::Ok
        }
        Ok(r) => {
            print!("{}", crate::cost::render(&r));
            Exit::Ok
        }
        Err(e) => {
            print_chain(&e);
            Exit::Failure
        }
    }
}

async fn serve(args: ServeArgs) -> Exit {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GEOPLAN_LOG")
        .unwrap_or_else(|_| "geoplan=info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let loaded = match load_config(&args.config) {
        Ok(l) => l,
        Err(exit) => return exit,
    };
    let config = loaded.config;
    let endpoint_url = endpoint(args.endpoint_url, &config);
    let token = match std::env::var("GEOPLAN_API_TOKEN") {
        Ok(t) => crate::api::Token::new(t),
        Err(_) => match &config.monitor.token_file {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(t) => crate::api::Token::new(t),
                Err(e) => {
                    eprintln!(
                        "error: cannot read monitor.token_file {}: {e}",
                        path.display()
                    );
                    return Exit::Failure;
                }
            },
            None => None,
        },
    };
    if token.is_none() {
        tracing::warn!(
            "no API token configured: drain and restore are refused (set GEOPLAN_API_TOKEN or monitor.token_file)"
        );
    }
    let addr = args.listen.unwrap_or(config.monitor.listen);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return Exit::Failure;
        }
    };
    let options = crate::serve::ServeOptions {
        endpoint_url,
        token,
        webhook_backoff: crate::cost::monitor::default_backoff(),
    };
    match crate::serve::run(config, listener, options, shutdown_signal()).await {
        Ok(()) => Exit::Ok,
        Err(e) => {
            print_chain(&e);
            Exit::Failure
        }
    }
}

/// Completes on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutdown requested");
}

fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn print_diagnostics(d: &Diagnostics) {
    if !d.issues.is_empty() {
        eprint!("{}", d.render(color()));
    }
}

#[derive(Serialize)]
struct ValidateReport<'a> {
    valid: bool,
    file: &'a str,
    issues: Vec<crate::diagnostic::IssueRecord<'a>>,
}

fn validate(path: PathBuf, json: bool) -> Exit {
    match config::load(&path) {
        Ok(loaded) => {
            if json {
                let report = ValidateReport {
                    valid: true,
                    file: &loaded.diagnostics.source.name,
                    issues: loaded.diagnostics.records(),
                };
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("serialisable")
                );
            } else {
                print_diagnostics(&loaded.diagnostics);
                let c = &loaded.config;
                println!(
                    "{}: valid — {} ({}), {} regions, {} table{}",
                    path.display(),
                    c.name,
                    c.pattern.as_str(),
                    c.regions.len(),
                    c.tables.len(),
                    if c.tables.len() == 1 { "" } else { "s" }
                );
            }
            Exit::Ok
        }
        Err(ConfigError::Invalid(d)) if json => {
            let report = ValidateReport {
                valid: false,
                file: &d.source.name,
                issues: d.records(),
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("serialisable")
            );
            Exit::InvalidConfig
        }
        Err(e) => report_error(&DeployError::Config(e)),
    }
}

/// Loads a config for a command that needs no Terraform: prints its warnings, or
/// reports its errors and gives the exit code.
fn load_config(path: &std::path::Path) -> Result<config::Loaded, Exit> {
    let loaded = config::load(path).map_err(|e| report_error(&DeployError::Config(e)))?;
    print_diagnostics(&loaded.diagnostics);
    Ok(loaded)
}

/// The emulator endpoint in effect: the flag or environment, else the config's.
fn endpoint(flag: Option<String>, config: &config::Config) -> Option<String> {
    flag.filter(|s| !s.is_empty())
        .or_else(|| config.aws.endpoint_url.clone())
}

fn overrides(args: &CommonArgs) -> Overrides {
    Overrides {
        endpoint_url: args.endpoint_url.clone().filter(|s| !s.is_empty()),
        plugin_mirror: args
            .plugin_mirror
            .clone()
            .filter(|p| !p.as_os_str().is_empty()),
        terraform: args.terraform.clone().filter(|p| !p.as_os_str().is_empty()),
    }
}

fn prepare(args: &CommonArgs, progress: Progress) -> Result<Prepared, Exit> {
    let prepared =
        deploy::prepare(&args.config, &overrides(args), progress).map_err(|e| report_error(&e))?;
    print_diagnostics(&prepared.diagnostics);
    if let Some(url) = &prepared.endpoint_url {
        eprintln!(
            "geoplan: using AWS endpoint {url}: the module carries emulator-only provider settings"
        );
    }
    Ok(prepared)
}

fn render(args: CommonArgs) -> Exit {
    match prepare(&args, Progress::Silent) {
        Ok(p) => {
            let w = &p.written;
            eprintln!(
                "geoplan: {} written, {} unchanged, {} removed",
                w.written.len(),
                w.unchanged.len(),
                w.removed.len()
            );
            println!("{}", p.module_dir.display());
            Exit::Ok
        }
        Err(exit) => exit,
    }
}

#[derive(Serialize)]
struct RunReport<'a> {
    config: String,
    module_dir: String,
    plan: &'a PlanSummary,
    applied: bool,
    /// The expected monthly cost of the replication this config creates.
    estimate: crate::cost::estimate::Estimate,
    /// Seconds spent in terraform, per step, and in all.
    terraform_seconds: Vec<(String, f64)>,
    total_seconds: f64,
}

async fn plan(args: RunArgs) -> Exit {
    let started = Instant::now();
    let progress = if args.quiet {
        Progress::Silent
    } else {
        Progress::Stderr
    };
    let prepared = match prepare(&args.common, progress) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let mut timings = Timings::default();
    let summary = match deploy::plan(&prepared, Operation::Apply, &mut timings).await {
        Ok(s) => s,
        Err(e) => return report_error(&e),
    };
    print_outcome(&args, &prepared, &summary, false, &timings, started);
    Exit::Ok
}

async fn apply(args: ApplyArgs, operation: Operation) -> Exit {
    let started = Instant::now();
    let run = &args.run;
    let progress = if run.quiet {
        Progress::Silent
    } else {
        Progress::Stderr
    };
    let prepared = match prepare(&run.common, progress) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let mut timings = Timings::default();
    let summary = match deploy::plan(&prepared, operation, &mut timings).await {
        Ok(s) => s,
        Err(e) => return report_error(&e),
    };
    if !summary.has_changes() {
        deploy::discard_plan(&prepared);
        print_outcome(run, &prepared, &summary, false, &timings, started);
        return Exit::Ok;
    }
    if !run.json {
        print_plan(&summary);
        if operation == Operation::Apply {
            print!(
                "{}",
                crate::cost::render_estimate(&crate::cost::estimate::estimate(&prepared.config))
            );
        }
    }
    if !args.auto_approve {
        match confirm(operation, &prepared) {
            Ok(true) => {}
            Ok(false) => {
                deploy::discard_plan(&prepared);
                eprintln!(
                    "geoplan: {} cancelled; nothing was changed",
                    verb(operation)
                );
                return Exit::Declined;
            }
            Err(exit) => {
                deploy::discard_plan(&prepared);
                return exit;
            }
        }
    }
    if let Err(e) = deploy::apply(&prepared, &mut timings).await {
        eprintln!(
            "geoplan: the {} stopped part-way; terraform saved the state of what it did. Run the same command again to converge.",
            verb(operation)
        );
        return report_error(&e);
    }
    print_outcome(run, &prepared, &summary, true, &timings, started);
    Exit::Ok
}

fn verb(op: Operation) -> &'static str {
    match op {
        Operation::Apply => "apply",
        Operation::Destroy => "destroy",
    }
}

fn confirm(operation: Operation, prepared: &Prepared) -> Result<bool, Exit> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        eprintln!(
            "error: cannot ask for confirmation: standard input is not a terminal\n  help: pass --auto-approve to {} without asking",
            verb(operation)
        );
        return Err(Exit::Usage);
    }
    eprint!(
        "\nDo you want to {} these changes to {}? Only 'yes' is accepted: ",
        verb(operation),
        prepared.config.name
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|_| Exit::Failure)?;
    Ok(answer.trim() == "yes")
}

fn print_plan(summary: &PlanSummary) {
    let t = summary.totals;
    let what = if summary.operation == Some(Operation::Destroy) {
        "Destroy plan"
    } else {
        "Plan"
    };
    println!(
        "{what}: {} to add, {} to change, {} to destroy.",
        t.add, t.change, t.destroy
    );
    let width = summary.by_type.keys().map(String::len).max().unwrap_or(0);
    for (kind, c) in &summary.by_type {
        let mut parts = Vec::new();
        if c.add > 0 {
            parts.push(format!("+{}", c.add));
        }
        if c.change > 0 {
            parts.push(format!("~{}", c.change));
        }
        if c.destroy > 0 {
            parts.push(format!("-{}", c.destroy));
        }
        println!("  {kind:<width$}  {}", parts.join(" "));
    }
    if !summary.drift.is_empty() {
        println!(
            "Drift: {} resource(s) changed outside geoplan since the last apply:",
            summary.drift.len()
        );
        for d in &summary.drift {
            println!("  {} ({})", d.address, d.action);
        }
    }
}

fn print_outcome(
    args: &RunArgs,
    prepared: &Prepared,
    summary: &PlanSummary,
    applied: bool,
    timings: &Timings,
    started: Instant,
) {
    if args.json {
        let report = RunReport {
            config: args.common.config.display().to_string(),
            module_dir: prepared.module_dir.display().to_string(),
            plan: summary,
            applied,
            estimate: crate::cost::estimate::estimate(&prepared.config),
            terraform_seconds: timings.steps.clone(),
            total_seconds: started.elapsed().as_secs_f64(),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serialisable")
        );
        return;
    }
    if !summary.has_changes() {
        let what = if summary.operation == Some(Operation::Destroy) {
            "nothing to destroy"
        } else {
            "AWS matches the config"
        };
        println!("No changes: {what} ({}).", prepared.config.name);
        return;
    }
    if applied {
        let t = summary.totals;
        let done = if summary.operation == Some(Operation::Destroy) {
            "Destroy"
        } else {
            "Apply"
        };
        println!(
            "{done} complete: {} added, {} changed, {} destroyed.",
            t.add, t.change, t.destroy
        );
    } else {
        print_plan(summary);
        print!(
            "{}",
            crate::cost::render_estimate(&crate::cost::estimate::estimate(&prepared.config))
        );
    }
}

fn report_error(e: &DeployError) -> Exit {
    match e {
        DeployError::Config(ConfigError::Invalid(d)) => {
            print_diagnostics(d);
            Exit::InvalidConfig
        }
        DeployError::Terraform(crate::terraform::TerraformError::Failed { errors, .. }) => {
            eprintln!("error: {e}");
            for err in errors {
                eprintln!("{err}");
            }
            Exit::Terraform
        }
        DeployError::Terraform(crate::terraform::TerraformError::Spawn { .. }) => {
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

pub(crate) fn print_chain(e: &dyn std::error::Error) {
    eprintln!("error: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        eprintln!("  caused by: {s}");
        source = s.source();
    }
}
