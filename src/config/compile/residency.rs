//! Data residency: `[jurisdictions]` (named lists of region codes and globs, defined
//! once) and each table's `residency`, checked against every region the table's data
//! lives in (replicas, or the partitioned pattern's per-region tables).

use super::*;

/// `*` matches any run of characters, everything else itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .any(|i| glob_match(tail, &rest[i..]))
        }
    }
}

/// A region code or glob that names at least one AWS region.
fn names_a_region(pattern: &str) -> bool {
    regions::REGIONS.iter().any(|r| glob_match(pattern, r))
}

impl Walker {
    /// `[jurisdictions]`: `name = ["eu-*", "il-central-1"]`. Returns the valid ones
    /// (so tables naming them are checked, not told they do not exist) and whether
    /// all were valid.
    pub(super) fn jurisdictions(&mut self, v: &Value<'_>) -> (HashMap<String, Vec<String>>, bool) {
        let Some(t) = self.table(v, "jurisdictions") else {
            return (HashMap::new(), false);
        };
        let mut out = HashMap::new();
        let mut ok = true;
        for (k, val) in t.iter() {
            let name: &str = k.get_ref().as_ref();
            let path = format!("jurisdictions.{name}");
            let Some(items) = self.array(val, &path) else {
                ok = false;
                continue;
            };
            let mut patterns = Vec::new();
            let mut valid = true;
            for (i, item) in items.iter().enumerate() {
                let field = format!("{path}[{i}]");
                match self.string(item, &field) {
                    Some(s) if names_a_region(&s.value) => patterns.push(s.value),
                    Some(s) => {
                        self.no_region(&field, s);
                        valid = false;
                    }
                    None => valid = false,
                }
            }
            if items.is_empty() {
                self.error(
                    &path,
                    val.span(),
                    "a jurisdiction needs at least one region",
                    "empty",
                );
                valid = false;
            }
            if valid {
                out.insert(name.to_owned(), patterns);
            } else {
                ok = false;
            }
        }
        (out, ok)
    }

    fn no_region(&mut self, field: &str, s: At<String>) {
        let issue = self.error(
            field,
            s.span,
            format!("{:?} matches no AWS region", s.value),
            "no such region",
        );
        issue.help = Some(
            match suggest::closest(&s.value, regions::REGIONS.iter().copied()) {
                Some(near) => format!("did you mean \"{near}\"? (globs such as \"eu-*\" work too)"),
                None => {
                    "write a region code such as \"eu-west-1\" or a glob such as \"eu-*\"".into()
                }
            },
        );
    }

    /// A table's `residency`: region codes, globs and jurisdiction names; every region
    /// in `regions` (where the table's data lives) must match one of them.
    pub(super) fn residency(
        &mut self,
        v: &Value<'_>,
        path: &str,
        table: Option<&str>,
        regions: Option<&[String]>,
        jurisdictions: &HashMap<String, Vec<String>>,
    ) -> Option<Residency> {
        let items = self.array(v, path)?;
        let mut rules = Vec::new();
        let mut allowed = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let field = format!("{path}[{i}]");
            let Some(s) = self.string(item, &field) else {
                ok = false;
                continue;
            };
            if let Some(patterns) = jurisdictions.get(&s.value) {
                allowed.extend(patterns.iter().cloned());
                rules.push(s.value);
            } else if names_a_region(&s.value) {
                allowed.push(s.value.clone());
                rules.push(s.value);
            } else if !s.value.contains('*') && !s.value.contains('-') {
                let issue = self.error(
                    &field,
                    s.span,
                    format!("no jurisdiction named {:?}", s.value),
                    "unknown jurisdiction",
                );
                issue.help = Some(if jurisdictions.is_empty() {
                    "define it once at the top: [jurisdictions] name = [\"eu-*\"]".into()
                } else {
                    let mut names: Vec<&str> = jurisdictions.keys().map(String::as_str).collect();
                    names.sort_unstable();
                    format!("defined jurisdictions: {}", names.join(", "))
                });
                ok = false;
            } else {
                self.no_region(&field, s);
                ok = false;
            }
        }
        if items.is_empty() {
            self.error(
                path,
                v.span(),
                "`residency` lists no region: the data could live nowhere",
                "empty",
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        let residency = Residency { rules, allowed };
        // Where the data would live against where it may.
        for region in regions.unwrap_or_default() {
            if !residency.allows(region) {
                let issue = self.error(
                    path,
                    v.span(),
                    format!(
                        "table {:?} would keep data in {region}, outside its residency [{}]",
                        table.unwrap_or("?"),
                        residency.rules.join(", ")
                    ),
                    "not allowed here",
                );
                issue.help = Some(format!(
                    "drop {region} from the table's `regions` (or from `[[region]]`), or allow it in `residency`"
                ));
                ok = false;
            }
        }
        ok.then_some(residency)
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs_match_whole_codes() {
        assert!(glob_match("eu-*", "eu-west-1"));
        assert!(glob_match("*-central-*", "il-central-1"));
        assert!(glob_match("us-east-1", "us-east-1"));
        assert!(!glob_match("eu-*", "us-east-1"));
        assert!(!glob_match("eu-west", "eu-west-1"), "no implicit wildcard");
        assert!(glob_match("*", "ap-south-2"));
        assert!(!glob_match("eu-*-1", "eu-west-2"));
    }
}
