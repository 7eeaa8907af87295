//! `[[table.global_index]]` and `[[table.local_index]]`, their projections, and the
//! table's attribute definitions derived from every key they and the table use.

use super::*;

/// An index's name: unique among the table's indexes.
const INDEX_NAME: NameRule = NameRule {
    what: "index",
    max: 255,
    duplicate: |name| format!("the table has two indexes named {name:?}"),
    duplicate_label: "duplicate index name",
};

/// DynamoDB's default quotas: 20 global indexes per table, 5 local ones.
const MAX_GLOBAL_INDEXES: usize = 20;
const MAX_LOCAL_INDEXES: usize = 5;
/// Non-key attributes projected into all of a table's indexes together.
const MAX_PROJECTED_ATTRIBUTES: usize = 100;

const PROJECTION_HELP: &str =
    "projection = \"all\", \"keys-only\" or { include = [\"attribute\", ...] }";

/// The projections written as a string; `{ include = [..] }` is read on its own.
const PROJECTIONS: Choices<'static, Projection> = Choices::new(
    "projection",
    &[
        ("all", Projection::All),
        ("keys-only", Projection::KeysOnly),
    ],
)
.help(PROJECTION_HELP);

/// A key as written, with where it stands (for conflicting-type errors).
pub(super) struct KeyAt {
    pub key: Key,
    pub field: String,
    pub span: Range<usize>,
}

/// What the indexes depend on in their table.
pub(super) struct IndexContext<'a> {
    /// `Some(provisioned)` when the billing mode is known.
    pub provisioned: Option<bool>,
    pub autoscaling: bool,
    pub has_sort_key: bool,
    pub table_span: Range<usize>,
    pub path: &'a str,
}

impl Walker {
    /// Both index lists; the keys they use are appended to `keys`.
    pub(super) fn indexes(
        &mut self,
        t: &DeTable<'_>,
        cx: &IndexContext<'_>,
        keys: &mut Vec<KeyAt>,
    ) -> Option<(Vec<GlobalIndex>, Vec<LocalIndex>)> {
        let mut names: HashMap<String, Range<usize>> = HashMap::new();
        let mut projected = 0;
        let global = self
            .optional(t, cx.path, "global_index", |w, v, field| {
                w.index_list(v, field, MAX_GLOBAL_INDEXES, |w, item, path| {
                    w.global_index(item, path, cx, keys, &mut names, &mut projected)
                })
            })
            .map(Option::unwrap_or_default);
        let local = self
            .optional(t, cx.path, "local_index", |w, v, field| {
                w.index_list(v, field, MAX_LOCAL_INDEXES, |w, item, path| {
                    w.local_index(item, path, cx, keys, &mut names, &mut projected)
                })
            })
            .map(Option::unwrap_or_default);
        if projected > MAX_PROJECTED_ATTRIBUTES {
            let at = get(t, "global_index")
                .or_else(|| get(t, "local_index"))
                .map_or(cx.table_span.clone(), |v| v.span());
            self.error(
                cx.path,
                at,
                format!("the indexes project {projected} non-key attributes; DynamoDB allows {MAX_PROJECTED_ATTRIBUTES} per table"),
                "too many projected attributes",
            );
            return None;
        }
        Some((global?, local?))
    }

    fn index_list<T>(
        &mut self,
        v: &Value<'_>,
        path: &str,
        max: usize,
        mut one: impl FnMut(&mut Self, &Value<'_>, &str) -> Option<T>,
    ) -> Option<Vec<T>> {
        let items = self.array(v, path)?;
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match one(self, item, &format!("{path}[{i}]")) {
                Some(x) => out.push(x),
                None => ok = false,
            }
        }
        if items.len() > max {
            self.error(
                path,
                v.span(),
                format!(
                    "{} indexes here; DynamoDB allows {max} per table",
                    items.len()
                ),
                "too many indexes",
            );
            ok = false;
        }
        ok.then_some(out)
    }

