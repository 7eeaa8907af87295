//! ARC routing controls as geoplan's switches (`[monitor] switch = "arc"`).
//!
//! Each region's switch is a Route 53 `RECOVERY_CONTROL` health check that reads a
//! routing control: On keeps the region in service, Off takes it out. Its state is read
//! and set on the cluster's five regional endpoints, ARC's data plane, so a flip needs
//! neither Route 53's control plane (us-east-1) nor ARC's (us-west-2). As AWS's ARC
//! guide prescribes ("Get and update routing control states using the API": "retry
//! ... with each of the five regional endpoints"), every call tries the endpoints in
//! turn, each with a short deadline of its own, starting from the last one that
//! answered.
//!
//! Setting a state is idempotent, so a call that got no answer is simply sent again to
//! the next endpoint. A routing control has no version: what fences a flip is its
//! deadline (the end of the actor's lease window; nothing is sent at or after it) and
//! ARC's own safety rule (at least `min_in_service` On, whoever asks); see
//! docs/ARCHITECTURE.md.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_route53recoverycluster as cluster;
use aws_sdk_route53recoverycluster::types::RoutingControlState;

use crate::control::clock::Moment;
use crate::control::switches::{FlipOutcome, SwitchError};

/// How long one endpoint may take to answer before the next one is tried. AWS's
/// endpoints answer in tens of milliseconds; a dark one costs this much.
pub const ENDPOINT_TIMEOUT: Duration = Duration::from_millis(800);

/// ARC's control-configuration API is served from us-west-2 only.
pub const CONTROL_CONFIG_REGION: &str = "us-west-2";

/// One of the cluster's regional endpoints.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub region: String,
    pub url: String,
    client: cluster::Client,
}

/// The cluster's endpoints and which routing control each switch check reads.
#[derive(Debug)]
pub struct ArcSwitches {
    endpoints: Vec<Endpoint>,
    /// The endpoint to try first: the last one that answered.
    first: AtomicUsize,
    /// Switch check id → routing control ARN.
    controls: BTreeMap<String, String>,
}

impl ArcSwitches {
    /// `checks` pairs each switch (the key flips name) with the RECOVERY_CONTROL check
    /// that reads its routing control (the switch itself with `switch = "arc"`).
    /// Finds, from those checks' `RoutingControlArn`, the cluster and its
    /// endpoints: Route 53's `GetHealthCheck`, then ARC's `DescribeRoutingControl`,
    /// `DescribeControlPanel` and `DescribeCluster` (start-up only: flips need none of
    /// these).
    pub async fn connect(
        route53: &aws_sdk_route53::Client,
        checks: &[(String, String)],
        endpoint_url: Option<&str>,
        app: Option<&str>,
    ) -> Result<ArcSwitches, SwitchError> {
        let mut controls = BTreeMap::new();
        for (key, id) in checks {
            let hc = route53
                .get_health_check()
                .health_check_id(id)
                .send()
                .await
                .map_err(|e| {
                    SwitchError::Api(crate::aws::explain("Route 53", "GetHealthCheck", &e))
                })?;
            let arn = hc
                .health_check()
                .and_then(|h| h.health_check_config())
                .and_then(|c| c.routing_control_arn())
                .ok_or_else(|| SwitchError::NotArc(id.clone()))?;
            controls.insert(key.clone(), arn.to_owned());
        }
        let first = controls
            .values()
            .next()
            .ok_or_else(|| SwitchError::NotFound(String::new()))?
            .clone();
        let sdk = crate::aws::sdk_config_for(CONTROL_CONFIG_REGION, endpoint_url, app).await;
        let config = aws_sdk_route53recoverycontrolconfig::Client::new(&sdk);
        let control = config
            .describe_routing_control()
            .routing_control_arn(&first)
            .send()
            .await
            .map_err(config_api("DescribeRoutingControl"))?;
        let panel = control
            .routing_control()
            .and_then(|c| c.control_panel_arn())
            .unwrap_or_default()
            .to_owned();
        let panel = config
            .describe_control_panel()
            .control_panel_arn(&panel)
            .send()
            .await
            .map_err(config_api("DescribeControlPanel"))?;
        let cluster_arn = panel
            .control_panel()
            .and_then(|p| p.cluster_arn())
            .unwrap_or_default()
            .to_owned();
        Self::for_cluster(&cluster_arn, controls, endpoint_url, app).await
    }

