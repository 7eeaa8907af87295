//! The validated shape of regions.toml (schema v1). Every value here has passed
//! validation: code that takes a `Config` never re-checks it.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[a-z0-9-]`, 1..32 characters; prefixes resource names and tags.
    pub name: String,
    pub pattern: Pattern,
    pub dns: Dns,
    /// In file order; at least two.
    pub regions: Vec<Region>,
    pub tables: Vec<Table>,
    pub terraform: TerraformSettings,
    pub aws: AwsSettings,
    pub monitor: MonitorSettings,
    /// `[cost]`; `None` when the section is absent.
    pub cost: Option<CostSettings>,
    /// `[control]`: several control-plane instances coordinated through DynamoDB;
    /// `None` runs one instance alone, as before.
    pub control: Option<ControlSettings>,
    /// `[failback]`: the replication gate a region passes before it takes traffic
    /// again (defaults when the section is absent).
    pub failback: FailbackSettings,
    /// `[drill]` (defaults when the section is absent).
    pub drill: DrillSettings,
}

/// `[drill]`: what `geoplan drill` holds a practice failover to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillSettings {
    /// The objective: from the drain request until traffic left the region (the DNS
    /// answer changed where observable, else the switch confirmed).
    pub rto: Option<std::time::Duration>,
    /// How long the region stays out before it is restored.
    pub hold: std::time::Duration,
    /// A URL that must stay healthy (2xx) while the region is out; a failure aborts the
    /// drill and restores the region.
    pub outcome_url: Option<String>,
    /// How long the restore may wait for the failback gate.
    pub failback_within: std::time::Duration,
}

impl Default for DrillSettings {
    fn default() -> DrillSettings {
        DrillSettings {
            rto: None,
            hold: std::time::Duration::from_secs(60),
            outcome_url: None,
            failback_within: std::time::Duration::from_secs(600),
        }
    }
}

/// `[failback]`: a region returns to service only once its replicas have caught up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailbackSettings {
    /// `ReplicationLatency` into the region must stay below this for `settle`.
    pub max_replication_lag: std::time::Duration,
    pub settle: std::time::Duration,
    /// How often `serve` reads the replicas and CloudWatch.
    pub poll: std::time::Duration,
}

impl Default for FailbackSettings {
    fn default() -> FailbackSettings {
        FailbackSettings {
            max_replication_lag: std::time::Duration::from_secs(5),
            settle: std::time::Duration::from_secs(120),
            poll: std::time::Duration::from_secs(60),
        }
    }
}

/// `[control]`: where the instances of the control plane coordinate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlSettings {
    /// An odd number of AWS regions, each holding one plain (not global) control table,
    /// so each region's conditional writes are strongly consistent there.
    pub regions: Vec<String>,
    /// How long a lease lasts without renewal.
    pub lease: std::time::Duration,
}

impl ControlSettings {
    /// The control table's name in each control region.
    pub fn table(deployment: &str) -> String {
        format!("{deployment}-geoplan-control")
    }
}

/// `[cost]`: the transfer budget and how it is watched.
#[derive(Debug, Clone, PartialEq)]
pub struct CostSettings {
    pub monthly_budget_usd: f64,
    /// Fractions of the budget that raise an alert, ascending.
    pub alert_at: Vec<f64>,
    pub webhook: Option<String>,
    /// The key that signs webhook bodies (GEOPLAN_WEBHOOK_SECRET wins).
    pub webhook_secret_file: Option<std::path::PathBuf>,
    /// How often the control plane asks Cost Explorer ($0.01 a call).
    pub poll: std::time::Duration,
    /// Whose spend counts: this deployment's (by its cost-allocation tag) or the account's.
    pub scope: CostScope,
    /// USD per GB overrides, per (from, to).
    pub price_per_gb: std::collections::BTreeMap<(String, String), f64>,
}

/// `[cost] scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CostScope {
    /// Usage carrying the cost-allocation tag `geoplan:name = <name>` (the default).
    #[default]
    Tag,
    /// Every usage in the account, whatever produced it.
    Account,
}

/// `[monitor]`: the control plane's probing and failover policy.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorSettings {
    pub listen: std::net::SocketAddr,
    pub probe_interval: std::time::Duration,
    pub probe_timeout: std::time::Duration,
    /// Consecutive failed probes before a region is declared down.
    pub fail_after: u32,
    /// Consecutive good probes before a down region is declared up again.
    pub recover_after: u32,
    /// Parallel probes that confirm a failure before it can take a region down.
    pub confirm_probes: u32,
    /// Minimum time between two automatic actions on one region.
    pub hold_down: std::time::Duration,
    /// Never take the last N in-service regions out.
    pub min_in_service: u32,
    /// false: report only; act on drain/restore.
    pub auto_failover: bool,
    /// Partitioned deployments keep a region's data only there, so they do not fail
    /// over automatically unless this is set.
    pub partitioned_failover: bool,
    /// How often switch states and Route 53's own statuses are re-read.
    pub resync_interval: std::time::Duration,
    /// Where the event store lives; relative to the config's directory.
    pub state_dir: PathBuf,
    /// A file holding the API token (GEOPLAN_API_TOKEN wins when set).
    pub token_file: Option<PathBuf>,
    /// How long and how many events the store keeps.
    pub retention: EventRetention,
    /// Route 53 requests per second the control plane allows itself (the account
    /// shares 5 among every tool).
    pub route53_rate: f64,
    /// What the control plane flips to take a region out.
    pub switch: SwitchPath,
    /// ARC's wait period on the "at least `min_in_service` on" rule: after a change, the
    /// rule's routing controls refuse changes for this long (AWS's default is 5 s).
    pub arc_wait_period: std::time::Duration,
}

