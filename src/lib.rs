//! geoplan: plan, apply and operate one service across several AWS regions.
//!
//! The three parts of the product, each a folder: `deploy` (regions.toml → Terraform →
//! apply), `control` (the control plane's logic: probes, verdicts, failover, switches,
//! store), `cost` (cross-region transfer spend). `config` compiles regions.toml for all
//! three; `api` and `cli` are the two ways in; `serve` wires the running service.
//! Dependencies point one way only (a test checks it):
//! `cli → serve → api → cost → control → deploy → config → aws`.
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