    /// The cluster's endpoints, from `DescribeCluster`; `controls` maps each switch
    /// check id (or any key) to its routing control.
    pub async fn for_cluster(
        cluster_arn: &str,
        controls: BTreeMap<String, String>,
        endpoint_url: Option<&str>,
        app: Option<&str>,
    ) -> Result<ArcSwitches, SwitchError> {
        let sdk = crate::aws::sdk_config_for(CONTROL_CONFIG_REGION, endpoint_url, app).await;
        let config = aws_sdk_route53recoverycontrolconfig::Client::new(&sdk);
        let described = config
            .describe_cluster()
            .cluster_arn(cluster_arn)
            .send()
            .await
            .map_err(config_api("DescribeCluster"))?;
        let mut endpoints = Vec::new();
        for e in described
            .cluster()
            .map(|c| c.cluster_endpoints())
            .unwrap_or_default()
        {
            let (Some(url), Some(region)) = (e.endpoint(), e.region()) else {
                continue;
            };
            endpoints.push(Endpoint::new(region, url, app).await);
        }
        if endpoints.is_empty() {
            return Err(SwitchError::NoEndpoints(cluster_arn.to_owned()));
        }
        Ok(ArcSwitches {
            endpoints,
            first: AtomicUsize::new(0),
            controls,
        })
    }

    /// Turns every routing control of `keys` On in one `UpdateRoutingControlStates`
    /// (so a safety rule sees them all at once), on the first endpoint that answers.
    /// For `geoplan apply`: a new routing control starts Off.
    pub async fn turn_on(&self, keys: &[String]) -> Result<(), SwitchError> {
        use aws_sdk_route53recoverycluster::types::UpdateRoutingControlStateEntry;
        let mut entries = Vec::new();
        for k in keys {
            entries.push(
                UpdateRoutingControlStateEntry::builder()
                    .routing_control_arn(self.control(k)?)
                    .routing_control_state(RoutingControlState::On)
                    .build()
                    .map_err(|e| SwitchError::Refused(e.to_string()))?,
            );
        }
        let mut last = None;
        for (i, e) in self.order() {
            let call = e
                .client
                .update_routing_control_states()
                .set_update_routing_control_state_entries(Some(entries.clone()))
                .send();
            match tokio::time::timeout(ENDPOINT_TIMEOUT * 4, call).await {
                Ok(Ok(_)) => {
                    self.first.store(i, Ordering::Relaxed);
                    return Ok(());
                }
                Ok(Err(err)) => {
                    let error = explain_arc_cluster("UpdateRoutingControlStates", &e.region, &err);
                    if err
                        .as_service_error()
                        .is_some_and(|s| s.is_conflict_exception())
                    {
                        // The refusal may be the rule's wait period after an attempt that
                        // landed unanswered, or after a change by someone else that
                        // already turned them on: the states tell.
                        if self.all_on(keys).await {
                            return Ok(());
                        }
                        return Err(SwitchError::Api(error));
                    }
                    last = Some(SwitchError::Api(error));
                }
                Err(_) => {
                    last = Some(SwitchError::TimedOut(format!(
                        "routing controls at {}",
                        e.url
                    )))
                }
            }
        }
        Err(last.unwrap_or(SwitchError::NotSent))
    }

    async fn all_on(&self, keys: &[String]) -> bool {
        for k in keys {
            if !matches!(self.is_out(k).await, Ok(false)) {
                return false;
            }
        }
        true
    }

    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    fn control(&self, switch_id: &str) -> Result<&str, SwitchError> {
        self.controls
            .get(switch_id)
            .map(String::as_str)
            .ok_or_else(|| SwitchError::NotArc(switch_id.to_owned()))
    }

    /// The endpoints in the order to try them: the last one that answered first.
    fn order(&self) -> impl Iterator<Item = (usize, &Endpoint)> {
        let n = self.endpoints.len();
        let first = self.first.load(Ordering::Relaxed) % n;
        (0..n).map(move |k| {
            let i = (first + k) % n;
            (i, &self.endpoints[i])
        })
    }

    /// Whether the switch is out (its routing control Off), read from the first
    /// endpoint that answers within `ENDPOINT_TIMEOUT`.
    pub async fn is_out(&self, switch_id: &str) -> Result<bool, SwitchError> {
        let arn = self.control(switch_id)?;
        let mut last = None;
        for (i, e) in self.order() {
            let call = e
                .client
                .get_routing_control_state()
                .routing_control_arn(arn)
                .send();
            match tokio::time::timeout(ENDPOINT_TIMEOUT, call).await {
                Ok(Ok(out)) => {
                    self.first.store(i, Ordering::Relaxed);
                    return Ok(*out.routing_control_state() == RoutingControlState::Off);
                }
                Ok(Err(err)) => {
                    let refused = err
                        .raw_response()
                        .is_some_and(|r| r.status().is_client_error())
                        && !err
                            .as_service_error()
                            .is_some_and(|s| s.is_throttling_exception());
                    let error = explain_arc_cluster("GetRoutingControlState", &e.region, &err);
                    if refused {
                        return Err(SwitchError::Api(error));
                    }
                    last = Some(SwitchError::Api(error));
                }
                Err(_) => last = Some(SwitchError::TimedOut(format!("{arn} at {}", e.url))),
            }
        }
        Err(last.unwrap_or_else(|| SwitchError::NoEndpoints(arn.to_owned())))
    }