/// `[monitor] switch`: the path a flip takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SwitchPath {
    /// A geoplan-owned Route 53 health check, flipped with `UpdateHealthCheck` (a
    /// control-plane call served from us-east-1).
    #[default]
    Route53,
    /// A Route 53 ARC routing control, flipped on the cluster's five regional
    /// data-plane endpoints.
    Arc,
    /// Both, each a child of the region's CALCULATED check: a take-out lands through
    /// whichever answers first; a put-back needs both.
    Both,
}

impl SwitchPath {
    pub fn as_str(self) -> &'static str {
        match self {
            SwitchPath::Route53 => "route53",
            SwitchPath::Arc => "arc",
            SwitchPath::Both => "both",
        }
    }

    /// Whether the deployment has ARC routing controls.
    pub fn has_arc(self) -> bool {
        matches!(self, SwitchPath::Arc | SwitchPath::Both)
    }
}

/// Events older than `max_age` are deleted, and the oldest beyond `max_events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRetention {
    pub max_age: std::time::Duration,
    pub max_events: u32,
}

impl MonitorSettings {
    pub fn defaults(base_dir: &std::path::Path) -> Self {
        MonitorSettings {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 7700)),
            probe_interval: std::time::Duration::from_secs(1),
            probe_timeout: std::time::Duration::from_millis(800),
            fail_after: 2,
            recover_after: 5,
            confirm_probes: 3,
            hold_down: std::time::Duration::from_secs(30),
            min_in_service: 1,
            auto_failover: true,
            partitioned_failover: false,
            resync_interval: std::time::Duration::from_secs(30),
            state_dir: base_dir.join(".geoplan/state"),
            token_file: None,
            route53_rate: 4.0,
            switch: SwitchPath::Route53,
            arc_wait_period: std::time::Duration::from_secs(5),
            retention: EventRetention {
                max_age: std::time::Duration::from_secs(90 * 86_400),
                max_events: 5_000_000,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    ActiveActive,
    ActivePassive,
    ReadLocalWriteGlobal,
    Partitioned,
}

impl Pattern {
    pub const ALL: [Pattern; 4] = [
        Pattern::ActiveActive,
        Pattern::ActivePassive,
        Pattern::ReadLocalWriteGlobal,
        Pattern::Partitioned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::ActiveActive => "active-active",
            Pattern::ActivePassive => "active-passive",
            Pattern::ReadLocalWriteGlobal => "read-local-write-global",
            Pattern::Partitioned => "partitioned",
        }
    }

    /// Patterns that route (some) traffic to one primary region.
    pub fn needs_primary(self) -> bool {
        matches!(self, Pattern::ActivePassive | Pattern::ReadLocalWriteGlobal)
    }

