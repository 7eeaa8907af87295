//! The control plane's logic: probing endpoints, folding probes into verdicts,
//! deciding failover, flipping the geoplan-owned switches, and remembering why.
//!
//! Pure: `verdict`, `quorum` (verdicts of several vantage points), `lease` (who may
//! act), `failover`, `routing`, `status` (the document). IO: `probe` (HTTP
//! and TCP), `switches` (Route 53), `store` (SQLite), `controller` (the loop that ties
//! them together), `watchdog` (liveness of those loops). Nothing here knows about HTTP
//! serving or cost.

pub mod controller;
pub mod coordinator;
pub mod failover;
pub mod gate;
pub mod lease;
pub mod metrics;
pub mod probe;
pub mod quorum;
pub mod routing;
pub mod status;
pub mod store;
pub mod switches;
pub mod verdict;
pub mod watchdog;
