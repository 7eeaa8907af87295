//! The geoplan-owned health checks in Route 53: found by their tags, read, and
//! flipped. Flipping is `UpdateHealthCheck(Inverted)` (a Route 53 control-plane call that
//! moves traffic without editing records), sent once and confirmed by Route 53's answer
//! or by reading the check back. Reads are retried by the SDK's standard policy (see
//! `aws::sdk_config`); a flip is not: a retry of an attempt that landed would look fenced.

use std::collections::BTreeMap;

use aws_sdk_route53::Client;
use aws_sdk_route53::error::SdkError;
use aws_sdk_route53::types::TagResourceType;

use crate::control::clock::Moment;
use crate::deploy::outputs::CheckIds;

#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    #[error(transparent)]
    Api(crate::aws::CallError),
    #[error("switch {id} did not read back as {}", if *.inverted { "inverted" } else { "not inverted" })]
    NotConfirmed { id: String, inverted: bool },
    #[error(
        "no geoplan health checks tagged geoplan:name = {0:?} in Route 53; run `geoplan apply` first"
    )]
    NotFound(String),
    /// A read of the check got no answer in time.
    #[error("reading health check {0} timed out")]
    TimedOut(String),
    /// The check changed since it was read (another actor flipped it): the flip is
    /// refused rather than overwrite a newer decision.
    #[error(
        "switch {0} changed since it was read (HealthCheckVersionMismatch): another actor flipped it"
    )]
    Fenced(String),
    /// A flip waited past its deadline (at the gate, or in a paused process).
    #[error("its deadline (the end of this actor's lease window) passed before it was sent")]
    NotSent,
    /// A flip's call got no answer before its deadline: it may have landed.
    #[error("no answer before the deadline")]
    NoAnswer,
    /// A read started after an unanswered flip settled shows it did not land.
    #[error("it did not land")]
    DidNotLand,
    /// ARC refused the change (a safety rule), with ARC's reason.
    #[error("ARC refused it: {0}")]
    Refused(String),
    /// `switch = "arc"`, but the switch check reads no routing control.
    #[error(
        "switch {0} is not a RECOVERY_CONTROL check with a routing control; run `geoplan apply` after setting switch = \"arc\""
    )]
    NotArc(String),
    /// `switch = "both"`, but a region has no RECOVERY_CONTROL check beside its switch.
    #[error(
        "switch {0} has no RECOVERY_CONTROL check beside it (geoplan:role = control); run `geoplan apply` after setting switch = \"both\""
    )]
    NoControlCheck(String),
    /// The configured zone is not in Route 53.
    #[error("no hosted zone named {0} in Route 53")]
    NoZone(String),
    /// The applied module has no `arc` output (its routing controls are unknown).
    #[error(
        "the applied module has no `arc` output; run `geoplan apply` with switch = \"arc\" or \"both\""
    )]
    NoArcOutput,
    /// The ARC cluster named no endpoints.
    #[error("ARC cluster {0} has no endpoints")]
    NoEndpoints(String),
}

/// Why a flip did not land, or may not have: Route 53's error or what the driver or a
/// later read found, kept whole (its sources too). Cheap to clone, so the sans-IO core
/// can pass it on to the events and to the operator's reply.
#[derive(Debug, Clone)]
pub struct FlipError(std::sync::Arc<SwitchError>);

impl FlipError {
    pub fn kind(&self) -> &SwitchError {
        &self.0
    }
}

impl From<SwitchError> for FlipError {
    fn from(e: SwitchError) -> FlipError {
        FlipError(std::sync::Arc::new(e))
    }
}

