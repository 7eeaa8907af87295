//! Every validation rule, through one helper: a config text in, the issues it
//! yields out as `line:column severity field: message` lines.

use std::path::Path;

use super::*;

const BASE: &str = r#"
name = "shop"
pattern = "active-active"

[dns]
zone = "example.com"
record = "api.example.com"

[[region]]
name = "us-east-1"
endpoint = "203.0.113.10"

[[region]]
name = "eu-west-1"
endpoint = "203.0.113.20"
"#;

fn issues(text: &str) -> Vec<String> {
    let (_, d) = compile("regions.toml", text, Path::new("/base"));
    d.issues
        .iter()
        .map(|i| {
            let at = d.source.position(i.span.start);
            let sev = match i.severity {
                crate::config::diagnostic::Severity::Error => "error",
                crate::config::diagnostic::Severity::Warning => "warning",
            };
            format!("{}:{} {sev} {}: {}", at.line, at.column, i.field, i.message)
        })
        .collect()
}

fn check(text: &str, expect: &[&str]) {
    assert_eq!(issues(text), expect, "\n--- config ---\n{text}");
}

fn ok(text: &str) -> Config {
    let (config, d) = compile("regions.toml", text, Path::new("/base"));
    assert!(!d.has_errors(), "unexpected errors: {:?}", issues(text));
    config.expect("a config without errors")
}

#[test]
fn minimal_config_gets_defaults() {
    let c = ok(BASE);
    assert_eq!(c.pattern, Pattern::ActiveActive);
    assert_eq!(c.dns.ttl, 60);
    assert_eq!(c.dns.write_record, None);
    assert_eq!(
        c.regions[0].health,
        HealthCheckSettings {
            protocol: Protocol::Https,
            port: 443,
            path: Some("/healthz".into()),
            interval: 10,
            failure_threshold: 3,
        }
    );
    assert_eq!(c.terraform.dir, Path::new("/base/.geoplan/terraform"));
    assert_eq!(c.terraform.backend, Backend::Local);
    assert!(c.tables.is_empty());
}

