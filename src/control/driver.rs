//! What flips and reads the switches (`[monitor] switch`): Route 53's control plane,
//! ARC's data plane (`control::arc`), or both at once, with the rules that combine
//! two paths' outcomes.

use std::collections::BTreeMap;

use aws_sdk_route53::Client;

use crate::control::clock::Moment;
use crate::control::switches::{FlipOutcome, READ_TIMEOUT, SwitchError, flip, read};
use crate::deploy::outputs::CheckIds;

/// What flips the switches: Route 53's control plane, or ARC's data plane.
#[derive(Debug, Clone)]
pub enum Driver {
    /// `UpdateHealthCheck(Inverted)`, fenced on the check's version, paced by the gate.
    Route53(Client),
    /// The routing control each switch check reads, on the ARC cluster's endpoints.
    Arc(std::sync::Arc<crate::control::arc::ArcSwitches>),
    /// Both at once (`switch = "both"`), unfenced by versions like ARC: a take-out is
    /// done when either path confirmed it, a put-back only when both did; the flip
    /// ends when both calls have (each bounded by the deadline).
    Both(Client, std::sync::Arc<crate::control::arc::ArcSwitches>),
}

/// What a flip's driver returns: the outcome, and the path that confirmed it (`Both`
/// when both did).
pub struct Flipped {
    pub outcome: FlipOutcome,
    pub via: crate::config::SwitchPath,
}

impl Driver {
    /// The driver `[monitor] switch` asks for; with ARC, the cluster is found from the
    /// switch checks (see `ArcSwitches::connect`).
    pub async fn connect(
        config: &crate::config::Config,
        route53: &Client,
        checks: &BTreeMap<String, CheckIds>,
        endpoint_url: Option<&str>,
        app: Option<&str>,
    ) -> Result<Driver, SwitchError> {
        use crate::config::SwitchPath;
        let path = config.monitor.switch;
        if path == SwitchPath::Route53 {
            return Ok(Driver::Route53(route53.clone()));
        }
        let mut pairs = Vec::new();
        for c in checks.values() {
            let reads = match path {
                SwitchPath::Both => c
                    .control
                    .clone()
                    .ok_or_else(|| SwitchError::NoControlCheck(c.switch.clone()))?,
                _ => c.switch.clone(),
            };
            pairs.push((c.switch.clone(), reads));
        }
        let arc = std::sync::Arc::new(
            crate::control::arc::ArcSwitches::connect(route53, &pairs, endpoint_url, app).await?,
        );
        Ok(match path {
            SwitchPath::Both => Driver::Both(route53.clone(), arc),
            _ => Driver::Arc(arc),
        })
    }

