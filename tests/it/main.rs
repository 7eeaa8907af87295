//! geoplan's integration tests: one binary, a module per boundary.
//!
//! - `adopt`: `geoplan adopt` imports what was made by hand, or refuses with the reason.
//! - `cli`: the built binary on good and broken configs (no AWS, no terraform).
//! - `golden`: rendered Terraform pinned per pattern; fmt-clean and valid.
//! - `dataplane`: the emulated Route 53 data plane (checkers, evaluation, DNS answers)
//!   against the developer guide, and a failover seen in the DNS answer.
//! - `drill`: `geoplan drill` against a running `serve`: a practice failover measured
//!   (switch, DNS answer, hold, restore), a missed objective, an aborting outcome probe.
//! - `emulator`: apply / re-apply / destroy of every example against the AWS
//!   emulator with the real terraform binary, read back through the AWS SDK.
//! - `failback`: the failback gate under `serve`, with moto's CloudWatch seeded:
//!   lag holds a region, missing data holds it, `--force` overrides it on the record.
//! - `bootstrap`: the hand-written remote-state module in terraform/.
//! - `api`: the HTTP API through its router, and one real server the CLI reads.
//! - `serve`: `geoplan serve` end to end: failover, failback, restarts, drain.
//! - `cost`: Cost Explorer and CUR files give one matrix; alerts from `serve`.
//! - `fuzz`: mutated configs and CUR files end in a result or a located error.
//! - `ha`: three `serve` instances: one actor, takeover, quorum of vantage points.
//! - `layout`: top-level modules use only the layers inside theirs, never a sibling;
//!   files in a folder have no import cycle; the architecture doc names every file.
//! - `localstack`: each LocalStack bug the compat layer fixes, stock next to fixed.
//! - `monitoring`: the alert rules (promtool) and the Grafana dashboard.
//! - `page`: the status page: its JS functions under node, the page in headless Chromium.
//! - `sim`: the HA control plane's sans-IO core in a deterministic simulator, seed by
//!   seed, with faults injected and the properties checked after every step.
//! - `support`: the harness (emulator per test, the binary in a temp dir).
//! - `tables`: indexes, TTL, limits and keys in every replica; index changes live.

mod adopt;
mod api;
mod arc;
mod bootstrap;
mod cli;
mod cost;
mod dataplane;
mod drill;
mod emulator;
mod failback;
mod fuzz;
mod golden;
mod ha;
mod layout;
mod localstack;
mod monitoring;
mod page;
mod serve;
mod sim;
mod support;
mod tables;