#[test]
fn toml_syntax_error_is_located() {
    let got = issues("name = \"shop\"\npattern = \n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("2:11 error : invalid TOML"), "{got:?}");
}

#[test]
fn unknown_keys_suggest_the_near_one() {
    let text = BASE.replace(
        "zone = \"example.com\"",
        "zone = \"example.com\"\nttll = 30",
    ) + "[region.health]\nfailure_treshold = 2\n";
    check(
        &text,
        &[
            "7:1 error dns.ttll: unknown key `ttll` in `dns`",
            "18:1 error region[1].health.failure_treshold: unknown key `failure_treshold` in `region[1].health`",
        ],
    );
    let (_, d) = compile("regions.toml", &text, Path::new("/"));
    assert_eq!(d.issues[0].help.as_deref(), Some("did you mean `ttl`?"));
    assert_eq!(
        d.issues[1].help.as_deref(),
        Some("did you mean `failure_threshold`?")
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let text = r#"
name = "Shop!"
pattern = "active-pasive"

[dns]
zone = "example.com"
record = "api.example.org"
ttl = 100000

[[region]]
name = "us-east-9"
endpoint = "203.0.113.10"
[region.health]
protocol = "TCP"
path = "/x"
interval = 15
failure_threshold = 11

[[region]]
name = "us-east-9"
endpoint = "not an endpoint"
"#;
    check(
        text,
        &[
            "2:8 error name: invalid deployment name \"Shop!\"",
            "3:11 error pattern: unknown deployment pattern \"active-pasive\"",
            "7:10 error dns.record: `dns.record` \"api.example.org\" is outside the zone \"example.com\"",
            "8:7 error dns.ttl: `dns.ttl` must be between 0 and 86400, found 100000",
            "11:8 error region[0].name: unknown AWS region \"us-east-9\"",
            "15:8 error region[0].health.path: a TCP health check has no path",
            "16:12 error region[0].health.interval: health-check interval must be 10 or 30 seconds, found 15",
            "17:21 error region[0].health.failure_threshold: `region[0].health.failure_threshold` must be between 1 and 10, found 11",
            "20:8 error region[1].name: unknown AWS region \"us-east-9\"",
            "21:12 error region[1].endpoint: invalid endpoint \"not an endpoint\"",
        ],
    );
}

#[test]
fn regions_duplicate_and_too_few() {
    let dup = BASE.replace("name = \"eu-west-1\"", "name = \"us-east-1\"");
    let got = issues(&dup);
    assert_eq!(
        got,
        ["14:8 error region[1].name: region \"us-east-1\" is declared twice"]
    );
    let (_, d) = compile("regions.toml", &dup, Path::new("/"));
    assert_eq!(
        d.issues[0]
            .related
            .as_ref()
            .map(|r| d.source.position(r.start).line),
        Some(10)
    );

    let one = BASE
        .split("[[region]]\nname = \"eu-west-1\"")
        .next()
        .unwrap();
    check(
        one,
        &["9:1 error region: 1 region declared: geoplan needs at least two"],
    );
    check(
        &BASE.replace("[[region]]", "[[regions]]"),
        &[
            "1:1 error region: no regions declared: at least two `[[region]]` tables are needed",
            "9:3 error regions: unknown key `regions` at the top level",
        ],
    );
}

#[test]
fn primaries_per_pattern() {
    let ap = BASE.replace("active-active", "active-passive");
    check(
        &ap,
        &[
            "9:1 error region: the active-passive pattern needs exactly one region with `primary = true`, found none",
        ],
    );
    let two = ap
        .replace(
            "endpoint = \"203.0.113.10\"",
            "endpoint = \"203.0.113.10\"\nprimary = true",
        )
        .replace(
            "endpoint = \"203.0.113.20\"",
            "endpoint = \"203.0.113.20\"\nprimary = true",
        );
    check(
        &two,
        &[
            "17:11 error region.primary: the active-passive pattern needs exactly one primary region, found 2",
        ],
    );
    let one = ap.replace(
        "endpoint = \"203.0.113.10\"",
        "endpoint = \"203.0.113.10\"\nprimary = true",
    );
    assert!(ok(&one).regions[0].primary);
    let aa = BASE.replace(
        "endpoint = \"203.0.113.10\"",
        "endpoint = \"203.0.113.10\"\nprimary = true",
    );
    check(
        &aa,
        &[
            "12:11 warning region[0].primary: `primary` has no effect with the active-active pattern",
        ],
    );
}

#[test]
fn write_record_defaults_and_belongs_to_one_pattern() {
    let rlwg = BASE
        .replace("active-active", "read-local-write-global")
        .replace(
            "endpoint = \"203.0.113.10\"",
            "endpoint = \"203.0.113.10\"\nprimary = true",
        );
    assert_eq!(
        ok(&rlwg).dns.write_record.as_deref(),
        Some("write.api.example.com")
    );
    let misplaced = BASE.replace(
        "record = \"api.example.com\"",
        "record = \"api.example.com\"\nwrite_record = \"w.example.com\"",
    );
    check(
        &misplaced,
        &[
            "8:16 error dns.write_record: `dns.write_record` is only used by the read-local-write-global pattern",
        ],
    );
}

#[test]
fn endpoints_of_every_kind_and_one_record_type() {
    let v6 = BASE
        .replace("203.0.113.10", "2001:db8::1")
        .replace("203.0.113.20", "2001:db8::2");
    assert_eq!(ok(&v6).regions[0].endpoint.record_type(), "AAAA");
    let mixed = BASE.replace("203.0.113.20", "2001:db8::2");
    check(
        &mixed,
        &[
            "15:12 error region[1].endpoint: endpoint is an IPv6 address (AAAA) but region[0]'s is an IPv4 address (A)",
        ],
    );
    let alias = BASE.replace(
        "endpoint = \"203.0.113.20\"",
        "endpoint = { alias = \"lb-1.eu-west-1.elb.amazonaws.com\", zone_id = \"Z32O12XQLNTSW2\" }",
    );
    assert_eq!(
        ok(&alias).regions[1].endpoint,
        Endpoint::Alias {
            name: "lb-1.eu-west-1.elb.amazonaws.com".into(),
            zone_id: "Z32O12XQLNTSW2".into(),
        }
    );
    let hosts = BASE
        .replace("203.0.113.10", "a.example.net")
        .replace("203.0.113.20", "b.example.net");
    assert_eq!(
        ok(&hosts).regions[0].endpoint,
        Endpoint::Hostname("a.example.net".into())
    );
    let apex = hosts.replace("record = \"api.example.com\"", "record = \"example.com\"");
    check(
        &apex,
        &[
            "9:1 error dns.record: hostname endpoints need CNAME records, which cannot stand at the zone apex",
        ],
    );
}

const TABLE: &str = r#"
[[table]]
name = "users"
partition_key = { name = "user_id", type = "S" }
"#;

#[test]
fn tables_default_to_every_region() {
    let c = ok(&format!("{BASE}{TABLE}"));
    assert_eq!(c.tables[0].regions, ["us-east-1", "eu-west-1"]);
    assert_eq!(c.tables[0].billing, Billing::OnDemand);
}

#[test]
fn table_errors() {
    let text = format!(
        "{BASE}{TABLE}{}",
        r#"
[[table]]
name = "users"
partition_key = { name = "id", type = "X" }
sort_key = { name = "id", type = "S" }
billing = "provisioned"
regions = ["us-east-1", "ap-south-1", "us-east-1"]
"#
    );
    check(
        &text,
        &[
            "22:8 error table[1].name: table \"users\" is declared twice",
            "23:39 error table[1].partition_key.type: key type \"X\" is not S, N or B",
            "25:11 error table[1].read_capacity: provisioned billing needs `read_capacity`",
            "25:11 error table[1].write_capacity: provisioned billing needs `write_capacity`",
            "26:25 error table[1].regions[1]: region \"ap-south-1\" is not declared as a `[[region]]`",
            "26:39 error table[1].regions[2]: region \"us-east-1\" is listed twice",
        ],
    );
}

#[test]
fn capacity_only_with_provisioned_billing() {
    let text = format!("{BASE}{TABLE}read_capacity = 5\n");
    check(
        &text,
        &["20:17 error table[0].read_capacity: `read_capacity` needs `billing = \"provisioned\"`"],
    );
    let prov = format!(
        "{BASE}{TABLE}billing = \"provisioned\"\nread_capacity = 5\nwrite_capacity = 5\nautoscaling = {{ min_capacity = 10, max_capacity = 5 }}\n"
    );
    check(
        &prov,
        &["23:51 error table[0].autoscaling.max_capacity: max_capacity 5 is below min_capacity 10"],
    );
}

#[test]
fn partitioned_tables_live_in_one_region() {
    let p = BASE.replace("active-active", "partitioned");
    let many = format!("{p}{TABLE}regions = [\"us-east-1\", \"eu-west-1\"]\n");
    check(
        &many,
        &[
            "20:11 error table[0].regions: a partitioned table lives in one region, but this lists several",
        ],
    );
    let c = ok(&format!("{p}{TABLE}"));
    assert_eq!(
        c.tables[0].regions.len(),
        2,
        "omitting regions gives every region its own table"
    );
}

#[test]
fn single_region_global_table_warns() {
    let text = format!("{BASE}{TABLE}regions = [\"eu-west-1\"]\n");
    check(
        &text,
        &[
            "20:11 warning table[0].regions: table is in one region only (eu-west-1): it gets no replicas",
        ],
    );
}

#[test]
fn type_errors_name_the_expected_type() {
    let text = BASE.replace("ttl", "x").replace(
        "record = \"api.example.com\"",
        "record = \"api.example.com\"\nttl = \"60\"",
    );
    check(
        &text,
        &["8:7 error dns.ttl: `dns.ttl` must be an integer, found a string"],
    );
}

#[test]
fn terraform_and_aws_sections() {
    let text = format!(
        "{BASE}{}",
        r#"
[terraform]
dir = "out/tf"
plugin_mirror = "/opt/tf-plugins"
[terraform.backend.s3]
bucket = "state"
key = "shop.tfstate"
region = "eu-west-1"
dynamodb_table = "locks"

[aws]
endpoint_url = "http://127.0.0.1:4566/"
"#
    );
    let c = ok(&text);
    assert_eq!(c.terraform.dir, Path::new("/base/out/tf"));
    assert_eq!(
        c.terraform.plugin_mirror.as_deref(),
        Some(Path::new("/opt/tf-plugins"))
    );
    assert!(
        matches!(&c.terraform.backend, Backend::S3(s) if s.dynamodb_table.as_deref() == Some("locks"))
    );
    assert_eq!(c.aws.endpoint_url.as_deref(), Some("http://127.0.0.1:4566"));
    let bad = format!("{BASE}\n[aws]\nendpoint_url = \"localhost:4566\"\n");
    check(
        &bad,
        &[
            "18:16 error aws.endpoint_url: endpoint URL \"localhost:4566\" must start with http:// or https://",
        ],
    );
}

#[test]
fn rendering_shows_file_line_column_and_a_caret() {
    let text = BASE.replace("eu-west-1", "eu-wset-1");
    let (_, d) = compile("regions.toml", &text, Path::new("/"));
    let out = d.render(false);
    assert!(
        out.starts_with("regions.toml:14:8: error: unknown AWS region \"eu-wset-1\"\n"),
        "{out}"
    );
    assert!(out.contains("did you mean \"eu-west-1\"?"), "{out}");
    assert!(out.contains("not an AWS region"), "{out}");
    assert!(
        out.contains("·        ─────┬─────"),
        "a caret line under the value: {out}"
    );
    assert!(
        out.ends_with("regions.toml: 1 error, 0 warnings\n"),
        "{out}"
    );
}

#[test]
fn a_bad_value_does_not_hide_its_siblings_errors() {
    let text = BASE.replace(
        "endpoint = \"203.0.113.20\"",
        "endpoint = \"203.0.113.20\"\n[region.health]\nprotocol = 7\nport = 0",
    ) + "\n[[table]]\nname = \"users\"\npartition_key = { name = \"id\", type = \"S\" }\nbilling = \"reserved\"\nread_capacity = 0\n";
    check(
        &text,
        &[
            "17:12 error region[1].health.protocol: `region[1].health.protocol` must be a string, found an integer",
            "18:8 error region[1].health.port: `region[1].health.port` must be between 1 and 65535, found 0",
            "23:11 error table[0].billing: unknown billing mode \"reserved\"",
            "24:17 error table[0].read_capacity: `table[0].read_capacity` must be between 1 and 40000, found 0",
        ],
    );
}

#[test]
fn backend_names_paths_and_health_paths_follow_aws_rules() {
    let text = format!(
        "{BASE}\n[region.health]\npath = \"/a\\bb c\"\n\n[monitor]\nstate_dir = \"st\\u0000ate\"\n\n[terraform]\ndir = \"{}\"\n[terraform.backend.s3]\nbucket = \"My_Bucket\"\nkey = \"/state\\f.tfstate\"\nregion = \"eu-west-1\"\ndynamodb_table = \"locks!\"\n",
        "d".repeat(5000)
    );
    let got = issues(&text);
    let fields: Vec<&str> = got
        .iter()
        .map(|l| l.split(' ').nth(2).unwrap().trim_end_matches(':'))
        .collect();
    assert_eq!(
        fields,
        [
            "region[1].health.path",
            "monitor.state_dir",
            "terraform.dir",
            "terraform.backend.s3.bucket",
            "terraform.backend.s3.key",
            "terraform.backend.s3.dynamodb_table",
        ],
        "{got:#?}"
    );
    assert!(
        got[1].ends_with("path holds the control character '\\0'"),
        "{got:#?}"
    );
    assert!(got[2].ends_with("path is 5000 bytes; at most 4096"));
    assert!(got[3].ends_with(
        "S3 bucket name \"My_Bucket\" may hold only lower-case letters, digits, dots and hyphens, not 'M'"
    ));
    assert!(
        got[4].ends_with("S3 key \"/state\\u{c}.tfstate\" must not start or end with `/`"),
        "{got:#?}"
    );
    for (bucket, why) in [
        ("ab", "must be 3 to 63 characters"),
        ("-abc", "must begin and end with a letter or digit"),
        ("a..b", "must not hold two dots in a row"),
        ("192.168.1.1", "must not look like an IP address"),
        ("xn--abc", "uses a prefix or suffix AWS reserves"),
    ] {
        let text = format!(
            "{BASE}\n[terraform.backend.s3]\nbucket = \"{bucket}\"\nkey = \"k\"\nregion = \"eu-west-1\"\n"
        );
        let got = issues(&text);
        assert!(
            got.len() == 1 && got[0].ends_with(why),
            "{bucket}: {got:#?}"
        );
    }
    ok(&format!(
        "{BASE}\n[terraform.backend.s3]\nbucket = \"my-org.state-1\"\nkey = \"geoplan/shop.tfstate\"\nregion = \"eu-west-1\"\ndynamodb_table = \"geoplan_locks-1.x\"\n"
    ));
}

#[test]
fn residency_ttl_table_class_and_replication_are_checked_all_at_once() {
    let text = format!(
        "{BASE}
[jurisdictions]
gdpr = [\"eu-*\", \"il-central-1\"]
moon = [\"lunar-1\"]

[[table]]
name = \"carts\"
partition_key = {{ name = \"id\", type = \"S\" }}
residency = [\"gdpr\"]
table_class = \"cold\"
replication = \"strong\"

[[table]]
name = \"orders\"
partition_key = {{ name = \"id\", type = \"S\" }}
residency = [\"eu-west-1\", \"galaxy\", \"ap-*-9\"]
ttl_attribute = \"\"
"
    );
    check(
        &text,
        &[
            "19:9 error jurisdictions.moon[0]: \"lunar-1\" matches no AWS region",
            "24:13 error table[0].residency: table \"carts\" would keep data in us-east-1, outside its residency [gdpr]",
            "25:15 error table[0].table_class: unknown table class \"cold\"",
            "26:15 error table[0].replication: multi-Region strong consistency is not available with the AWS provider geoplan renders for",
            "31:27 error table[1].residency[1]: no jurisdiction named \"galaxy\"",
            "31:37 error table[1].residency[2]: \"ap-*-9\" matches no AWS region",
            "32:17 error table[1].ttl_attribute: the TTL attribute name must be 1 to 255 characters",
        ],
    );
    // Within its residency, with the options rendered as DynamoDB names them.
    let good = format!(
        "{BASE}
[jurisdictions]
americas_and_eu = [\"us-*\", \"eu-*\"]

[[table]]
name = \"carts\"
partition_key = {{ name = \"id\", type = \"S\" }}
residency = [\"americas_and_eu\"]
ttl_attribute = \"expires_at\"
table_class = \"infrequent-access\"
"
    );
    let c = ok(&good);
    let t = &c.tables[0];
    assert_eq!(t.ttl_attribute.as_deref(), Some("expires_at"));
    assert_eq!(t.table_class, TableClass::InfrequentAccess);
    let r = t.residency.as_ref().unwrap();
    assert!(r.allows("us-east-1") && r.allows("eu-west-1") && !r.allows("ap-south-1"));
}

#[test]
fn index_stream_limit_and_encryption_errors_are_all_reported_with_locations() {
    let text = format!(
        "{BASE}
[[table]]
name = \"orders\"
partition_key = {{ name = \"id\", type = \"S\" }}
stream = \"keys-only\"
max_read_request_units = 0
encryption = {{ kms_key = {{ \"us-east-1\" = \"arn:aws:kms:eu-west-1:111122223333:key/k1\", \"ap-south-1\" = \"arn:aws:kms:ap-south-1:111122223333:key/k2\" }} }}

[[table.global_index]]
name = \"by-sku\"
partition_key = {{ name = \"sku\", type = \"S\" }}
projection = {{ include = [] }}

[[table.global_index]]
name = \"by-sku\"
partition_key = {{ name = \"id\", type = \"N\" }}
read_capacity = 5

[[table.local_index]]
name = \"by-date\"
sort_key = {{ name = \"placed_at\", type = \"N\" }}
projection = \"some\"

[[table]]
name = \"stock\"
partition_key = {{ name = \"sku\", type = \"S\" }}
billing = \"provisioned\"
read_capacity = 5
write_capacity = 5
max_write_request_units = 10
encryption = \"aws-kms\"

[[table.global_index]]
name = \"by-warehouse\"
partition_key = {{ name = \"warehouse\", type = \"S\" }}
read_capacity = 5
"
    );
    check(
        &text,
        &[
            "20:10 error table[0].stream: a replicated table's stream is new-and-old-images, not keys-only",
            "21:26 error table[0].max_read_request_units: `table[0].max_read_request_units` must be between 1 and 40000000, found 0",
            "22:26 error table[0].encryption.kms_key: no KMS key for eu-west-1",
            "22:42 error table[0].encryption.kms_key.us-east-1: the key for us-east-1 is in eu-west-1",
            "22:87 error table[0].encryption.kms_key.ap-south-1: the table has no data in ap-south-1",
            "27:26 error table[0].global_index[0].projection.include: an `include` projection needs at least one attribute",
            "30:8 error table[0].global_index[1].name: the table has two indexes named \"by-sku\"",
            "31:17 error table[0].global_index[1].partition_key: attribute \"id\" is a key of type N here but S elsewhere",
            "32:17 error table[0].global_index[1].read_capacity: `read_capacity` needs the table's `billing = \"provisioned\"`",
            "34:1 error table[0].local_index[0]: a local index needs a table with a sort key",
            "37:14 error table[0].local_index[0].projection: unknown projection \"some\"",
            "45:27 error table[1].max_write_request_units: `max_write_request_units` caps on-demand throughput, but the table is provisioned",
            "46:14 error table[1].encryption: unknown encryption \"aws-kms\"",
            "48:1 error table[1].global_index[0].write_capacity: an index of a provisioned table needs `write_capacity`",
        ],
    );
}

#[test]
fn indexes_derive_the_attribute_definitions_and_options_compile() {
    let text = format!(
        "{BASE}
[[table]]
name = \"orders\"
partition_key = {{ name = \"customer\", type = \"S\" }}
sort_key = {{ name = \"placed_at\", type = \"N\" }}
max_read_request_units = 500
encryption = {{ kms_key = {{ \"us-east-1\" = \"arn:aws:kms:us-east-1:111122223333:key/k1\", \"eu-west-1\" = \"arn:aws:kms:eu-west-1:111122223333:alias/orders\" }} }}

[[table.global_index]]
name = \"by-status\"
partition_key = {{ name = \"status\", type = \"S\" }}
sort_key = {{ name = \"placed_at\", type = \"N\" }}
projection = {{ include = [\"total\", \"currency\"] }}

[[table.global_index]]
name = \"by-sku\"
partition_key = {{ name = \"sku\", type = \"S\" }}
projection = \"keys-only\"

[[table.local_index]]
name = \"by-total\"
sort_key = {{ name = \"total\", type = \"N\" }}

[[table]]
name = \"solo\"
partition_key = {{ name = \"id\", type = \"S\" }}
regions = [\"eu-west-1\"]
stream = \"new-image\"
encryption = \"aws-managed\"
"
    );
    let c = ok(&text);
    let t = &c.tables[0];
    let names: Vec<(&str, KeyType)> = t
        .attributes
        .iter()
        .map(|k| (k.name.as_str(), k.kind))
        .collect();
    assert_eq!(
        names,
        [
            ("customer", KeyType::S),
            ("placed_at", KeyType::N),
            ("status", KeyType::S),
            ("sku", KeyType::S),
            ("total", KeyType::N),
        ]
    );
    assert_eq!(
        t.global_indexes[0].projection,
        Projection::Include(vec!["total".into(), "currency".into()])
    );
    assert_eq!(t.global_indexes[1].projection, Projection::KeysOnly);
    assert_eq!(t.local_indexes[0].projection, Projection::All);
    assert_eq!(
        t.on_demand_limits,
        Some(OnDemandLimits {
            max_read_request_units: Some(500),
            max_write_request_units: None
        })
    );
    let Encryption::Kms(keys) = &t.encryption else {
        panic!("{:?}", t.encryption)
    };
    assert_eq!(keys.len(), 2);
    assert_eq!(t.stream, None);
    let solo = &c.tables[1];
    assert_eq!(
        (solo.stream, &solo.encryption),
        (Some(StreamView::NewImage), &Encryption::AwsManaged)
    );
}

#[test]
fn failback_defaults_and_limits() {
    let c = ok(BASE);
    assert_eq!(c.failback, FailbackSettings::default());
    assert_eq!(c.failback.max_replication_lag.as_secs(), 5);
    assert_eq!(c.failback.settle.as_secs(), 120);
    let c = ok(&format!(
        "{BASE}\n[failback]\nmax_replication_lag = \"2s\"\nsettle = \"30s\"\npoll = \"5s\"\n"
    ));
    assert_eq!(
        (
            c.failback.max_replication_lag.as_secs(),
            c.failback.settle.as_secs(),
            c.failback.poll.as_secs()
        ),
        (2, 30, 5)
    );
    check(
        &format!("{BASE}\n[failback]\nsettle = \"10ms\"\npoll = \"soon\"\nmax_lag = \"1s\"\n"),
        &[
            "18:10 error failback.settle: `failback.settle` must be at least 1s",
            "19:8 error failback.poll: `failback.poll` is not a duration: expected number at 0",
            "20:1 error failback.max_lag: unknown key `max_lag` in `failback`",
        ],
    );
}

#[test]
fn drill_defaults_and_errors() {
    let c = ok(BASE);
    assert_eq!(c.drill, DrillSettings::default());
    assert_eq!((c.drill.rto, c.drill.hold.as_secs()), (None, 60));
    let c = ok(&format!(
        "{BASE}\n[drill]\nrto = \"30s\"\nhold = \"0s\"\noutcome_url = \"https://api.example.com/health\"\nfailback_within = \"2m\"\n"
    ));
    assert_eq!(c.drill.rto, Some(std::time::Duration::from_secs(30)));
    assert_eq!(c.drill.hold, std::time::Duration::ZERO);
    assert_eq!(
        c.drill.outcome_url.as_deref(),
        Some("https://api.example.com/health")
    );
    assert_eq!(c.drill.failback_within.as_secs(), 120);
    check(
        &format!("{BASE}\n[drill]\nrto = \"0s\"\noutcome_url = \"ftp://x\"\n"),
        &[
            "18:7 error drill.rto: `drill.rto` must be at least 1ms",
            "19:15 error drill.outcome_url: `drill.outcome_url` is not an http:// or https:// URL",
        ],
    );
}
