//! The control plane's logic: probing endpoints, folding probes into verdicts,
//! deciding failover, flipping the geoplan-owned switches, and remembering why.
//!
//! Pure: `verdict`, `quorum` (verdicts of several vantage points), `lease` (who may
//! act), `failover`, `failback` (the replication gate), `routing`, `status` (the
//! document), and the two sans-IO state
//! machines built on them, `cluster` (lease rounds and heartbeats) and `core` (the
//! controller's decisions and flip bookkeeping), which take `clock::Moment`s from their
//! callers. IO: `probe` (HTTP and TCP), `switches` (Route 53), `store` (switches and
//! intents in the SQLite store), `coordinator` (the cluster's DynamoDB driver),
//! `controller` (the core's driver), `replication` (the replicas and CloudWatch, for the
//! failback gate), `watchdog` (liveness of those loops). Nothing here
//! knows about HTTP serving or cost.

pub mod arc;
pub mod clock;
pub mod cluster;
pub mod controller;
pub mod coordinator;
pub mod core;
pub mod dns;
pub mod driver;
pub mod failback;
pub mod failover;
pub mod gate;
pub mod lease;
pub mod metrics;
pub mod probe;
pub mod quorum;
pub mod replication;
pub mod routing;
pub mod status;
pub mod store;
pub mod switches;
pub mod verdict;
pub mod watchdog;
