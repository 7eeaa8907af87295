//! The control plane's cost monitor: polls Cost Explorer every `cost.poll`, keeps the
//! latest report for `GET /v1/cost` and the metrics, and raises one alert per budget
//! threshold per month — an event, and a webhook POST delivered at least once: the
//! alert waits in the store's outbox until the receiver answers 2xx, retried with
//! backoff across polls and restarts, carrying a stable `dedup_key` and, with a secret,
//! an HMAC-SHA256 signature. A failing webhook or Cost Explorer never stops the loop.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::CostReport;
use crate::config::Config;
use crate::cost::metrics::{CostMetrics, PairLabel};
use crate::cost::outbox::AlertOutbox;
use crate::store::Store;

/// The latest report, shared with the API. A std mutex: held only to swap a value.
pub type Latest = Arc<Mutex<Option<CostReport>>>;

pub struct CostMonitor {
    pub config: Config,
    pub endpoint_url: Option<String>,
    pub store: Arc<Store>,
    pub metrics: Arc<CostMetrics>,
    pub latest: Latest,
    /// Delays after the 1st, 2nd, … failed webhook attempt; the last repeats for
    /// every later one (an alert is never given up).
    pub webhook_backoff: Vec<Duration>,
    /// Signs each webhook body (`X-Geoplan-Signature-256: sha256=<hex HMAC>`).
    pub webhook_secret: Option<crate::config::secret::Secret>,
}

/// How often the outbox is checked for alerts due for delivery.
const OUTBOX_EVERY: Duration = Duration::from_millis(500);

impl CostMonitor {
    pub async fn run(self, cancel: CancellationToken) {
        let Some(settings) = self.config.cost.clone() else {
            return;
        };
        let mut tick = tokio::time::interval(settings.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a TLS backend is compiled in");
        let mut last_error: Option<String> = None;
        let mut outbox = tokio::time::interval(OUTBOX_EVERY);
        outbox.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = outbox.tick() => self.deliver_due(&http).await,
                _ = tick.tick() => {
                    let now = SystemTime::now();
                    let month = super::budget::civil(now).0;
                    match super::from_explorer(&self.config, self.endpoint_url.as_deref(), month, now).await {
                        Ok(report) => {
                            self.metrics.count_cost_poll(true);
                            last_error = None;
                            self.publish(&report);
                            self.raise(&report);
                            self.deliver_due(&http).await;
                            *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
                        }
                        Err(e) => {
                            self.metrics.count_cost_poll(false);
                            let message = format!("cost poll failed: {e}");
                            tracing::warn!(error = %e, "cost poll failed");
                            if last_error.as_deref() != Some(message.as_str()) {
                                let _ = self.store.record(now, None, "cost-failed", &message);
                                last_error = Some(message);
                            }
                        }
                    }
                }
            }
        }
    }

    fn publish(&self, r: &CostReport) {
        let pairs: Vec<(PairLabel, f64, f64)> = r
            .matrix
            .pairs
            .iter()
            .map(|p| {
                let label = PairLabel {
                    from: p.from.clone(),
                    to: p.to.clone(),
                };
                (label, p.usd, p.gb)
            })
            .collect();
        self.metrics.set_pairs(&pairs);
        if let Some(b) = &r.budget {
            self.metrics.set_budget_fraction(b.fraction);
        }
    }

    /// Raises each newly crossed threshold: an event, and with a webhook an outbox row.
    fn raise(&self, r: &CostReport) {
        let (Some(b), Some(settings)) = (&r.budget, &self.config.cost) else {
            return;
        };
        for threshold in &b.crossed {
            let now = SystemTime::now();
            let month = b.month.to_string();
            let dedup_key = format!("{}/{month}/{threshold}", self.config.name);
            let message = format!(
                "{}: cross-region spend ${:.2} has reached {:.0}% of the ${:.2} budget for {} (forecast ${:.2})",
                self.config.name,
                b.spend_usd,
                threshold * 100.0,
                b.budget_usd,
                b.month,
                b.forecast_usd
            );
            let payload = settings.webhook.as_ref().map(|_| {
                json!({
                    "dedup_key": dedup_key,
                    "deployment": self.config.name,
                    "month": month,
                    "threshold": threshold,
                    "spend_usd": b.spend_usd,
                    "budget_usd": b.budget_usd,
                    "fraction": b.fraction,
                    "forecast_usd": b.forecast_usd,
                    "scope": r.scope,
                    "message": message,
                })
                .to_string()
            });
            match self
                .store
                .raise_alert(&month, *threshold, &dedup_key, payload.as_deref(), now)
            {
                Ok(true) => {
                    let _ = self.store.record(now, None, "budget", &message);
                }
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "cannot record alert"),
            }
        }
    }

    /// One attempt for every alert due now; a failure schedules the next attempt.
    async fn deliver_due(&self, http: &reqwest::Client) {
        let Some(url) = self.config.cost.as_ref().and_then(|c| c.webhook.as_ref()) else {
            return;
        };
        let due = match self.store.due_alerts(SystemTime::now()) {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the alert outbox");
                return;
            }
        };
        for alert in due {
            let Some(body) = &alert.payload else { continue };
            let mut post = http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("X-Geoplan-Dedup-Key", &alert.dedup_key)
                .body(body.clone());
            if let Some(secret) = &self.webhook_secret {
                post = post.header(
                    "X-Geoplan-Signature-256",
                    signature(secret.expose(), body.as_bytes()),
                );
            }
            let outcome = match post.send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
                Err(e) => Err(e.to_string()),
            };
            let now = SystemTime::now();
            let label = format!(
                "budget alert {} ({:.0}%)",
                alert.dedup_key,
                alert.threshold * 100.0
            );
            let recorded = match &outcome {
                Ok(()) => {
                    let _ = self.store.record(
                        now,
                        None,
                        "alert-delivered",
                        &format!("{label} delivered after {} attempt(s)", alert.attempts + 1),
                    );
                    self.store
                        .alert_attempt(&alert.month, alert.threshold, Ok(now))
                }
                Err(error) => {
                    let delay = self
                        .webhook_backoff
                        .get(alert.attempts as usize)
                        .or(self.webhook_backoff.last())
                        .copied()
                        .unwrap_or(Duration::from_secs(60));
                    tracing::warn!(
                        error,
                        dedup_key = alert.dedup_key,
                        "webhook delivery failed"
                    );
                    if alert.attempts == 0 {
                        // Once per alert: the outbox keeps trying, visible in /v1/cost.
                        let _ = self.store.record(
                            now,
                            None,
                            "webhook-failed",
                            &format!("{label} not delivered yet ({error}); retrying until the receiver answers 2xx"),
                        );
                    }
                    self.store.alert_attempt(
                        &alert.month,
                        alert.threshold,
                        Err((error, now + delay)),
                    )
                }
            };
            if let Err(e) = recorded {
                tracing::error!(error = %e, "cannot record a delivery attempt");
            }
        }
    }
}

/// `sha256=<hex>` of HMAC-SHA256(secret, body), as GitHub-style receivers verify.
pub fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Webhook retry delays: 1 s, 2 s, 4 s, … 256 s, then every 5 minutes until delivered.
pub fn default_backoff() -> Vec<Duration> {
    (0..9)
        .map(|i| Duration::from_secs(1 << i))
        .chain([Duration::from_secs(300)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_rfc_4231_test_vector() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
