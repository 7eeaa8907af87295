//! geoplan: plan, apply and operate one service across several AWS regions.
//!
//! See docs/ARCHITECTURE.md for the map of modules.

pub mod aws;
pub mod cli;
pub mod config;
pub mod deploy;
pub mod diagnostic;
pub mod model;
pub mod regions;
pub mod render;
pub mod suggest;
pub mod terraform;
pub mod workspace;
