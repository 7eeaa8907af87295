//! `[[region]]`: region codes, endpoints and their Route 53 health-check settings.

use super::*;

const PROTOCOLS: Choices<'static, Protocol> = Choices::new(
    "health-check protocol",
    &[
        ("HTTP", Protocol::Http),
        ("HTTPS", Protocol::Https),
        ("TCP", Protocol::Tcp),
    ],
)
.any_case()
.label("unknown protocol")
.help("choose HTTP, HTTPS or TCP");

impl Walker {
    pub(super) fn regions(
        &mut self,
        v: &Value<'_>,
        pattern: Option<Pattern>,
    ) -> Option<Vec<Option<Region>>> {
        let items = self.array(v, "region")?;
        let mut out = Vec::new();
        let mut seen: HashMap<String, Range<usize>> = HashMap::new();
        let mut primaries = Vec::new();
        let mut record_kind: Option<(String, &'static str, &'static str)> = None;
        for (i, item) in items.iter().enumerate() {
            let path = format!("region[{i}]");
            let Some(t) = self.table(item, &path) else {
                out.push(None);
                continue;
            };
            self.check_keys(t, &path, REGION_KEYS);
            let name = self
                .required(t, item.span(), &path, "name")
                .and_then(|v| self.region_code(v, &join(&path, "name")));
            if let Some(name) = &name {
                if let Some(first) = seen.get(&name.value) {
                    let first = first.clone();
                    let issue = self.error(
                        &join(&path, "name"),
                        name.span.clone(),
                        format!("region \"{}\" is declared twice", name.value),
                        "duplicate region",
                    );
                    issue.related = Some(first);
                } else {
                    seen.insert(name.value.clone(), name.span.clone());
                }
            }
            let primary = self
                .optional(t, &path, "primary", |w, p, field| {
                    let b = w.boolean(p, field);
                    if b == Some(true) {
                        primaries.push(p.span());
                        if pattern.is_some_and(|p| !p.needs_primary()) {
                            let pat = pattern.map(Pattern::as_str).unwrap_or_default();
                            w.warn(
                                field,
                                p.span(),
                                format!("`primary` has no effect with the {pat} pattern"),
                                "ignored",
                            );
                        }
                    }
                    b
                })
                .map(|b| b.unwrap_or(false));
            let endpoint = self
                .required(t, item.span(), &path, "endpoint")
                .and_then(|v| self.endpoint(v, &join(&path, "endpoint")));
            if let (Some(e), Some(ev)) = (&endpoint, get(t, "endpoint")) {
                let kind = describe_endpoint(e);
                match &record_kind {
                    None => record_kind = Some((path.clone(), e.record_type(), kind)),
                    Some((first, rtype, first_kind)) if *rtype != e.record_type() => {
                        let issue = self.error(
                            &join(&path, "endpoint"),
                            ev.span(),
                            format!(
                                "endpoint is {kind} ({}) but {first}'s is {first_kind} ({rtype})",
                                e.record_type()
                            ),
                            "different record type",
                        );
                        issue.help = Some("every region answers for the same name, so all endpoints need one record type: all IPv4 or aliases (A), all IPv6 (AAAA), or all hostnames (CNAME)".into());
                    }
                    Some(_) => {}
                }
            }
            let health = self
                .optional(t, &path, "health", |w, h, field| {
                    w.table(h, field).and_then(|ht| w.health(ht, field))
                })
                .map(|health| health.unwrap_or_else(|| default_health(None)));
            out.push((|| {
                Some(Region {
                    name: name?.value,
                    primary: primary?,
                    endpoint: endpoint?,
                    health: health?,
                })
            })());
        }
        if items.len() < 2 {
            let issue = self.error(
                "region",
                v.span(),
                format!(
                    "{} region declared: geoplan needs at least two",
                    items.len()
                ),
                "fewer than two regions",
            );
            issue.help = Some("add another `[[region]]` table".into());
        }
        if let Some(pattern) = pattern
            && pattern.needs_primary()
            && primaries.len() != 1
        {
            let p = pattern.as_str();
            if primaries.is_empty() {
                let issue = self.error(
                    "region",
                    v.span(),
                    format!(
                        "the {p} pattern needs exactly one region with `primary = true`, found none"
                    ),
                    "no primary region",
                );
                issue.help =
                    Some("set `primary = true` on the region that takes traffic first".into());
            } else {
                for span in primaries.iter().skip(1) {
                    let issue = self.error(
                        "region.primary",
                        span.clone(),
                        format!(
                            "the {p} pattern needs exactly one primary region, found {}",
                            primaries.len()
                        ),
                        "another primary",
                    );
                    issue.help = Some("keep `primary = true` on one region only".into());
                }
            }
        }
        Some(out)
    }

    pub(super) fn region_code(&mut self, v: &Value<'_>, field: &str) -> Option<At<String>> {
        let s = self.string(v, field)?;
        if regions::is_known(&s.value) {
            return Some(s);
        }
        let issue = self.error(
            field,
            s.span.clone(),
            format!("unknown AWS region {:?}", s.value),
            "not an AWS region",
        );
        issue.help = Some(match suggest::region(&s.value) {
            Some(near) => format!("did you mean \"{near}\"?"),
            None => "use a region code such as \"us-east-1\" or \"eu-west-1\"".into(),
        });
        None
    }

