//! The deploy commands: `validate`, `render`, `plan`, `apply`, `destroy` — prompts and
//! printing on top of `deploy`, which does the work.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::exit::{Exit, json_error, print_chain, print_diagnostics, report_error};
use super::{AdoptArgs, ApplyArgs, CommonArgs, RunArgs};
use crate::config::{self, ConfigError};
use crate::deploy::terraform::{Operation, PlanSummary, Progress, TerraformError, Timings};

type Interrupts = tokio::sync::watch::Receiver<u32>;
use crate::deploy::{self, DeployError, Overrides, Prepared};

#[derive(Serialize)]
struct ValidateReport<'a> {
    valid: bool,
    file: &'a str,
    issues: Vec<crate::config::diagnostic::IssueRecord<'a>>,
}

pub(super) fn validate(path: PathBuf, json: bool) -> Exit {
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
fn overrides(args: &CommonArgs, interrupts: Option<Interrupts>) -> Overrides {
    Overrides {
        lock_timeout: args.lock_timeout,
        interrupts,
        endpoint_url: args.endpoint_url.clone().filter(|s| !s.is_empty()),
        plugin_mirror: args
            .plugin_mirror
            .clone()
            .filter(|p| !p.as_os_str().is_empty()),
        terraform: args.terraform.clone().filter(|p| !p.as_os_str().is_empty()),
    }
}

fn prepare(
    args: &CommonArgs,
    progress: Progress,
    interrupts: Option<Interrupts>,
    json: bool,
) -> Result<Prepared, Exit> {
    let prepared = deploy::prepare(&args.config, &overrides(args, interrupts), progress)
        .map_err(|e| fail(&e, json))?;
    for file in &prepared.lock.cleaned {
        eprintln!(
            "geoplan: removed {file}, left in the module directory by an earlier run that was stopped"
        );
    }
    print_diagnostics(&prepared.diagnostics);
    if let Some(url) = &prepared.endpoint_url {
        eprintln!(
            "geoplan: using AWS endpoint {url}: the module carries emulator-only provider settings"
        );
    }
    Ok(prepared)
}

/// Reports an error; with `--json`, also as a JSON object on stdout.
fn fail(e: &DeployError, json: bool) -> Exit {
    if json {
        json_error(e);
    }
    report_error(e)
}

pub(super) fn render(args: CommonArgs) -> Exit {
    match prepare(&args, Progress::Silent, None, false) {
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

pub(super) async fn plan(args: RunArgs, interrupts: Option<Interrupts>) -> Exit {
    let started = Instant::now();
    let progress = if args.quiet {
        Progress::Silent
    } else {
        Progress::Stderr
    };
    let prepared = match prepare(&args.common, progress, interrupts, args.json) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let mut timings = Timings::default();
    let planned = deploy::plan(&prepared, Operation::Apply, &mut timings).await;
    // `geoplan plan` shows; `apply` plans afresh. No plan file is left to be applied
    // by hand later, against a world that has moved on.
    deploy::discard_plan(&prepared);
    let summary = match planned {
        Ok(s) => s,
        Err(e) => return fail(&e, args.json),
    };
    print_outcome(&args, &prepared, &summary, false, &timings, started);
    Exit::Ok
}

#[derive(Serialize)]
struct AdoptReport<'a> {
    config: String,
    /// Found in AWS: imported by the next apply.
    imports: &'a [deploy::adopt::Import],
    /// Not found: the next apply creates them.
    create: Vec<&'a str>,
    /// Found, but not importable as the config describes them.
    refusals: &'a [deploy::adopt::Refusal],
    /// The import file written, when there was something to import and no refusal.
    written: Option<String>,
}

pub(super) async fn adopt(args: AdoptArgs) -> Exit {
    let prepared = match prepare(&args.common, Progress::Silent, None, args.json) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let mut timings = Timings::default();
    let (found, state) = match deploy::adopt_existing(&prepared, &mut timings).await {
        Ok(f) => f,
        Err(e) => return fail(&e, args.json),
    };
    let imported: std::collections::BTreeSet<&str> =
        found.imports.iter().map(|i| i.address.as_str()).collect();
    let file = prepared.module_dir.join(deploy::adopt::ADOPT_FILE);
    let written = (found.refusals.is_empty() && !found.imports.is_empty())
        .then(|| file.display().to_string());
    let create: Vec<&str> = prepared
        .wanted
        .iter()
        .map(|w| w.address.as_str())
        .filter(|a| !imported.contains(a) && !state.contains(*a))
        .collect();
    let source = args.common.config.display().to_string();
    if args.json {
        let report = AdoptReport {
            config: source,
            imports: &found.imports,
            create,
            refusals: &found.refusals,
            written,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serialisable")
        );
        return if found.refusals.is_empty() {
            Exit::Ok
        } else {
            Exit::Refused
        };
    }
    if !found.refusals.is_empty() {
        eprintln!(
            "error: {} resource(s) exist but cannot be adopted as {source} describes them; nothing was written:",
            found.refusals.len()
        );
        for r in &found.refusals {
            eprintln!(
                "  {}: {}
    help: {}",
                r.address, r.reason, r.help
            );
        }
        return Exit::Refused;
    }
    if found.imports.is_empty() {
        println!(
            "Nothing to adopt: none of the {} resource(s) the state lacks exists in AWS yet.",
            create.len()
        );
        return Exit::Ok;
    }
    println!(
        "Adopting {} resource(s) that exist in AWS; the next apply imports them instead of creating them:",
        found.imports.len()
    );
    let width = found
        .imports
        .iter()
        .map(|i| i.address.len())
        .max()
        .unwrap_or(0);
    for i in &found.imports {
        println!("  {:<width$}  {}", i.address, i.id);
    }
    if !create.is_empty() {
        println!("Not found, so created by the next apply: {}", create.len());
    }
    println!(
        "Written to {}. Run `geoplan plan {source}` to see them imported, and what in them differs from the config.",
        file.display()
    );
    Exit::Ok
}

pub(super) async fn apply(
    args: ApplyArgs,
    operation: Operation,
    interrupts: Option<Interrupts>,
) -> Exit {
    let started = Instant::now();
    let run = &args.run;
    let progress = if run.quiet {
        Progress::Silent
    } else {
        Progress::Stderr
    };
    let prepared = match prepare(&run.common, progress, interrupts, run.json) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let mut timings = Timings::default();
    let summary = match deploy::plan(&prepared, operation, &mut timings).await {
        Ok(s) => s,
        Err(e) => {
            deploy::discard_plan(&prepared);
            if matches!(
                e,
                DeployError::Terraform(TerraformError::Interrupted { .. })
            ) {
                eprintln!("geoplan: interrupted while planning; nothing was changed");
            }
            return fail(&e, run.json);
        }
    };
    if !summary.has_changes() {
        deploy::discard_plan(&prepared);
        // Routing controls an earlier run created but could not turn on.
        if operation == Operation::Apply
            && let Err(e) = switch_on_new_routing_controls(&prepared, &summary).await
        {
            eprintln!("geoplan: ARC routing controls created earlier are still Off");
            print_chain(&e);
            return Exit::Failure;
        }
        print_outcome(run, &prepared, &summary, false, &timings, started);
        return Exit::Ok;
    }
    if !run.json {
        print_plan(&summary);
        if operation == Operation::Apply {
            print!(
                "{}{}",
                crate::cost::render_estimate(&crate::cost::estimate::estimate(&prepared.config)),
                render_residency(&prepared.config)
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
    note_routing_controls_to_turn_on(&prepared, &summary);
    if let Err(e) = deploy::apply(&prepared, &mut timings).await {
        let what = match &e {
            DeployError::Terraform(TerraformError::Interrupted { .. }) => Some("was interrupted"),
            DeployError::Terraform(TerraformError::Failed { .. }) => Some("stopped part-way"),
            // A lock held by another run: nothing was applied.
            _ => None,
        };
        if let Some(what) = what {
            eprintln!(
                "geoplan: the {} {what}; terraform saved the state of what it did. Run the same command again to converge.",
                verb(operation)
            );
        }
        return fail(&e, run.json);
    }
    if operation == Operation::Destroy {
        let _ = std::fs::remove_file(prepared.module_dir.join(ARC_PENDING));
    }
    if operation == Operation::Apply
        && let Err(e) = switch_on_new_routing_controls(&prepared, &summary).await
    {
        eprintln!(
            "geoplan: the apply succeeded, but its new ARC routing controls could not be turned on (they start Off, so their regions count as out of service); run the same command again to turn them on"
        );
        print_chain(&e);
        return Exit::Failure;
    }
    print_outcome(run, &prepared, &summary, true, &timings, started);
    Exit::Ok
}

/// With `switch = "arc"` or `"both"`: a routing control this apply creates (or
/// replaces) starts Off (ARC's rule), which would leave its region out of service; it
/// is turned On, all in one request, so that a rule "at least N On" sees them together.
/// Controls that existed are left as they are (Off may be a drain). The regions to turn
/// on are written down before the apply (`ARC_PENDING` in the module folder) and
/// crossed off only once they are On, so an apply that failed part-way, or whose
/// turn-on failed, turns them on when it is run again.
async fn switch_on_new_routing_controls(
    prepared: &deploy::Prepared,
    summary: &crate::deploy::terraform::PlanSummary,
) -> Result<(), crate::control::switches::SwitchError> {
    let pending_file = prepared.module_dir.join(ARC_PENDING);
    if !prepared.config.monitor.switch.has_arc() {
        let _ = std::fs::remove_file(&pending_file);
        return Ok(());
    }
    let earlier = pending_routing_controls(&pending_file);
    let now: std::collections::BTreeSet<String> =
        created_routing_controls(summary).into_iter().collect();
    if earlier.is_empty() && now.is_empty() {
        return Ok(());
    }
    let outputs = crate::deploy::outputs::arc(&prepared.config)
        .await
        .ok_or(crate::control::switches::SwitchError::NoArcOutput)?;
    let arc = crate::control::arc::ArcSwitches::for_cluster(
        &outputs.cluster_arn,
        outputs.routing_controls.clone(),
        prepared.endpoint_url.as_deref(),
        None,
    )
    .await?;
    let ident = |r: &String| crate::deploy::model::ident(r);
    let mut regions: Vec<String> = outputs
        .routing_controls
        .keys()
        .filter(|r| now.contains(&ident(r)) || earlier.contains(&ident(r)))
        .cloned()
        .collect();
    // An earlier run's controls are turned on only while every control is still Off:
    // once one is On, geoplan has run, and an Off one may be a drain since.
    let from_earlier: Vec<String> = regions
        .iter()
        .filter(|r| !now.contains(&ident(r)))
        .cloned()
        .collect();
    if !from_earlier.is_empty() {
        let mut all_off = true;
        for r in outputs.routing_controls.keys() {
            all_off &= matches!(arc.is_out(r).await, Ok(true));
        }
        if !all_off {
            eprintln!(
                "geoplan: warning: the ARC routing control(s) of {} were created by an earlier apply that could not turn them on; others are On since, so they are left as they are (Off may be a drain): `geoplan restore` them if they should serve",
                from_earlier.join(", ")
            );
            regions.retain(|r| !from_earlier.contains(r));
        }
    }
    if !regions.is_empty() {
        arc.turn_on(&regions).await?;
        eprintln!(
            "geoplan: turned on the new ARC routing control(s) of {} (a routing control starts Off)",
            regions.join(", ")
        );
    }
    let _ = std::fs::remove_file(&pending_file);
    Ok(())
}

/// Where the regions (as Terraform identifiers) whose new routing controls are still
/// to be turned on are kept between runs.
const ARC_PENDING: &str = ".geoplan-arc-pending";

/// The regions `file` lists (none when it does not exist).
fn pending_routing_controls(file: &std::path::Path) -> std::collections::BTreeSet<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The routing controls (by Terraform identifier) a plan creates or replaces.
fn created_routing_controls(summary: &crate::deploy::terraform::PlanSummary) -> Vec<String> {
    const CONTROL: &str = "aws_route53recoverycontrolconfig_routing_control";
    summary
        .changes
        .iter()
        .filter(|c| c.resource_type == CONTROL && matches!(c.action.as_str(), "create" | "replace"))
        .filter_map(|c| c.address.strip_prefix(&format!("{CONTROL}.")))
        .map(str::to_owned)
        .collect()
}

/// Writes down, before the apply, the routing controls it will create (see
/// `switch_on_new_routing_controls`).
fn note_routing_controls_to_turn_on(
    prepared: &deploy::Prepared,
    summary: &crate::deploy::terraform::PlanSummary,
) {
    let created = created_routing_controls(summary);
    if created.is_empty() {
        return;
    }
    let file = prepared.module_dir.join(ARC_PENDING);
    let mut all = pending_routing_controls(&file);
    all.extend(created);
    let text: String = all.into_iter().map(|r| r + "\n").collect();
    if let Err(e) = std::fs::write(&file, text) {
        eprintln!("geoplan: warning: cannot write {}: {e}", file.display());
    }
}

/// Where each table's data lives (every region holding a replica or, partitioned, an
/// independent table), with the residency rule it was checked against.
pub fn render_residency(config: &config::Config) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if config.tables.is_empty() {
        return out;
    }
    let _ = writeln!(out, "Where table data lives:");
    for t in &config.tables {
        // The same rule the model renders replicas by.
        let replicated = config.pattern.replicates_tables() && t.regions.len() > 1;
        let how = if config.pattern == config::Pattern::Partitioned {
            "independent tables in"
        } else if replicated {
            "replicated to"
        } else {
            "only in"
        };
        let rule = match &t.residency {
            Some(r) => format!("within residency [{}]", r.rules.join(", ")),
            None => "no residency rule".into(),
        };
        let _ = writeln!(out, "  {}: {how} {} ({rule})", t.name, t.regions.join(", "));
        let mut notes = Vec::new();
        match &t.encryption {
            config::Encryption::AwsOwned => {}
            config::Encryption::AwsManaged => {
                notes.push("encrypted with the AWS-managed key".to_owned())
            }
            config::Encryption::Kms(_) => {
                notes.push("encrypted with a customer-managed KMS key in each region".to_owned())
            }
        }
        match (replicated, t.stream) {
            (true, _) => {
                notes.push("stream NEW_AND_OLD_IMAGES (replication runs on it)".to_owned())
            }
            (false, Some(view)) => notes.push(format!("stream {}", view.as_str())),
            (false, None) => {}
        }
        if !notes.is_empty() {
            let _ = writeln!(out, "    {}", notes.join("; "));
        }
    }
    out
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
    let imports = match summary.imports {
        0 => String::new(),
        n => format!("{n} to import, "),
    };
    println!(
        "{what}: {imports}{} to add, {} to change, {} to destroy.",
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
            "{}{}",
            crate::cost::render_estimate(&crate::cost::estimate::estimate(&prepared.config)),
            render_residency(&prepared.config)
        );
    }
}

#[cfg(test)]
mod residency_tests {
    /// A config of `tests/fixtures/`, compiled.
    fn fixture(name: &str) -> crate::config::Config {
        let file = format!("{name}.toml");
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(&file),
        )
        .unwrap();
        let (config, d) = crate::config::compile(&file, &text, std::path::Path::new("/"));
        config.unwrap_or_else(|| panic!("{}", d.render(false)))
    }

    #[test]
    fn plan_says_how_each_table_is_encrypted_and_streamed() {
        let config = fixture("indexed-tables");
        assert_eq!(
            super::render_residency(&config),
            "Where table data lives:\n\
             \x20 orders: replicated to us-east-1, eu-west-1 (no residency rule)\n\
             \x20   encrypted with a customer-managed KMS key in each region; stream NEW_AND_OLD_IMAGES (replication runs on it)\n\
             \x20 stock: replicated to us-east-1, eu-west-1 (no residency rule)\n\
             \x20   encrypted with the AWS-managed key; stream NEW_AND_OLD_IMAGES (replication runs on it)\n\
             \x20 events: only in eu-west-1 (no residency rule)\n\
             \x20   stream NEW_IMAGE\n"
        );
    }

    #[test]
    fn plan_says_where_each_tables_data_lives() {
        let config = fixture("eu-resident-tables");
        assert_eq!(
            super::render_residency(&config),
            "Where table data lives:\n\
             \x20 accounts: independent tables in eu-west-1, eu-central-1 (within residency [gdpr])\n\
             \x20 sessions: independent tables in eu-central-1 (within residency [eu-central-*])\n"
        );
    }
}
