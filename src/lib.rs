//! geoplan: plan, apply and operate one service across several AWS regions.
//!
//! See docs/ARCHITECTURE.md for the map of modules.

pub mod api;
pub mod aws;
pub mod cli;
pub mod config;
pub mod controller;
pub mod cost;
pub mod deploy;
pub mod diagnostic;
pub mod failover;
pub mod health;
pub mod metrics;
pub mod model;
pub mod probe;
pub mod regions;
pub mod remote;
pub mod render;
pub mod routing;
pub mod serve;
pub mod store;
pub mod suggest;
pub mod switches;
pub mod terraform;
pub mod workspace;
