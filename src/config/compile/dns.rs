//! The deployment's name and pattern, and `[dns]`: zone, record names, TTL.

use super::*;

impl Walker {
    pub(super) fn deployment_name(&mut self, v: &Value<'_>) -> Option<String> {
        let s = self.string(v, "name")?;
        let ok_chars = s
            .value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let ok_edges = !s.value.starts_with('-') && !s.value.ends_with('-');
        if s.value.is_empty() || s.value.len() > 32 || !ok_chars || !ok_edges {
            let issue = self.error(
                "name",
                s.span,
                format!("invalid deployment name {:?}", s.value),
                "not a valid name",
            );
            issue.help = Some(
                "use 1 to 32 characters of a-z, 0-9 and `-`, not starting or ending with `-`"
                    .into(),
            );
            return None;
        }
        Some(s.value)
    }

    pub(super) fn pattern(&mut self, v: &Value<'_>) -> Option<Pattern> {
        let s = self.string(v, "pattern")?;
        if let Some(p) = Pattern::ALL.into_iter().find(|p| p.as_str() == s.value) {
            return Some(p);
        }
        let names: Vec<&str> = Pattern::ALL.iter().map(|p| p.as_str()).collect();
        let issue = self.error(
            "pattern",
            s.span,
            format!("unknown deployment pattern {:?}", s.value),
            "unknown pattern",
        );
        issue.help = Some(match suggest::closest(&s.value, names.iter().copied()) {
            Some(near) => format!("did you mean \"{near}\"?"),
            None => format!("choose one of: {}", names.join(", ")),
        });
        None
    }

    pub(super) fn domain(&mut self, v: &Value<'_>, field: &str) -> Option<At<String>> {
        let s = self.string(v, field)?;
        let name = s.value.trim_end_matches('.').to_ascii_lowercase();
        if let Err(why) = check_domain(&name) {
            self.error(
                field,
                s.span.clone(),
                format!("`{field}` is not a valid DNS name: {why}"),
                why,
            );
            return None;
        }
        Some(At {
            value: name,
            span: s.span,
        })
    }

    pub(super) fn dns(
        &mut self,
        t: &DeTable<'_>,
        span: Range<usize>,
        pattern: Option<Pattern>,
    ) -> Option<Dns> {
        self.check_keys(t, "dns", DNS_KEYS);
        let zone = self
            .required(t, span.clone(), "dns", "zone")
            .and_then(|v| self.domain(v, "dns.zone"));
        let zone_id = self.optional(t, "dns", "zone_id", |w, v, field| {
            let s = w.string(v, field)?;
            let id = s.value.trim_start_matches("/hostedzone/").to_owned();
            if !id.is_empty()
                && id.len() <= 32
                && id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                Some(id)
            } else {
                let issue = w.error(
                    field,
                    s.span,
                    format!("invalid hosted zone id {:?}", s.value),
                    "not a zone id",
                );
                issue.help = Some("a hosted zone id looks like \"Z0123456789ABCDEFGHIJ\"".into());
                None
            }
        });
        let record = self
            .required(t, span.clone(), "dns", "record")
            .and_then(|v| self.domain(v, "dns.record"));
        if let (Some(zone), Some(record)) = (&zone, &record) {
            self.inside_zone(record, zone, "dns.record");
        }
        let write_record = self
            .optional(t, "dns", "write_record", |w, v, field| {
                let write = w.domain(v, field)?;
                if pattern.is_some_and(|p| p != Pattern::ReadLocalWriteGlobal) {
                    let issue = w.error(
                        field,
                        write.span.clone(),
                        "`dns.write_record` is only used by the read-local-write-global pattern",
                        "not used by this pattern",
                    );
                    issue.help =
                        Some("remove it, or set `pattern = \"read-local-write-global\"`".into());
                }
                if let Some(zone) = &zone {
                    w.inside_zone(&write, zone, field);
                }
                if record.as_ref().is_some_and(|r| r.value == write.value) {
                    w.error(
                        field,
                        write.span.clone(),
                        "`dns.write_record` must differ from `dns.record`",
                        "same as `record`",
                    );
                }
                Some(write.value)
            })
            .map(|write| write.or_else(|| record.as_ref().map(|r| format!("write.{}", r.value))));
        let ttl = self
            .optional(t, "dns", "ttl", |w, v, field| {
                let ttl = w.integer_in(v, field, 0..=86_400);
                if let Some(n) = ttl
                    && n > 300
                {
                    let issue = w.warn(
                        field,
                        v.span(),
                        format!("a TTL of {n} s keeps clients on a failed region for up to {n} s"),
                        "long TTL",
                    );
                    issue.help =
                        Some("AWS recommends 60 s for records behind health checks".into());
                }
                ttl
            })
            .map(|ttl| ttl.unwrap_or(60));
        let write_record = if pattern == Some(Pattern::ReadLocalWriteGlobal) {
            write_record?
        } else {
            None
        };
        Some(Dns {
            zone: zone?.value,
            zone_id: zone_id?,
            record: record?.value,
            write_record,
            ttl: ttl? as u32,
        })
    }

    pub(super) fn inside_zone(&mut self, name: &At<String>, zone: &At<String>, field: &str) {
        if name.value != zone.value && !name.value.ends_with(&format!(".{}", zone.value)) {
            let issue = self.error(
                field,
                name.span.clone(),
                format!(
                    "`{field}` \"{}\" is outside the zone \"{}\"",
                    name.value, zone.value
                ),
                "not inside `dns.zone`",
            );
            issue.help = Some(format!("use a name ending in \".{}\"", zone.value));
        }
    }

    /// A CNAME cannot sit at a zone apex, so hostname endpoints need a record below it.
    pub(super) fn apex_cname(
        &mut self,
        dns: &Dns,
        regions: &[Option<Region>],
        region_value: Option<&Value<'_>>,
    ) {
        let at_apex = dns.record == dns.zone;
        let uses_cname = regions
            .iter()
            .flatten()
            .any(|r| matches!(r.endpoint, Endpoint::Hostname(_)));
        if at_apex && uses_cname {
            let span = region_value.map_or(0..0, |v| v.span());
            let issue = self.error(
                "dns.record",
                span,
                "hostname endpoints need CNAME records, which cannot stand at the zone apex",
                "hostname endpoints",
            );
            issue.help =
                Some("use a record below the zone (e.g. \"api.<zone>\") or alias endpoints".into());
        }
    }
}

/// DNS name syntax as Route 53 accepts it (lower case here).
pub(super) fn check_domain(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name.len() > 253 {
        return Err("longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label");
        }
        if label.len() > 63 {
            return Err("a label is longer than 63 characters");
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err("only letters, digits, `-` and `_` are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label starts or ends with `-`");
        }
    }
    Ok(())
}