    /// Patterns whose tables are replicated as global tables.
    pub fn replicates_tables(self) -> bool {
        !matches!(self, Pattern::Partitioned)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns {
    /// Lower case, no trailing dot.
    pub zone: String,
    /// An existing hosted zone to use; `None` makes geoplan create the zone.
    pub zone_id: Option<String>,
    /// The name clients resolve; inside `zone`.
    pub record: String,
    /// Where writes go (read-local-write-global only).
    pub write_record: Option<String>,
    pub ttl: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    pub primary: bool,
    pub endpoint: Endpoint,
    pub health: HealthCheckSettings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    Hostname(String),
    /// A Route 53 alias target, e.g. a load balancer.
    Alias {
        name: String,
        zone_id: String,
    },
}

impl Endpoint {
    /// The DNS record type that points at this endpoint.
    pub fn record_type(&self) -> &'static str {
        match self {
            Endpoint::Ipv4(_) | Endpoint::Alias { .. } => "A",
            Endpoint::Ipv6(_) => "AAAA",
            Endpoint::Hostname(_) => "CNAME",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Http,
    Https,
    Tcp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "HTTP",
            Protocol::Https => "HTTPS",
            Protocol::Tcp => "TCP",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckSettings {
    pub protocol: Protocol,
    pub port: u16,
    /// `None` for TCP.
    pub path: Option<String>,
    /// Seconds: 10 or 30.
    pub interval: u32,
    /// 1..=10
    pub failure_threshold: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: String,
    pub partition_key: Key,
    pub sort_key: Option<Key>,
    pub billing: Billing,
    /// The regions holding the table, first the one it is created in. For the
    /// partitioned pattern each holds an independent table.
    pub regions: Vec<String>,
    pub point_in_time_recovery: bool,
    pub deletion_protection: bool,
    /// The attribute whose epoch-seconds value expires an item (DynamoDB TTL).
    pub ttl_attribute: Option<String>,
    pub table_class: TableClass,
    /// Where the table's data may live; checked against `regions`.
    pub residency: Option<Residency>,
    /// `[[table.global_index]]`, in config order.
    pub global_indexes: Vec<GlobalIndex>,
    /// `[[table.local_index]]`, in config order; fixed when the table is created.
    pub local_indexes: Vec<LocalIndex>,
    /// Every attribute used as a key by the table or an index, once each, in order of
    /// first use: the table's attribute definitions.
    pub attributes: Vec<Key>,
    /// `stream`: the stream's view type if one was asked for. A replicated table has a
    /// NEW_AND_OLD_IMAGES stream whatever this says (validated to agree).
    pub stream: Option<StreamView>,
    /// `max_read_request_units` / `max_write_request_units` (on-demand only).
    pub on_demand_limits: Option<OnDemandLimits>,
    pub encryption: Encryption,
    /// For estimates only: the table's total write rate.
    pub writes_per_second: Option<f64>,
    /// For estimates only: the average item size in KB.
    pub avg_item_kb: Option<f64>,
}

/// `[[table.global_index]]`: a second key, in every replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalIndex {
    pub name: String,
    pub partition_key: Key,
    pub sort_key: Option<Key>,
    pub projection: Projection,
    /// Read and write capacity: required for provisioned tables, refused otherwise.
    pub capacity: Option<(u32, u32)>,
}

/// `[[table.local_index]]`: the table's partition key with another sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalIndex {
    pub name: String,
    pub sort_key: Key,
    pub projection: Projection,
}

/// Which attributes an index copies besides the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

impl Projection {
    /// DynamoDB's `ProjectionType`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Projection::All => "ALL",
            Projection::KeysOnly => "KEYS_ONLY",
            Projection::Include(_) => "INCLUDE",
        }
    }
}

/// DynamoDB's `StreamViewType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamView {
    KeysOnly,
    NewImage,
    OldImage,
    NewAndOldImages,
}

impl StreamView {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamView::KeysOnly => "KEYS_ONLY",
            StreamView::NewImage => "NEW_IMAGE",
            StreamView::OldImage => "OLD_IMAGE",
            StreamView::NewAndOldImages => "NEW_AND_OLD_IMAGES",
        }
    }
}

/// On-demand throughput caps, in request units per second; at least one is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OnDemandLimits {
    pub max_read_request_units: Option<u32>,
    pub max_write_request_units: Option<u32>,
}

/// `[[table]] encryption`: who holds the key that encrypts the table at rest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Encryption {
    /// DynamoDB's own key, at no charge (DynamoDB's default).
    #[default]
    AwsOwned,
    /// The account's `aws/dynamodb` KMS key in each region.
    AwsManaged,
    /// A customer-managed KMS key per region holding the table: region → key ARN.
    Kms(std::collections::BTreeMap<String, String>),
}

/// `[[table]] table_class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum TableClass {
    #[default]
    #[serde(rename = "STANDARD")]
    Standard,
    #[serde(rename = "STANDARD_INFREQUENT_ACCESS")]
    InfrequentAccess,
}

/// `[[table]] residency`: the rules as written (region codes, globs, jurisdiction
/// names) and the region patterns they allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Residency {
    pub rules: Vec<String>,
    pub allowed: Vec<String>,
}

impl Residency {
    pub fn allows(&self, region: &str) -> bool {
        self.allowed
            .iter()
            .any(|p| crate::config::compile::residency::glob_match(p, region))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Key {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: KeyType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KeyType {
    S,
    N,
    B,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Billing {
    OnDemand,
    Provisioned {
        read_capacity: u32,
        write_capacity: u32,
        autoscaling: Option<Autoscaling>,
    },
}

/// Target tracking on read and write capacity, in every region of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Autoscaling {
    pub min_capacity: u32,
    pub max_capacity: u32,
    /// Percent, 20..=90.
    pub target_utilization: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerraformSettings {
    /// Where the root module is written; resolved against the config's directory.
    pub dir: PathBuf,
    /// The terraform binary; `None` finds `terraform` on PATH.
    pub binary: Option<PathBuf>,
    /// A provider filesystem mirror for offline `terraform init`.
    pub plugin_mirror: Option<PathBuf>,
    pub backend: Backend,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Local,
    S3(S3Backend),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct S3Backend {
    pub bucket: String,
    pub key: String,
    pub region: String,
    pub dynamodb_table: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// An emulator endpoint; never set for real AWS.
    pub endpoint_url: Option<String>,
}
