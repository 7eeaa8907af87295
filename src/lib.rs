//! geoplan: plan, apply and operate one service across several AWS regions.
//!
//! The three parts of the product, each a folder: `deploy` (regions.toml → Terraform →
//! apply), `control` (the control plane's logic: probes, verdicts, failover, switches),
//! `cost` (cross-region transfer spend). `config` compiles regions.toml for all three;
//! `store` (the SQLite file) and `telemetry` (metrics and logs) serve control and cost
//! alike; `api` and `cli` are the two ways in; `serve` wires the running service.
//! Dependencies point inwards only, and never between the modules of one layer (a test
//! checks it): `cli → serve → api → {cost, control} → deploy → {store, telemetry} →
//! config → aws`.
//! See docs/ARCHITECTURE.md for the map of modules.

pub mod api;
pub mod aws;
pub mod cli;
pub mod config;
pub mod control;
pub mod cost;
pub mod deploy;
pub mod serve;
pub mod store;
pub mod telemetry;