    pub(super) fn endpoint(&mut self, v: &Value<'_>, field: &str) -> Option<Endpoint> {
        if let DeValue::Table(t) = v.get_ref() {
            self.check_keys(t, field, ALIAS_KEYS);
            let alias = self
                .required(t, v.span(), field, "alias")
                .and_then(|a| self.domain(a, &join(field, "alias")));
            let zone_id = self
                .required(t, v.span(), field, "zone_id")
                .and_then(|z| self.string(z, &join(field, "zone_id")));
            return Some(Endpoint::Alias {
                name: alias?.value,
                zone_id: zone_id?.value,
            });
        }
        let s = self.string(v, field)?;
        if let Ok(ip) = s.value.parse::<Ipv4Addr>() {
            return Some(Endpoint::Ipv4(ip));
        }
        if let Ok(ip) = s.value.parse::<Ipv6Addr>() {
            return Some(Endpoint::Ipv6(ip));
        }
        let host = s.value.trim_end_matches('.').to_ascii_lowercase();
        let looks_numeric = host
            .split('.')
            .all(|l| l.chars().all(|c| c.is_ascii_digit()));
        match dns::check_domain(&host) {
            Ok(()) if !looks_numeric && host.contains('.') => Some(Endpoint::Hostname(host)),
            _ => {
                let issue = self.error(
                    field,
                    s.span,
                    format!("invalid endpoint {:?}", s.value),
                    "not an IP address or hostname",
                );
                issue.help = Some("use an IPv4 or IPv6 address, a hostname, or { alias = \"…\", zone_id = \"…\" }".into());
                None
            }
        }
    }

    pub(super) fn health(&mut self, t: &DeTable<'_>, path: &str) -> Option<HealthCheckSettings> {
        self.check_keys(t, path, HEALTH_KEYS);
        // Not `?` on it: a bad protocol must not hide the errors of the other keys.
        let protocol = self
            .optional(t, path, "protocol", |w, v, field| {
                let s = w.string(v, field)?;
                w.one_of(&s, field, &PROTOCOLS)
            })
            .map(|protocol| protocol.unwrap_or(Protocol::Https));
        let mut health = default_health(protocol);
        let mut ok = protocol.is_some();
        if let Some(v) = get(t, "port") {
            match self.integer_in(v, &join(path, "port"), 1..=65_535) {
                Some(p) => health.port = p as u16,
                None => ok = false,
            }
        }
        if let Some(v) = get(t, "path") {
            match self.string(v, &join(path, "path")) {
                Some(p) if protocol == Some(Protocol::Tcp) => {
                    let issue = self.error(
                        &join(path, "path"),
                        p.span,
                        "a TCP health check has no path",
                        "not used by TCP",
                    );
                    issue.help = Some("remove `path`, or use protocol HTTP or HTTPS".into());
                    ok = false;
                }
                // Route 53 takes at most 255 characters; it is an HTTP request target,
                // so printable ASCII with no spaces (anything else percent-encoded).
                Some(p)
                    if !p.value.starts_with('/')
                        || p.value.len() > 255
                        || !p.value.bytes().all(|b| b.is_ascii_graphic()) =>
                {
                    let issue = self.error(
                        &join(path, "path"),
                        p.span,
                        format!(
                            "health-check path {:?} must start with `/`, be at most 255 characters, and hold only printable ASCII without spaces",
                            p.value
                        ),
                        "invalid path",
                    );
                    issue.help = Some("percent-encode anything else, e.g. %20 for a space".into());
                    ok = false;
                }
                Some(p) => health.path = Some(p.value),
                None => ok = false,
            }
        }
        if let Some(v) = get(t, "interval") {
            match self.integer(v, &join(path, "interval")) {
                Some(n) if n.value == 10 || n.value == 30 => health.interval = n.value as u32,
                Some(n) => {
                    let issue = self.error(
                        &join(path, "interval"),
                        n.span,
                        format!(
                            "health-check interval must be 10 or 30 seconds, found {}",
                            n.value
                        ),
                        "Route 53 allows 10 or 30",
                    );
                    issue.help = Some(
                        "Route 53 fixes the interval at 10 s (fast) or 30 s (standard)".into(),
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        if let Some(v) = get(t, "failure_threshold") {
            match self.integer_in(v, &join(path, "failure_threshold"), 1..=10) {
                Some(n) => health.failure_threshold = n as u32,
                None => ok = false,
            }
        }
        ok.then_some(health)
    }
}

pub(super) fn default_health(protocol: Option<Protocol>) -> HealthCheckSettings {
    let protocol = protocol.unwrap_or(Protocol::Https);
    HealthCheckSettings {
        protocol,
        port: if protocol == Protocol::Http { 80 } else { 443 },
        path: (protocol != Protocol::Tcp).then(|| "/healthz".to_owned()),
        interval: 10,
        failure_threshold: 3,
    }
}

pub(super) fn describe_endpoint(e: &Endpoint) -> &'static str {
    match e {
        Endpoint::Ipv4(_) => "an IPv4 address",
        Endpoint::Ipv6(_) => "an IPv6 address",
        Endpoint::Hostname(_) => "a hostname",
        Endpoint::Alias { .. } => "an alias",
    }
}