impl std::fmt::Display for FlipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for FlipError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Two errors are the same when they say the same (the SDK's errors have no equality).
impl PartialEq for FlipError {
    fn eq(&self, other: &FlipError) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for FlipError {}

fn api<E, R>(op: &'static str) -> impl FnOnce(SdkError<E, R>) -> SwitchError
where
    E: aws_sdk_route53::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |e| SwitchError::Api(crate::aws::explain("Route 53", op, &e))
}

/// Finds the deployment's checks by their `geoplan:*` tags, per region.
pub async fn discover(
    client: &Client,
    deployment: &str,
) -> Result<BTreeMap<String, CheckIds>, SwitchError> {
    discover_paced(client, deployment, None).await
}

/// `discover`, each request waiting its turn at `gate` when there is one.
pub async fn discover_paced(
    client: &Client,
    deployment: &str,
    gate: Option<&crate::control::gate::Gate>,
) -> Result<BTreeMap<String, CheckIds>, SwitchError> {
    let mut ids = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        if let Some(g) = gate {
            g.wait().await;
        }
        let page = client
            .list_health_checks()
            .set_marker(marker.clone())
            .max_items(1000)
            .send()
            .await
            .map_err(api("ListHealthChecks"))?;
        ids.extend(page.health_checks().iter().map(|h| h.id().to_owned()));
        match page.next_marker() {
            Some(m) if page.is_truncated() => marker = Some(m.to_owned()),
            _ => break,
        }
    }
    // The checks of one region found so far, by role.
    let mut found: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for chunk in ids.chunks(10) {
        if let Some(g) = gate {
            g.wait().await;
        }
        let tags = client
            .list_tags_for_resources()
            .resource_type(TagResourceType::Healthcheck)
            .set_resource_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(api("ListTagsForResources"))?;
        for set in tags.resource_tag_sets() {
            let get = |k: &str| {
                set.tags()
                    .iter()
                    .find(|t| t.key() == Some(k))
                    .and_then(|t| t.value())
                    .map(str::to_owned)
            };
            if get("geoplan:name").as_deref() != Some(deployment) {
                continue;
            }
            let (Some(region), Some(role), Some(id)) = (
                get("geoplan:region"),
                get("geoplan:role"),
                set.resource_id(),
            ) else {
                continue;
            };
            found.entry(region).or_default().insert(role, id.to_owned());
        }
    }
    let checks: BTreeMap<String, CheckIds> = found
        .into_iter()
        .filter_map(|(r, mut roles)| {
            Some((
                r,
                CheckIds {
                    endpoint: roles.remove("endpoint")?,
                    switch: roles.remove("switch")?,
                    region: roles.remove("region")?,
                    control: roles.remove("control"),
                },
            ))
        })
        .collect();
    if checks.is_empty() {
        return Err(SwitchError::NotFound(deployment.to_owned()));
    }
    Ok(checks)
}

pub async fn is_inverted(client: &Client, id: &str) -> Result<bool, SwitchError> {
    Ok(read(client, id).await?.0)
}

/// A switch's state and its `HealthCheckVersion`, which Route 53 bumps on every change.
pub async fn read(client: &Client, id: &str) -> Result<(bool, i64), SwitchError> {
    let hc = client
        .get_health_check()
        .health_check_id(id)
        .send()
        .await
        .map_err(api("GetHealthCheck"))?;
    let check = hc.health_check();
    Ok((
        check
            .and_then(|h| h.health_check_config())
            .and_then(|c| c.inverted())
            .unwrap_or(false),
        check.map_or(0, |h| h.health_check_version()),
    ))
}

/// Sets a switch and confirms it by reading it back; returns the check's new version.
/// With `version`, the update is fenced: Route 53 refuses it if the check changed
/// since that version was read, so an actor that lost its lease while paused cannot
/// overwrite the new actor's flip.
///
/// With a `gate`, each of the two requests waits its turn right before it is sent.
pub async fn set_inverted(
    client: &Client,
    id: &str,
    inverted: bool,
    version: Option<i64>,
    gate: Option<&crate::control::gate::Gate>,
) -> Result<i64, SwitchError> {
    if let Some(g) = gate {
        g.wait().await;
    }
    let result = client
        .update_health_check()
        .health_check_id(id)
        .inverted(inverted)
        .set_health_check_version(version)
        .send()
        .await;
    if let Err(e) = result {
        if e.as_service_error()
            .is_some_and(|s| s.is_health_check_version_mismatch())
        {
            return Err(SwitchError::Fenced(id.to_owned()));
        }
        return Err(api("UpdateHealthCheck")(e));
    }
    if let Some(g) = gate {
        g.wait().await;
    }
    let (now, version) = read(client, id).await?;
    if now != inverted {
        return Err(SwitchError::NotConfirmed {
            id: id.to_owned(),
            inverted,
        });
    }
    Ok(version)
}

/// How a flip ended, as its driver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlipOutcome {
    /// Route 53 took it and a read-back showed it, at this version.
    Done { version: i64 },
    /// It did not land: fenced (`HealthCheckVersionMismatch`), refused, or never sent
    /// because its deadline had passed.
    NotLanded { error: FlipError, fenced: bool },
    /// No answer (a timeout, a lost reply): it may have landed.
    Unknown { error: FlipError },
}