    /// The switch (out?) and its version (0 for a routing control, which has none).
    /// Each call is bounded (Route 53's by `READ_TIMEOUT` once its turn at the gate has
    /// come, ARC's by its endpoints' deadlines), not the wait for the gate.
    pub async fn read(
        &self,
        route53: &Client,
        gate: Option<&crate::control::gate::Gate>,
        id: &str,
    ) -> Result<(bool, i64), SwitchError> {
        let route53_read = |client: Client| {
            let id = id.to_owned();
            async move {
                if let Some(g) = gate {
                    g.wait().await;
                }
                tokio::time::timeout(READ_TIMEOUT, read(&client, &id))
                    .await
                    .unwrap_or_else(|_| Err(SwitchError::TimedOut(id.clone())))
            }
        };
        match self {
            Driver::Route53(_) => route53_read(route53.clone()).await,
            Driver::Arc(arc) => Ok((arc.is_out(id).await?, 0)),
            // Out as soon as either path says so (the region's check needs both in); in
            // only when both say so.
            Driver::Both(client, arc) => {
                use futures_util::future::{Either, select};
                let r53 =
                    std::pin::pin!(async { route53_read(client.clone()).await.map(|(i, _)| i) });
                let arc = std::pin::pin!(arc.is_out(id));
                let (first, second) = match select(r53, arc).await {
                    Either::Left((a, _)) | Either::Right((a, _)) if matches!(a, Ok(true)) => {
                        return Ok((true, 0));
                    }
                    Either::Left((a, rest)) => (a, rest.await),
                    Either::Right((b, rest)) => (b, rest.await),
                };
                match (first, second) {
                    (Ok(true), _) | (_, Ok(true)) => Ok((true, 0)),
                    (Ok(false), Ok(false)) => Ok((false, 0)),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
        }
    }

    /// `flip` on Route 53, or the routing control on ARC (not paced by Route 53's
    /// gate, and fenced by the deadline alone), or both.
    pub async fn flip(
        &self,
        gate: &crate::control::gate::Gate,
        id: &str,
        out: bool,
        version: i64,
        deadline: Moment,
    ) -> Flipped {
        use crate::config::SwitchPath;
        let done = |outcome, via| Flipped { outcome, via };
        match self {
            Driver::Route53(client) => done(
                flip(client, gate, id, out, Some(version), deadline).await,
                SwitchPath::Route53,
            ),
            Driver::Arc(arc) => done(arc.flip(id, out, deadline).await, SwitchPath::Arc),
            Driver::Both(client, arc) => {
                // Both paths at once, each to the same deadline, and both waited for:
                // a call still out could land after a later flip of the region.
                let (a, b) = tokio::join!(
                    flip(client, gate, id, out, None, deadline),
                    arc.flip(id, out, deadline)
                );
                let via = match (&a, &b) {
                    (FlipOutcome::Done { .. }, FlipOutcome::Done { .. }) => SwitchPath::Both,
                    (FlipOutcome::Done { .. }, _) => SwitchPath::Route53,
                    (_, FlipOutcome::Done { .. }) => SwitchPath::Arc,
                    _ => SwitchPath::Both,
                };
                let outcome = if out { either_out(a, b) } else { both_in(a, b) };
                done(outcome, via)
            }
        }
    }
}

/// A take-out through two paths: unknown when either may have landed unseen (so the
/// core holds the region until a read after that call settles: it could land after a
/// later put-back); else done when either is; else not landed.
fn either_out(a: FlipOutcome, b: FlipOutcome) -> FlipOutcome {
    match (a, b) {
        (unknown @ FlipOutcome::Unknown { .. }, _) | (_, unknown @ FlipOutcome::Unknown { .. }) => {
            unknown
        }
        (done @ FlipOutcome::Done { .. }, _) | (_, done @ FlipOutcome::Done { .. }) => done,
        (not, _) => not,
    }
}

/// A put-back through two paths: done only when both are; else what the first that
/// is not done says (a refusal is the reply's; an unknown is settled by a read).
fn both_in(a: FlipOutcome, b: FlipOutcome) -> FlipOutcome {
    match (a, b) {
        (FlipOutcome::Done { version }, FlipOutcome::Done { .. }) => FlipOutcome::Done { version },
        (unknown @ FlipOutcome::Unknown { .. }, _) | (_, unknown @ FlipOutcome::Unknown { .. }) => {
            unknown
        }
        (FlipOutcome::Done { .. }, other) | (other, _) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done() -> FlipOutcome {
        FlipOutcome::Done { version: 0 }
    }
    fn unknown() -> FlipOutcome {
        FlipOutcome::Unknown {
            error: SwitchError::NoAnswer.into(),
        }
    }
    fn refused() -> FlipOutcome {
        FlipOutcome::NotLanded {
            error: SwitchError::Refused("rule".into()).into(),
            fenced: false,
        }
    }

    /// `switch = "both"`: a take-out is done when either path is; a put-back only when
    /// both are, and otherwise unknown before refused (a read settles an unknown).
    #[test]
    fn both_paths_combine_as_out_by_either_and_in_by_both() {
        for (a, b, out, back) in [
            (done(), done(), done(), done()),
            (done(), unknown(), unknown(), unknown()),
            (refused(), done(), done(), refused()),
            (unknown(), refused(), unknown(), unknown()),
            (refused(), refused(), refused(), refused()),
        ] {
            assert_eq!(either_out(a.clone(), b.clone()), out, "{a:?} {b:?}");
            assert_eq!(either_out(b.clone(), a.clone()), out, "{b:?} {a:?}");
            assert_eq!(both_in(a.clone(), b.clone()), back, "{a:?} {b:?}");
            assert_eq!(both_in(b.clone(), a.clone()), back, "{b:?} {a:?}");
        }
    }
}