    /// Sets the switch (`out`: Off) for the control loop: endpoints are tried in turn
    /// until one answers, each for at most `ENDPOINT_TIMEOUT`, and nothing is sent at or
    /// after `deadline`. A refusal (a safety rule's, with ARC's reason, or any other
    /// error of the caller's) did not land; an endpoint that gave no answer may have
    /// applied it, so the flip is unknown when no endpoint answered at all.
    pub async fn flip(&self, switch_id: &str, out: bool, deadline: Moment) -> FlipOutcome {
        let arn = match self.control(switch_id) {
            Ok(arn) => arn,
            Err(e) => {
                return FlipOutcome::NotLanded {
                    error: e.into(),
                    fenced: false,
                };
            }
        };
        let state = if out {
            RoutingControlState::Off
        } else {
            RoutingControlState::On
        };
        let mut maybe_sent = None;
        for (i, e) in self.order() {
            let left = deadline.since(Moment::now());
            if left.is_zero() {
                break;
            }
            let call = e
                .client
                .update_routing_control_state()
                .routing_control_arn(arn)
                .routing_control_state(state.clone())
                .send();
            match tokio::time::timeout(ENDPOINT_TIMEOUT.min(left), call).await {
                Ok(Ok(_)) => {
                    self.first.store(i, Ordering::Relaxed);
                    return FlipOutcome::Done { version: 0 };
                }
                Ok(Err(err)) => {
                    let service = err.as_service_error();
                    let conflict = service.is_some_and(|s| s.is_conflict_exception());
                    let retry_elsewhere = service.is_some_and(|s| {
                        s.is_throttling_exception()
                            || s.is_endpoint_temporarily_unavailable_exception()
                            || s.is_internal_server_exception()
                    });
                    let client_error = err
                        .raw_response()
                        .is_some_and(|r| r.status().is_client_error());
                    // After an attempt that may have landed, ARC's refusal may be
                    // the rule's wait period started by that very attempt: unknown, and
                    // a later read of the state tells.
                    if conflict && maybe_sent.is_some() {
                        return FlipOutcome::Unknown {
                            error: SwitchError::Api(explain_arc_cluster(
                                "UpdateRoutingControlState",
                                &e.region,
                                &err,
                            ))
                            .into(),
                        };
                    }
                    if conflict {
                        self.first.store(i, Ordering::Relaxed);
                        let reason =
                            service.and_then(|s| cluster::error::ProvideErrorMetadata::message(s));
                        return FlipOutcome::NotLanded {
                            error: SwitchError::Refused(
                                reason.unwrap_or("a safety rule refused it").to_owned(),
                            )
                            .into(),
                            fenced: false,
                        };
                    }
                    let error = explain_arc_cluster("UpdateRoutingControlState", &e.region, &err);
                    if client_error && !retry_elsewhere {
                        return FlipOutcome::NotLanded {
                            error: SwitchError::Api(error).into(),
                            fenced: false,
                        };
                    }
                    // A server error or a lost connection may hide a change; the next
                    // endpoint is asked the same (idempotent) thing.
                    maybe_sent = Some(SwitchError::Api(error));
                }
                Err(_) => maybe_sent = Some(SwitchError::NoAnswer),
            }
        }
        match maybe_sent {
            Some(error) => FlipOutcome::Unknown {
                error: error.into(),
            },
            None => FlipOutcome::NotLanded {
                error: SwitchError::NotSent.into(),
                fenced: false,
            },
        }
    }
}

impl Endpoint {
    async fn new(region: &str, url: &str, app: Option<&str>) -> Endpoint {
        // Each endpoint is its region's: requests are signed for it. The SDK does not
        // retry: the next endpoint is the retry.
        let sdk = crate::aws::sdk_config_for(region, Some(url), app).await;
        let config = cluster::config::Builder::from(&sdk)
            .retry_config(cluster::config::retry::RetryConfig::disabled())
            .build();
        Endpoint {
            region: region.to_owned(),
            url: url.to_owned(),
            client: cluster::Client::from_conf(config),
        }
    }
}

fn config_api<E, R>(op: &'static str) -> impl FnOnce(cluster::error::SdkError<E, R>) -> SwitchError
where
    E: cluster::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |e| SwitchError::Api(crate::aws::explain("ARC (control configuration)", op, &e))
}

fn explain_arc_cluster<E, R>(
    op: &str,
    region: &str,
    e: &cluster::error::SdkError<E, R>,
) -> crate::aws::CallError
where
    E: cluster::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    crate::aws::explain(&format!("ARC cluster endpoint {region}"), op, e)
}