/// How long one read of a switch or of a check's status may take.
pub const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Flips a switch for the control loop, fenced on `version` (none with `switch =
/// "both"`, whose switches are unversioned) and bounded by `deadline`:
/// nothing is sent at or after the deadline (a flip that waited too long at the gate, or
/// in a paused process, is dropped), the call is made once (no SDK retry), and a call
/// still unanswered then is abandoned and its connection closed. Whether it then lands
/// is Route 53's affair: the control plane assumes it does so within a margin of the
/// deadline or not at all (docs/ARCHITECTURE.md). The outcome says whether the flip
/// landed, did not, or is unknown.
pub async fn flip(
    client: &Client,
    gate: &crate::control::gate::Gate,
    id: &str,
    inverted: bool,
    version: Option<i64>,
    deadline: Moment,
) -> FlipOutcome {
    let left = || deadline.since(Moment::now());
    let too_late = || FlipOutcome::NotLanded {
        error: SwitchError::NotSent.into(),
        fenced: false,
    };
    if tokio::time::timeout(left(), gate.wait()).await.is_err() || left().is_zero() {
        return too_late();
    }
    // One attempt only: a retry of an attempt that landed would come back
    // HealthCheckVersionMismatch and hide that it landed. A retry is the core's own
    // decision, from a fresh read.
    let call = client
        .update_health_check()
        .health_check_id(id)
        .inverted(inverted)
        .set_health_check_version(version)
        .customize()
        .config_override(
            aws_sdk_route53::config::Builder::default()
                .retry_config(aws_sdk_route53::config::retry::RetryConfig::disabled()),
        )
        .send();
    let answer = match tokio::time::timeout(left(), call).await {
        Err(_) => {
            return FlipOutcome::Unknown {
                error: SwitchError::NoAnswer.into(),
            };
        }
        Ok(answer) => answer,
    };
    match answer {
        Ok(out) => {
            let check = out.health_check();
            let now = check
                .and_then(|h| h.health_check_config())
                .and_then(|c| c.inverted())
                .unwrap_or(false);
            let version = check.map_or(0, |h| h.health_check_version());
            if now == inverted && version > 0 {
                return FlipOutcome::Done { version };
            }
            // The answer did not show the change: read it back (bounded: a read that
            // hangs leaves the flip unknown, not in flight for ever).
            gate.wait().await;
            let back = tokio::time::timeout(READ_TIMEOUT, read(client, id))
                .await
                .unwrap_or_else(|_| Err(SwitchError::TimedOut(id.to_owned())));
            match back {
                Ok((now, version)) if now == inverted => FlipOutcome::Done { version },
                Ok(_) => FlipOutcome::Unknown {
                    error: SwitchError::NotConfirmed {
                        id: id.to_owned(),
                        inverted,
                    }
                    .into(),
                },
                Err(e) => FlipOutcome::Unknown { error: e.into() },
            }
        }
        Err(e) => {
            let mismatch = e
                .as_service_error()
                .is_some_and(|s| s.is_health_check_version_mismatch());
            // Route 53 answered with an error of the caller's (4xx, throttling among
            // them): nothing changed. A server error or no response may hide a change.
            let refused = mismatch
                || e.raw_response()
                    .is_some_and(|r| r.status().is_client_error());
            let error: FlipError = if mismatch {
                SwitchError::Fenced(id.to_owned()).into()
            } else {
                api("UpdateHealthCheck")(e).into()
            };
            if refused {
                FlipOutcome::NotLanded {
                    error,
                    fenced: mismatch,
                }
            } else {
                FlipOutcome::Unknown { error }
            }
        }
    }
}

/// Route 53's own view of an endpoint check: healthy when more than 18% of its
/// checkers report success (AWS's rule). `None` when it has no observations yet.
pub async fn route53_status(client: &Client, id: &str) -> Result<Option<bool>, SwitchError> {
    let status = client
        .get_health_check_status()
        .health_check_id(id)
        .send()
        .await
        .map_err(api("GetHealthCheckStatus"))?;
    let obs = status.health_check_observations();
    if obs.is_empty() {
        return Ok(None);
    }
    let ok = obs
        .iter()
        .filter(|o| {
            o.status_report()
                .and_then(|r| r.status())
                .is_some_and(|s| s.starts_with("Success"))
        })
        .count();
    Ok(Some(ok as f64 / obs.len() as f64 > 0.18))
}
