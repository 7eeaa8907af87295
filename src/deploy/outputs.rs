//! What an applied module's outputs say, read from the Terraform state: the ids of
//! the health checks geoplan created, per region.

use std::collections::BTreeMap;

/// The three checks of one region, by id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckIds {
    pub endpoint: String,
    pub switch: String,
    pub region: String,
    /// `switch = "both"`: the RECOVERY_CONTROL check beside the Route 53 switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
}

/// The checks as the module's Terraform outputs name them (`health_checks`), read from
/// the state with `terraform output` (no provider starts, no AWS call). `None` when the
/// module, terraform or the output is not there: then the checks are found by tag.
pub async fn health_checks(config: &crate::config::Config) -> Option<BTreeMap<String, CheckIds>> {
    let outputs = read(config).await?;
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
                control: id("control"),
            },
        );
    }
    (!out.is_empty()).then_some(out)
}

/// With `switch = "arc"`: the cluster and each region's routing control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArcOutputs {
    pub cluster_arn: String,
    /// Region → routing control ARN.
    pub routing_controls: BTreeMap<String, String>,
}

/// The `arc` output (`None` without one).
pub async fn arc(config: &crate::config::Config) -> Option<ArcOutputs> {
    let outputs = read(config).await?;
    let value = outputs.get("arc")?.get("value")?;
    Some(ArcOutputs {
        cluster_arn: value.get("cluster_arn")?.as_str()?.to_owned(),
        routing_controls: value
            .get("routing_controls")?
            .as_object()?
            .iter()
            .filter_map(|(r, arn)| Some((r.clone(), arn.as_str()?.to_owned())))
            .collect(),
    })
}

/// Every output of the applied module.
async fn read(
    config: &crate::config::Config,
) -> Option<serde_json::Map<String, serde_json::Value>> {
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
    outputs.as_object().cloned()
}