    fn global_index(
        &mut self,
        v: &Value<'_>,
        path: &str,
        cx: &IndexContext<'_>,
        keys: &mut Vec<KeyAt>,
        names: &mut HashMap<String, Range<usize>>,
        projected: &mut usize,
    ) -> Option<GlobalIndex> {
        let t = self.table(v, path)?;
        self.check_keys(t, path, GLOBAL_INDEX_KEYS);
        let name = self.unique_name(t, v.span(), path, names, &INDEX_NAME);
        let partition_key = self
            .required(t, v.span(), path, "partition_key")
            .and_then(|k| self.key_at(k, join(path, "partition_key"), keys));
        let sort_key = self.optional(t, path, "sort_key", |w, k, field| {
            w.key_at(k, field.to_owned(), keys)
        });
        let projection = self.projection(t, path, projected);
        let capacity = self.index_capacity(t, v.span(), path, cx);
        Some(GlobalIndex {
            name: name?,
            partition_key: partition_key?,
            sort_key: sort_key?,
            projection: projection?,
            capacity: capacity?,
        })
    }

    fn local_index(
        &mut self,
        v: &Value<'_>,
        path: &str,
        cx: &IndexContext<'_>,
        keys: &mut Vec<KeyAt>,
        names: &mut HashMap<String, Range<usize>>,
        projected: &mut usize,
    ) -> Option<LocalIndex> {
        let t = self.table(v, path)?;
        self.check_keys(t, path, LOCAL_INDEX_KEYS);
        let name = self.unique_name(t, v.span(), path, names, &INDEX_NAME);
        let sort_key = self
            .required(t, v.span(), path, "sort_key")
            .and_then(|k| self.key_at(k, join(path, "sort_key"), keys));
        let projection = self.projection(t, path, projected);
        if !cx.has_sort_key {
            let issue = self.error(
                path,
                v.span(),
                "a local index needs a table with a sort key",
                "the table has no sort_key",
            );
            issue.help = Some("a local index keeps the table's partition key and sorts by another attribute; give the table a `sort_key`, or use a `[[table.global_index]]`".into());
            return None;
        }
        Some(LocalIndex {
            name: name?,
            sort_key: sort_key?,
            projection: projection?,
        })
    }

