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
use crate::config::EventRetention as Retention;
use crate::control::controller::{Controller, ControllerError};
use crate::control::metrics::ControlMetrics;
use crate::control::probe::Beat;
use crate::control::status::Deployment;
use crate::control::watchdog::Watchdog;
use crate::cost::metrics::CostMetrics;
use crate::store::{Store, StoreError};
use crate::telemetry::Registry;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot start the controller")]
    Controller(#[from] ControllerError),
}

pub struct ServeOptions {
    pub endpoint_url: Option<String>,
    pub token: Option<Token>,
    /// Delays between webhook attempts (see `cost::monitor::default_backoff`).
    pub webhook_backoff: Vec<std::time::Duration>,
    /// Signs webhook bodies (from GEOPLAN_WEBHOOK_SECRET or `cost.webhook_secret_file`).
    pub webhook_secret: Option<crate::config::secret::Secret>,
    /// This instance's id among several (`--instance`, default the host name).
    pub instance: String,
}

/// Serves until `shutdown` completes. Takes its listener from the caller, so tests
/// bind port 0 and the binary binds the configured address.
pub async fn run(
    config: Config,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let mut store_dir = crate::store::dir_of(&config.monitor.state_dir, &config.name);
    if config.control.is_some() {
        // Several instances may share a working directory: each keeps its own store.
        store_dir = store_dir.join(&options.instance);
    }
    // Held until `run` returns: a second `serve` on this store exits at once.
    let _lock = crate::store::lock_dir(&store_dir)?;
    let store = Arc::new(Store::open(&store_dir, &config.name)?);
    let mut registry = Registry::default();
    let control_metrics = Arc::new(ControlMetrics::new(&mut registry));
    let cost_metrics = Arc::new(CostMetrics::new(&mut registry));
    let app = config.control.as_ref().map(|_| options.instance.as_str());
    let route53 = crate::aws::route53_for(options.endpoint_url.as_deref(), app).await;
    let cancel = CancellationToken::new();
    let addr = format!(
        "http://{}",
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    let (ha, coordinator) = match &config.control {
        Some(control) => {
            let tables = crate::control::coordinator::Tables::connect(
                &config.name,
                &control.regions,
                options.endpoint_url.as_deref(),
                app,
            )
            .await;
            let (verdicts_tx, verdicts_rx) = tokio::sync::watch::channel(Default::default());
            let (view_tx, view_rx) = tokio::sync::watch::channel(Default::default());
            let lease = crate::control::lease::Lease::new(
                options.instance.clone(),
                addr.clone(),
                control.regions.len(),
                control.lease,
            );
            // The start's wall clock orders this process's heartbeats after those of
            // an earlier process of the same instance.
            let incarnation = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64;
            let coordinator = crate::control::coordinator::Coordinator {
                tables: tables.clone(),
                cluster: crate::control::cluster::Cluster::new(
                    lease,
                    incarnation,
                    crate::control::clock::Moment::now(),
                ),
                verdicts: verdicts_rx,
                view: view_tx,
            };
            let ha = crate::control::controller::Ha {
                instance: options.instance.clone(),
                view: view_rx,
                verdicts: verdicts_tx,
                tables,
            };
            (Some(ha), Some(coordinator))
        }
        None => (None, None),
    };
    let controller = Controller::start(
        &config,
        route53,
        options.endpoint_url.as_deref(),
        app,
        store.clone(),
        control_metrics,
        ha,
    )
    .await?;
    // The coordinator releases the lease only once the controller (and every flip it
    // started) has stopped.
    let (controller_done, controller_stopped) = tokio::sync::oneshot::channel::<()>();
    let coordination = coordinator.map(|c| {
        tokio::spawn(c.run(cancel.clone(), async move {
            let _ = controller_stopped.await;
        }))
    });
    let ready = Arc::new(AtomicBool::new(false));

    let module = crate::deploy::model::build(&config, "regions.toml", None);
    let cost_latest: Option<crate::cost::monitor::Latest> =
        config.cost.as_ref().map(|_| Default::default());
    let targets = crate::control::probe::targets(&config);
    let loops = std::iter::once("controller".to_owned())
        .chain(targets.iter().map(|t| format!("prober {}", t.region)))
        .collect();
    let watchdog = Arc::new(Watchdog::new(
        loops,
        Watchdog::bound_for(config.monitor.probe_interval, config.monitor.probe_timeout),
    ));
    let (commands_tx, commands_rx) = mpsc::channel(16);
    let state = AppState {
        shared: controller.shared(),
        commands: commands_tx,
        store,
        metrics: Arc::new(registry),
        token: options.token,
        deployment: Arc::new(Deployment {
            name: config.name.clone(),
            pattern: config.pattern.as_str(),
            automatic: controller.policy().automatic,
            records: module.records,
            switch: config.monitor.switch.as_str(),
        }),
        ready: ready.clone(),
        cost: cost_latest.clone(),
        watchdog: watchdog.clone(),
    };

    let (probe_tx, probe_rx) = mpsc::channel(1024);
    let schedule = crate::control::probe::Schedule {
        interval: config.monitor.probe_interval,
        timeout: config.monitor.probe_timeout,
        fail_after: config.monitor.fail_after,
        confirm: config.monitor.confirm_probes,
    };
    let mut probers = crate::control::probe::spawn(
        targets,
        schedule,
        probe_tx,
        crate::control::probe::Beat {
            watchdog: watchdog.clone(),
            first: 1,
        },
        cancel.clone(),
    );
    let control = {
        let run = controller.run(
            probe_rx,
            commands_rx,
            Beat {
                watchdog: watchdog.clone(),
                first: 0,
            },
            cancel.clone(),
        );
        tokio::spawn(async move {
            run.await;
            let _ = controller_done.send(());
        })
    };
    let retention = tokio::spawn(prune_events(
        state.store.clone(),
        config.monitor.retention,
        cancel.clone(),
    ));
    let cost = cost_latest.map(|latest| {
        let monitor = crate::cost::monitor::CostMonitor {
            config: config.clone(),
            endpoint_url: options.endpoint_url.clone(),
            store: state.store.clone(),
            metrics: cost_metrics,
            latest,
            webhook_backoff: options.webhook_backoff.clone(),
            webhook_secret: options.webhook_secret.clone(),
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
    api::serve(listener, api::router(state), cancel.clone()).await;
    // The server ends only on cancellation; stop everything else and wait for it.
    cancel.cancel();
    while probers.join_next().await.is_some() {}
    let _ = control.await;
    if let Some(cost) = cost {
        let _ = cost.await;
    }
    let _ = retention.await;
    if let Some(c) = coordination {
        let _ = c.await;
    }
    Ok(())
}

/// Applies the event retention at start and every hour, off the async workers.
async fn prune_events(store: Arc<Store>, retention: Retention, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {
                let store = store.clone();
                let pruned = tokio::task::spawn_blocking(move || {
                    store.prune(retention, std::time::SystemTime::now())
                })
                .await;
                match pruned {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(events = n, "old events pruned"),
                    Ok(Err(e)) => tracing::error!(error = %e, "cannot prune events"),
                    Err(e) => tracing::error!(error = %e, "event pruning panicked"),
                }
            }
        }
    }
}
