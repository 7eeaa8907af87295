//! geoplan's integration tests: one binary, a module per boundary.
//!
//! - `cli`: the built binary on good and broken configs (no AWS, no terraform).
//! - `golden`: rendered Terraform pinned per pattern; fmt-clean and valid.
//! - `emulator`: apply / re-apply / destroy of every example against the AWS
//!   emulator with the real terraform binary, read back through the AWS SDK.
//! - `bootstrap`: the hand-written remote-state module in terraform/.

mod api;
mod bootstrap;
mod cli;
mod cost;
mod emulator;
mod golden;
mod serve;
mod support;