    /// `projection = "all" | "keys-only" | { include = [..] }`; `all` by default.
    fn projection(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        projected: &mut usize,
    ) -> Option<Projection> {
        let Some(v) = get(t, "projection") else {
            return Some(Projection::All);
        };
        let field = join(path, "projection");
        if let DeValue::Table(inner) = v.get_ref() {
            self.check_keys(inner, &field, &["include"]);
            let include = join(&field, "include");
            let list = self.required(inner, v.span(), &field, "include")?;
            let items = self.array(list, &include)?;
            let mut out: Vec<String> = Vec::new();
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                let f = format!("{include}[{i}]");
                let Some(s) = self.string(item, &f) else {
                    ok = false;
                    continue;
                };
                if s.value.is_empty() || s.value.len() > 255 {
                    self.error(
                        &f,
                        s.span,
                        "an attribute name must be 1 to 255 characters",
                        "invalid name",
                    );
                    ok = false;
                } else if out.contains(&s.value) {
                    self.error(
                        &f,
                        s.span,
                        format!("{:?} is listed twice", s.value),
                        "duplicate",
                    );
                    ok = false;
                } else {
                    out.push(s.value);
                }
            }
            if items.is_empty() {
                let issue = self.error(
                    &include,
                    list.span(),
                    "an `include` projection needs at least one attribute",
                    "empty",
                );
                issue.help =
                    Some("use `projection = \"keys-only\"` to project only the keys".into());
                ok = false;
            }
            *projected += out.len();
            return ok.then_some(Projection::Include(out));
        }
        let s = match v.get_ref() {
            DeValue::String(_) => self.string(v, &field)?,
            other => {
                let issue = self.error(
                    &field,
                    v.span(),
                    format!(
                        "`{field}` must be a string or a table, found {}",
                        type_name(other)
                    ),
                    "expected \"all\", \"keys-only\" or { include = [..] }",
                );
                issue.help = Some(PROJECTION_HELP.into());
                return None;
            }
        };
        self.one_of(&s, &field, &PROJECTIONS)
    }

    /// A global index's own capacity: required on a provisioned table, refused on an
    /// on-demand one and beside autoscaling (the scaler would own it).
    fn index_capacity(
        &mut self,
        t: &DeTable<'_>,
        span: Range<usize>,
        path: &str,
        cx: &IndexContext<'_>,
    ) -> Option<Option<(u32, u32)>> {
        let keys = ["read_capacity", "write_capacity"];
        match cx.provisioned {
            None => Some(None),
            Some(false) => {
                for key in keys {
                    if let Some(v) = get(t, key) {
                        let issue = self.error(
                            &join(path, key),
                            v.span(),
                            format!("`{key}` needs the table's `billing = \"provisioned\"`"),
                            "only for provisioned billing",
                        );
                        issue.help =
                            Some("an index of an on-demand table scales with it; remove it".into());
                    }
                }
                Some(None)
            }
            Some(true) if cx.autoscaling => {
                let issue = self.error(
                    path,
                    span,
                    "global indexes on a table with `autoscaling` are not supported",
                    "index on an autoscaled table",
                );
                issue.help = Some("geoplan does not yet scale index capacity, and a fixed index capacity would fight the scaler; use on-demand billing, or fixed capacity without `autoscaling`".into());
                None
            }
            Some(true) => {
                let one = |w: &mut Self, key: &str| match get(t, key) {
                    Some(v) => w
                        .integer_in(v, &join(path, key), 1..=40_000)
                        .map(|n| n as u32),
                    None => {
                        let issue = w.error(
                            &join(path, key),
                            span.clone(),
                            format!("an index of a provisioned table needs `{key}`"),
                            &format!("`{key}` is missing"),
                        );
                        issue.help = Some("set `read_capacity` and `write_capacity` on the index (units per second)".into());
                        None
                    }
                };
                let read = one(self, "read_capacity");
                let write = one(self, "write_capacity");
                Some(Some((read?, write?)))
            }
        }
    }

    /// A key (`{ name, type }`), recorded in `keys` for the attribute definitions.
    pub(super) fn key_at(
        &mut self,
        v: &Value<'_>,
        field: String,
        keys: &mut Vec<KeyAt>,
    ) -> Option<Key> {
        let key = self.key(v, &field)?;
        keys.push(KeyAt {
            key: key.clone(),
            field,
            span: v.span(),
        });
        Some(key)
    }

    /// The attribute definitions: each key name once with its type. The same name with
    /// two types is an error at the second use, pointing back at the first.
    pub(super) fn attributes(&mut self, keys: &[KeyAt]) -> Option<Vec<Key>> {
        let mut out: Vec<(Key, Range<usize>)> = Vec::new();
        let mut ok = true;
        for k in keys {
            match out.iter().find(|(seen, _)| seen.name == k.key.name) {
                Some((seen, _)) if seen.kind == k.key.kind => {}
                Some((seen, first)) => {
                    let (first, kind) = (first.clone(), seen.kind);
                    let issue = self.error(
                        &k.field,
                        k.span.clone(),
                        format!(
                            "attribute {:?} is a key of type {:?} here but {:?} elsewhere",
                            k.key.name, k.key.kind, kind
                        ),
                        "conflicting key type",
                    );
                    issue.related = Some(first);
                    issue.help =
                        Some("an attribute has one type in a table and all its indexes".into());
                    ok = false;
                }
                None => out.push((k.key.clone(), k.span.clone())),
            }
        }
        ok.then(|| out.into_iter().map(|(k, _)| k).collect())
    }
}
