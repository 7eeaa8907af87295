//! `geoplan serve`: wires the store, the controller, the probers and the API under
//! one cancellation token, and returns only when every task has stopped.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState, Token};
use crate::config::Config;
use crate::control::controller::{Controller, ControllerError};
use crate::control::metrics::Metrics;
use crate::control::status::Deployment;
use crate::control::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot start the controller")]
    Controller(#[from] ControllerError),
    #[error("the API server failed")]
    Server(#[source] std::io::Error),
}

pub struct ServeOptions {
    pub endpoint_url: Option<String>,
    pub token: Option<Token>,
    /// Delays between webhook attempts (see `cost::monitor::default_backoff`).
    pub webhook_backoff: Vec<std::time::Duration>,
}

/// Serves until `shutdown` completes. Takes its listener from the caller, so tests
/// bind port 0 and the binary binds the configured address.
pub async fn run(
    config: Config,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let store = Arc::new(Store::open(&config.monitor.state_dir)?);
    let metrics = Arc::new(Metrics::default());
    let route53 = crate::aws::route53(options.endpoint_url.as_deref()).await;
    let controller = Controller::start(&config, route53, store.clone(), metrics.clone()).await?;
    let cancel = CancellationToken::new();
    let ready = Arc::new(AtomicBool::new(false));

    let module = crate::deploy::model::build(&config, "regions.toml", None);
    let cost_latest: Option<crate::cost::monitor::Latest> =
        config.cost.as_ref().map(|_| Default::default());
    let (commands_tx, commands_rx) = mpsc::channel(16);
    let state = AppState {
        shared: controller.shared(),
        commands: commands_tx,
        store,
        metrics,
        token: options.token,
        deployment: Arc::new(Deployment {
            name: config.name.clone(),
            pattern: config.pattern.as_str(),
            automatic: controller.policy().automatic,
            records: module.records,
        }),
        ready: ready.clone(),
        cost: cost_latest.clone(),
    };

    let (probe_tx, probe_rx) = mpsc::channel(1024);
    let schedule = crate::control::probe::Schedule {
        interval: config.monitor.probe_interval,
        timeout: config.monitor.probe_timeout,
        fail_after: config.monitor.fail_after,
        confirm: config.monitor.confirm_probes,
    };
    let mut probers = crate::control::probe::spawn(
        crate::control::probe::targets(&config),
        schedule,
        probe_tx,
        cancel.clone(),
    );
    let control = tokio::spawn(controller.run(probe_rx, commands_rx, cancel.clone()));
    let cost = cost_latest.map(|latest| {
        let monitor = crate::cost::monitor::CostMonitor {
            config: config.clone(),
            endpoint_url: options.endpoint_url.clone(),
            store: state.store.clone(),
            metrics: state.metrics.clone(),
            latest,
            webhook_backoff: options.webhook_backoff.clone(),
        };
        tokio::spawn(monitor.run(cancel.clone()))
    });
    ready.store(true, Ordering::Release);
    tracing::info!(listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), deployment = %config.name, "control plane serving");

    let stop = cancel.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
    });
    let server = axum::serve(listener, api::router(state))
        .with_graceful_shutdown(cancel.clone().cancelled_owned())
        .await;
    // However the server ended, stop everything else and wait for it.
    cancel.cancel();
    while probers.join_next().await.is_some() {}
    let _ = control.await;
    if let Some(cost) = cost {
        let _ = cost.await;
    }
    server.map_err(ServeError::Server)
}
