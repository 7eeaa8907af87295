//! The control plane's cost monitor: polls Cost Explorer every `cost.poll`, keeps the
//! latest report for `GET /v1/cost` and the metrics, and raises one alert per budget
//! threshold per month — an event and a webhook POST, retried with backoff. A failing
//! webhook or Cost Explorer is recorded and retried next time; it never stops the loop.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::CostReport;
use crate::config::Config;
use crate::control::metrics::{Metrics, PairLabel};
use crate::control::store::Store;

/// The latest report, shared with the API. A std mutex: held only to swap a value.
pub type Latest = Arc<Mutex<Option<CostReport>>>;

pub struct CostMonitor {
    pub config: Config,
    pub endpoint_url: Option<String>,
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub latest: Latest,
    /// Delays between webhook attempts; the number of attempts is one more.
    pub webhook_backoff: Vec<Duration>,
}

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
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {
                    let now = SystemTime::now();
                    let month = super::budget::civil(now).0;
                    match super::from_explorer(&self.config, self.endpoint_url.as_deref(), month, now).await {
                        Ok(report) => {
                            self.metrics.count_cost_poll(true);
                            last_error = None;
                            self.publish(&report);
                            self.alert(&report, &http, &cancel).await;
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
        for p in &r.matrix.pairs {
            let label = PairLabel {
                from: p.from.clone(),
                to: p.to.clone(),
            };
            self.metrics.transfer_usd.get_or_create(&label).set(p.usd);
            self.metrics.transfer_gb.get_or_create(&label).set(p.gb);
        }
        if let Some(b) = &r.budget {
            self.metrics.budget_fraction.set(b.fraction);
        }
    }

    async fn alert(&self, r: &CostReport, http: &reqwest::Client, cancel: &CancellationToken) {
        let (Some(b), Some(settings)) = (&r.budget, &self.config.cost) else {
            return;
        };
        for threshold in &b.crossed {
            let now = SystemTime::now();
            match self
                .store
                .claim_alert(&b.month.to_string(), *threshold, now)
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "cannot record alert");
                    continue;
                }
            }
            let message = format!(
                "{}: cross-region spend ${:.2} has reached {:.0}% of the ${:.2} budget for {} (forecast ${:.2})",
                self.config.name,
                b.spend_usd,
                threshold * 100.0,
                b.budget_usd,
                b.month,
                b.forecast_usd
            );
            let _ = self.store.record(now, None, "budget", &message);
            let Some(url) = &settings.webhook else {
                continue;
            };
            let body = json!({
                "deployment": self.config.name,
                "month": b.month.to_string(),
                "threshold": threshold,
                "spend_usd": b.spend_usd,
                "budget_usd": b.budget_usd,
                "fraction": b.fraction,
                "forecast_usd": b.forecast_usd,
                "message": message,
            });
            if let Err(e) = self.deliver(http, url, &body, cancel).await {
                let _ = self.store.record(
                    SystemTime::now(),
                    None,
                    "webhook-failed",
                    &format!("alert at {:.0}% not delivered: {e}", threshold * 100.0),
                );
            }
        }
    }

    async fn deliver(
        &self,
        http: &reqwest::Client,
        url: &str,
        body: &serde_json::Value,
        cancel: &CancellationToken,
    ) -> Result<(), String> {
        let mut delays = self.webhook_backoff.iter();
        loop {
            let outcome = match http.post(url).json(body).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => format!("HTTP {}", r.status().as_u16()),
                Err(e) => e.to_string(),
            };
            tracing::warn!(error = %outcome, "webhook delivery failed");
            let Some(delay) = delays.next() else {
                return Err(outcome);
            };
            tokio::select! {
                _ = cancel.cancelled() => return Err(format!("{outcome}; shutting down")),
                _ = tokio::time::sleep(*delay) => {}
            }
        }
    }
}

/// Webhook retry delays: 1 s, 2 s, 4 s, 8 s, 16 s.
pub fn default_backoff() -> Vec<Duration> {
    (0..5).map(|i| Duration::from_secs(1 << i)).collect()
}
