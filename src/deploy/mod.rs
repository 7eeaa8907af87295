//! Plan and apply: config → desired state (`model`, pure) → rendered files (`render`,
//! pure) → module on disk (`workspace`) → `terraform` plan → apply of that exact plan.
//! This file is the one path every deploy command takes; the CLI adds prompts and
//! printing on top.

pub mod adopt;
pub mod model;
pub mod outputs;
pub mod render;
pub mod terraform;
pub mod workspace;

use std::path::{Path, PathBuf};

use crate::config::diagnostic::Diagnostics;
use crate::config::{self, Config, ConfigError};
use render::RenderError;
use terraform::{Operation, PlanSummary, Progress, Terraform, TerraformError, Timings};
use workspace::{CLI_CONFIG_FILE, WorkspaceError, WriteReport};

/// Settings that come from the command line or environment rather than the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// An emulator endpoint (`--endpoint-url` / `AWS_ENDPOINT_URL`); beats the config's.
    pub endpoint_url: Option<String>,
    /// A provider mirror (`--plugin-mirror` / `GEOPLAN_PLUGIN_MIRROR`); beats the config's.
    pub plugin_mirror: Option<PathBuf>,
    /// The terraform binary (`--terraform` / `GEOPLAN_TERRAFORM`); beats the config's.
    pub terraform: Option<PathBuf>,
    /// How long to wait for another geoplan in the module directory, and for
    /// Terraform's state lock (`--lock-timeout`).
    pub lock_timeout: std::time::Duration,
    /// Interrupts the caller receives, passed on to terraform one for one.
    pub interrupts: Option<tokio::sync::watch::Receiver<u32>>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Locked(#[from] workspace::LockError),
    #[error(transparent)]
    Terraform(#[from] TerraformError),
    #[error(transparent)]
    Aws(#[from] crate::aws::CallError),
}

/// A config loaded and its module rendered to disk, ready for terraform.
#[derive(Debug)]
pub struct Prepared {
    pub config: Config,
    /// Warnings found while compiling the config.
    pub diagnostics: Diagnostics,
    pub module_dir: PathBuf,
    pub endpoint_url: Option<String>,
    pub written: WriteReport,
    pub terraform: Terraform,
    /// Held for as long as this is alive.
    pub lock: workspace::ModuleLock,
    /// What the module wants, by natural key, for adopting what an interrupted apply
    /// left unrecorded.
    pub wanted: Vec<adopt::Wanted>,
    /// The existing hosted zone the config names, if any.
    pub existing_zone: Option<String>,
    /// Where the config came from, for generated-file headers.
    pub source: String,
}

/// Loads, validates and renders; writes the module. Touches neither terraform nor AWS.
pub fn prepare(
    config_path: &Path,
    overrides: &Overrides,
    progress: Progress,
) -> Result<Prepared, DeployError> {
    let loaded = config::load(config_path)?;
    let config = loaded.config;
    let endpoint_url = overrides
        .endpoint_url
        .clone()
        .or_else(|| config.aws.endpoint_url.clone());
    let source = config_path.file_name().map_or_else(
        || config_path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let module = model::build(&config, &source, endpoint_url.as_deref());
    let files = render::render(&module)?;
    let wanted = adopt::wanted(&module);
    let existing_zone = config.dns.zone_id.clone();
    let mirror = overrides
        .plugin_mirror
        .clone()
        .or_else(|| config.terraform.plugin_mirror.clone());
    let cli_config = mirror
        .as_ref()
        .map(|m| render::cli_config(&absolute(m).display().to_string()));
    let module_dir = absolute(&config.terraform.dir);
    let lock = workspace::lock_module(&module_dir, overrides.lock_timeout)?;
    let written = workspace::write_module(&module_dir, &files, cli_config.as_deref())?;
    let binary = overrides
        .terraform
        .clone()
        .or_else(|| config.terraform.binary.clone())
        .unwrap_or_else(|| "terraform".into());
    let terraform = Terraform {
        binary: terraform::resolve_binary(&binary),
        dir: module_dir.clone(),
        cli_config: mirror.map(|_| module_dir.join(CLI_CONFIG_FILE)),
        progress,
        lock_timeout: overrides.lock_timeout,
        interrupts: overrides.interrupts.clone(),
        emulator: endpoint_url.is_some(),
    };
    Ok(Prepared {
        config,
        diagnostics: loaded.diagnostics,
        module_dir,
        endpoint_url,
        written,
        terraform,
        lock,
        wanted,
        existing_zone,
        source: module.source,
    })
}

/// `terraform init` then a plan of `operation` into the module's plan file. Before an
/// apply's plan, resources the state lacks but AWS has (an interrupted apply's) are
/// adopted through import blocks.
pub async fn plan(
    prepared: &Prepared,
    operation: Operation,
    timings: &mut Timings,
) -> Result<PlanSummary, DeployError> {
    prepared.terraform.init(timings).await?;
    let imports = prepared.module_dir.join(adopt::IMPORTS_FILE);
    let _ = std::fs::remove_file(&imports);
    if operation == Operation::Apply {
        adopt_leftovers(prepared, &imports, timings).await?;
    }
    Ok(prepared.terraform.plan(operation, timings).await?)
}

/// Writes import blocks for what AWS has and the state lacks, once the duplicates of
/// geoplan's own health checks are deleted. A failed lookup or deletion only warns: the
/// plan then shows what it would create, as it would have without this.
async fn adopt_leftovers(
    prepared: &Prepared,
    imports: &Path,
    timings: &mut Timings,
) -> Result<(), DeployError> {
    let local_state = prepared.module_dir.join("terraform.tfstate");
    if matches!(prepared.config.terraform.backend, config::Backend::Local) && !local_state.exists()
    {
        return Ok(()); // never applied here: nothing can have been left behind
    }
    let in_state = prepared.terraform.state_list(timings).await?;
    // What `geoplan adopt` already imports is not looked for twice.
    let in_state: std::collections::BTreeSet<String> = in_state
        .into_iter()
        .chain(adopt::adopted(&prepared.module_dir))
        .collect();
    let endpoint_url = prepared.endpoint_url.as_deref();
    let found = async {
        let found = adopt::find(
            &prepared.wanted,
            &in_state,
            prepared.existing_zone.as_deref(),
            endpoint_url,
            adopt::Mode::Leftovers,
        )
        .await?;
        adopt::delete_duplicate_checks(&found, endpoint_url).await?;
        Ok::<_, crate::aws::CallError>(found)
    };
    let found = match found.await {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "geoplan: warning: cannot look for resources an interrupted apply left unrecorded: {e}"
            );
            return Ok(());
        }
    };
    for id in &found.duplicate_checks {
        eprintln!("geoplan: deleted health check {id}, a duplicate left by an interrupted apply");
    }
    if found.imports.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = found
        .imports
        .iter()
        .map(|i| format!("{} ({})", i.address, i.id))
        .collect();
    eprintln!(
        "geoplan: adopting {} resource(s) that exist in AWS but are missing from the state (an interrupted apply): {}",
        found.imports.len(),
        names.join(", ")
    );
    std::fs::write(imports, adopt::render(&prepared.source, &found.imports)).map_err(|source| {
        WorkspaceError {
            dir: prepared.module_dir.clone(),
            source,
        }
    })?;
    Ok(())
}

/// Applies the plan file the last [`plan`] wrote; once applied, import blocks have
/// done their work and go.
pub async fn apply(prepared: &Prepared, timings: &mut Timings) -> Result<(), DeployError> {
    prepared.terraform.apply_plan(timings).await?;
    let _ = std::fs::remove_file(prepared.module_dir.join(adopt::IMPORTS_FILE));
    let _ = std::fs::remove_file(prepared.module_dir.join(adopt::ADOPT_FILE));
    Ok(())
}

/// `geoplan adopt`: looks in AWS for everything the config describes that the state
/// lacks, made by hand or by other tools, and (when nothing is refused) writes the
/// import blocks the next plan and apply use. Changes nothing in AWS but the duplicates
/// of geoplan's own health checks, which it deletes as every apply does. Returns what
/// it found and the addresses already in the state.
pub async fn adopt_existing(
    prepared: &Prepared,
    timings: &mut Timings,
) -> Result<(adopt::Found, std::collections::BTreeSet<String>), DeployError> {
    prepared.terraform.init(timings).await?;
    let in_state = prepared.terraform.state_list(timings).await?;
    let found = adopt::find(
        &prepared.wanted,
        &in_state,
        prepared.existing_zone.as_deref(),
        prepared.endpoint_url.as_deref(),
        adopt::Mode::Adopt,
    )
    .await?;
    adopt::delete_duplicate_checks(&found, prepared.endpoint_url.as_deref()).await?;
    let file = prepared.module_dir.join(adopt::ADOPT_FILE);
    let wrap = |source| WorkspaceError {
        dir: prepared.module_dir.clone(),
        source,
    };
    if found.refusals.is_empty() && !found.imports.is_empty() {
        std::fs::write(
            &file,
            adopt::render_adopted(&prepared.source, &found.imports),
        )
        .map_err(wrap)?;
    } else if found.imports.is_empty() {
        // Nothing (left) to adopt: an older adoption file would name stale ids.
        let _ = std::fs::remove_file(&file);
    }
    Ok((found, in_state))
}

/// Deletes an unapplied plan file (nothing to do, or declined), so no stale plan
/// lingers to be applied by hand later.
pub fn discard_plan(prepared: &Prepared) {
    let _ = std::fs::remove_file(prepared.module_dir.join(terraform::PLAN_FILE));
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}
