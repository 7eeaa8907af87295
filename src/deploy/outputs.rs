//! What an applied module's outputs say, read from the Terraform state: the ids of
//! the health checks geoplan created, per region.

use std::collections::BTreeMap;

/// The three checks of one region, by id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckIds {
    pub endpoint: String,
    pub switch: String,
    pub region: String,
}

/// The checks as the module's Terraform outputs name them (`health_checks`), read from
/// the state with `terraform output` (no provider starts, no AWS call). `None` when the
/// module, terraform or the output is not there: then the checks are found by tag.
pub async fn health_checks(config: &crate::config::Config) -> Option<BTreeMap<String, CheckIds>> {
    use crate::deploy::terraform::{Progress, Terraform, Timings};
    let dir = &config.terraform.dir;
    if !dir.join("terraform.tfstate").exists()
        && matches!(config.terraform.backend, crate::config::Backend::Local)
    {
        return None;
    }
    let cli = dir.join(crate::deploy::workspace::CLI_CONFIG_FILE);
    let terraform = Terraform {
        binary: crate::deploy::terraform::resolve_binary(
            config
                .terraform
                .binary
                .as_deref()
                .unwrap_or(std::path::Path::new("terraform")),
        ),
        dir: dir.clone(),
        cli_config: cli.exists().then_some(cli),
        progress: Progress::Silent,
        lock_timeout: std::time::Duration::ZERO,
        interrupts: None,
        // The module was rendered for an emulator when one is configured.
        emulator: config.aws.endpoint_url.is_some()
            || std::env::var_os("AWS_ENDPOINT_URL").is_some(),
    };
    let outputs = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        terraform.outputs(&mut Timings::default()),
    )
    .await
    .ok()?
    .ok()?;
    let map = outputs.get("health_checks")?.get("value")?.as_object()?;
    let mut out = BTreeMap::new();
    for (region, ids) in map {
        let id = |k: &str| ids.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        out.insert(
            region.clone(),
            CheckIds {
                endpoint: id("endpoint")?,
                switch: id("switch")?,
                region: id("region")?,
            },
        );
    }
    (!out.is_empty()).then_some(out)
}
