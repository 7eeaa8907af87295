//! Where the columns geoplan reads are in a CSV header, and one record folded into the
//! totals: the month and the tag checked (the tag in a column of its own, or in CUR
//! 2.0's JSON), the numbers parsed.

use std::collections::HashMap;
use std::path::Path;

use crate::cost::cur::{
    AMOUNT, COST, CurError, Filter, RESOURCE, START, TAG_COLUMNS, TAG_KEY_V2, TAGS_V2, Totals,
    USAGE_TYPE,
};

/// Where the columns geoplan reads are in a CSV header.
pub(super) struct CsvColumns {
    usage_type: usize,
    cost: usize,
    amount: usize,
    resource: Option<usize>,
    /// The usage start, when rows are kept by month.
    start: Option<usize>,
    /// The tag: a column of its own (legacy), or inside CUR 2.0's JSON (`true`).
    pub(super) tag: Option<(usize, bool)>,
}

impl CsvColumns {
    pub(super) fn find(
        path: &Path,
        headers: &[&[u8]],
        filter: Filter<'_>,
    ) -> Result<Self, CurError> {
        let find = |(legacy, v2): (&'static str, &'static str)| {
            headers
                .iter()
                .position(|h| *h == legacy.as_bytes() || *h == v2.as_bytes())
        };
        let need = |col: (&'static str, &'static str)| {
            find(col).ok_or(CurError::MissingColumn {
                path: path.to_owned(),
                wanted: col.0,
                wanted2: col.1,
            })
        };
        Ok(CsvColumns {
            usage_type: need(USAGE_TYPE)?,
            cost: need(COST)?,
            amount: need(AMOUNT)?,
            resource: find(RESOURCE),
            start: filter.month.and(find(START)),
            tag: headers
                .iter()
                .position(|h| TAG_COLUMNS.iter().any(|t| *h == t.as_bytes()))
                .map(|i| (i, false))
                .or_else(|| {
                    headers
                        .iter()
                        .position(|h| *h == TAGS_V2.as_bytes())
                        .map(|i| (i, true))
                }),
        })
    }

    /// Folds one record, given its fields, into `totals`; `Err` names a column whose
    /// value is not a finite number.
    pub(super) fn fold<'r>(
        &self,
        totals: &mut Totals,
        filter: Filter<'_>,
        field: impl Fn(usize) -> std::borrow::Cow<'r, [u8]>,
    ) -> Result<(), usize> {
        if let (Some(i), Some(m)) = (self.start, filter.month)
            && !field(i).starts_with(m.as_bytes())
        {
            return Ok(());
        }
        if let Some(name) = filter.tag {
            let tagged = match self.tag {
                Some((i, false)) => *field(i) == *name.as_bytes(),
                Some((i, true)) => json_tags_name(&field(i), name),
                None => false,
            };
            if !tagged {
                totals.outside_scope += 1;
                return Ok(());
            }
        }
        let number = |i: usize| number(&field(i)).ok_or(i);
        let (usd, quantity) = (number(self.cost)?, number(self.amount)?);
        let resource = self.resource.map(&field).unwrap_or_default();
        totals.add(&field(self.usage_type), &resource, quantity, usd);
        Ok(())
    }
}

/// A CUR number: empty is zero; NaN and infinity parse as f64, but no bill holds them,
/// and they would poison every sum and comparison downstream.
fn number(raw: &[u8]) -> Option<f64> {
    if raw.is_empty() {
        return Some(0.0);
    }
    lexical_core::parse::<f64>(raw)
        .ok()
        .or_else(|| std::str::from_utf8(raw).ok()?.trim().parse::<f64>().ok())
        .filter(|n| n.is_finite())
}

/// Whether a CUR 2.0 `resource_tags` JSON text says `geoplan:name` is `name`.
fn json_tags_name(text: &[u8], name: &str) -> bool {
    // Most rows carry no such tag: skip them before parsing.
    let Some(at) = memchr::memmem::find(text, TAG_KEY_V2.as_bytes()) else {
        return false;
    };
    // The compact form AWS writes, `{…"user_geoplan_name":"value"…}` with a value
    // without escapes, is read in place (a quote inside a JSON string is escaped, so an
    // unescaped quote before the key opens a key); anything else is parsed.
    let object = text.trim_ascii();
    let value = &text[at + TAG_KEY_V2.len()..];
    if object.starts_with(b"{")
        && object.ends_with(b"}")
        && at >= 2
        && text[at - 1] == b'"'
        && text[at - 2] != b'\\'
        && let Some(value) = value.strip_prefix(b"\":\"")
        && let Some(end) = memchr::memchr2(b'"', b'\\', value)
        && value[end] == b'"'
    {
        return &value[..end] == name.as_bytes();
    }
    json_tags_name_parsed(text, name)
}

/// [`json_tags_name`] by parsing the JSON text.
fn json_tags_name_parsed(text: &[u8], name: &str) -> bool {
    serde_json::from_slice::<HashMap<String, serde_json::Value>>(text)
        .ok()
        .and_then(|m| {
            m.get(TAG_KEY_V2)
                .and_then(|v| v.as_str().map(|v| v == name))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::cur::read;

    #[test]
    fn tags_in_compact_json_are_read_in_place_as_parsing_reads_them() {
        let cases = [
            r#"{"user_geoplan_name":"shop"}"#,
            r#"{"user_team":"a","user_geoplan_name":"shop","user_x":"y"}"#,
            r#"{"user_geoplan_name":"shopping"}"#,
            r#"{"user_geoplan_name":"sho"}"#,
            r#"{"user_geoplan_name": "shop"}"#,
            r#"{"user_geoplan_name":"sh\u006fp"}"#,
            r#"{"user_geoplan_name":"a\"b"}"#,
            r#"{"x_user_geoplan_name":"shop"}"#,
            r#"{"x":"user_geoplan_name","y":"shop"}"#,
            r#"{"x":"\"user_geoplan_name\":\"shop\"","user_geoplan_name":"other"}"#,
            r#"{"user_geoplan_name":"shop""#,
            r#"{"user_geoplan_name":5}"#,
            r#"{}"#,
            r#""#,
        ];
        for text in cases {
            for name in ["shop", "other", "a\"b"] {
                assert_eq!(
                    json_tags_name(text.as_bytes(), name),
                    json_tags_name_parsed(text.as_bytes(), name),
                    "{text} {name}"
                );
            }
        }
        assert!(json_tags_name(br#"{"user_geoplan_name":"shop"}"#, "shop"));
        assert!(json_tags_name(br#"{"user_geoplan_name": "shop"}"#, "shop"));
    }

    #[test]
    fn non_finite_numbers_are_located_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nan.csv");
        for (bad, column) in [("NaN,1", 2), ("1,inf", 3), ("1,-Infinity", 3)] {
            std::fs::write(
                &p,
                format!("lineItem/UsageType,lineItem/UsageAmount,lineItem/UnblendedCost\nUSE1-EU-AWS-Out-Bytes,{bad}\n"),
            )
            .unwrap();
            let e = read(&p, None).err().unwrap().to_string();
            assert!(
                e.starts_with(&format!("{}:2:{column}: ", p.display())),
                "{bad}: {e}"
            );
        }
    }
}
