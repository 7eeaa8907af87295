//! Cross-region transfer spend: per region pair, against a budget, from Cost Explorer
//! or from Cost and Usage Report files, and estimated before apply.

pub mod budget;
pub mod cur;
pub mod estimate;
pub mod explorer;
pub mod matrix;
pub mod metrics;
pub mod monitor;
pub mod outbox;
pub mod prices;
pub mod usage;

use std::fmt::Write as _;
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use budget::{BudgetState, Month};
use matrix::Matrix;

use crate::config::{Config, CostScope};

#[derive(Debug, thiserror::Error)]
pub enum CostError {
    #[error(transparent)]
    Explorer(#[from] explorer::ExplorerError),
    #[error(transparent)]
    Cur(#[from] cur::CurError),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostReport {
    /// `cost-explorer` or `cur`.
    pub source: &'static str,
    pub month: Month,
    /// Cost Explorer calls made ($0.01 each).
    pub calls: Option<u32>,
    /// CUR rows read.
    pub rows: Option<u64>,
    pub matrix: Matrix,
    pub budget: Option<BudgetState>,
    /// Whose spend this is: `tag geoplan:name=<name>` or `account` (everything).
    pub scope: String,
    /// Why the numbers may be empty or wider than the deployment, and what to do.
    pub scope_note: Option<String>,
}

fn regions(config: &Config) -> Vec<String> {
    config.regions.iter().map(|r| r.name.clone()).collect()
}

fn budget_of(config: &Config, month: Month, m: &Matrix, now: SystemTime) -> Option<BudgetState> {
    config.cost.as_ref().map(|c| {
        budget::state(
            month,
            m.budgeted_usd(),
            c.monthly_budget_usd,
            &c.alert_at,
            now,
        )
    })
}

pub async fn from_explorer(
    config: &Config,
    endpoint_url: Option<&str>,
    month: Month,
    now: SystemTime,
) -> Result<CostReport, CostError> {
    let client = explorer::client(endpoint_url).await;
    let (today_month, elapsed) = budget::civil(now);
    let today = today_month.date(elapsed as u32 + 1);
    let scope = config.cost.as_ref().map(|c| c.scope).unwrap_or_default();
    let (lines, mut calls, scope_name, mut scope_note) = match scope {
        CostScope::Account => {
            let (lines, calls) = explorer::month_lines(&client, month, &today, None).await?;
            let note = "account-wide: every workload's cross-region spend in this AWS account counts ([cost] scope = \"account\")";
            (lines, calls, "account".to_owned(), Some(note.to_owned()))
        }
        CostScope::Tag => {
            let filter = explorer::tag_filter(&config.name);
            let (lines, calls) =
                explorer::month_lines(&client, month, &today, Some(filter)).await?;
            let name = format!("tag {}={}", explorer::TAG, config.name);
            (lines, calls, name, None)
        }
    };
    if scope == CostScope::Tag && lines.is_empty() {
        // Nothing tagged: an inactive cost-allocation tag, or no usage at all. One more
        // call tells which, so the user learns how to fix it instead of reading $0.
        let (any, more) = explorer::month_lines(&client, month, &today, None).await?;
        calls += more;
        if !any.is_empty() {
            scope_note = Some(format!(
                "no usage in {month} carries the cost-allocation tag {}={}, though the account has some: \
                 activate the tag in the Billing console (Cost allocation tags; data appears within 24 h), \
                 or set [cost] scope = \"account\" to count the whole account",
                explorer::TAG,
                config.name
            ));
        }
    }
    let matrix = matrix::aggregate(lines, &regions(config));
    Ok(CostReport {
        source: "cost-explorer",
        month,
        calls: Some(calls),
        rows: None,
        budget: budget_of(config, month, &matrix, now),
        matrix,
        scope: scope_name,
        scope_note,
    })
}

pub fn from_cur(
    config: &Config,
    path: &Path,
    month: Month,
    now: SystemTime,
) -> Result<CostReport, CostError> {
    let scope = config.cost.as_ref().map(|c| c.scope).unwrap_or_default();
    let month_text = month.to_string();
    let filter = cur::Filter {
        month: Some(&month_text),
        tag: (scope == CostScope::Tag).then_some(config.name.as_str()),
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let totals = cur::read_parallel(path, filter, threads)?;
    let (scope_name, scope_note) = match scope {
        CostScope::Account => (
            "account".to_owned(),
            Some(
                "account-wide: every row of the CUR files counts ([cost] scope = \"account\")"
                    .to_owned(),
            ),
        ),
        CostScope::Tag => {
            let name = format!("tag {}={}", explorer::TAG, config.name);
            // Nothing tagged but usage there: say why, and how to fix it.
            let note = (totals.rows == 0 && totals.outside_scope > 0).then(|| {
                if totals.tag_column {
                    format!(
                        "no row in {month} carries the cost-allocation tag {}={} ({} row(s) without it): \
                         check the tag on geoplan's resources, or set [cost] scope = \"account\" to count every row",
                        explorer::TAG,
                        config.name,
                        totals.outside_scope
                    )
                } else {
                    format!(
                        "the CUR files have no column for the tag {}: activate it as a cost-allocation tag in the \
                         Billing console (Cost allocation tags) so exports include it (resource_tags in CUR 2.0), \
                         or set [cost] scope = \"account\" to count every row",
                        explorer::TAG
                    )
                }
            });
            (name, note)
        }
    };
    let rows = totals.rows;
    let matrix = matrix::aggregate(totals.into_lines(), &regions(config));
    Ok(CostReport {
        source: "cur",
        month,
        calls: None,
        rows: Some(rows),
        budget: budget_of(config, month, &matrix, now),
        matrix,
        scope: scope_name,
        scope_note,
    })
}

fn usd(x: f64) -> String {
    format!("${x:.2}")
}

/// The human form of a cost report.
pub fn render(r: &CostReport) -> String {
    let mut out = String::new();
    let m = &r.matrix;
    let source = match (r.source, r.calls, r.rows) {
        (_, Some(calls), _) => format!(
            "Cost Explorer, {calls} call{} (${:.2})",
            if calls == 1 { "" } else { "s" },
            calls as f64 * 0.01
        ),
        (_, _, Some(rows)) => format!("CUR files, {rows} row{}", if rows == 1 { "" } else { "s" }),
        _ => r.source.to_owned(),
    };
    let _ = writeln!(out, "Cross-region transfer, {} (from {source})", r.month);
    let _ = writeln!(out, "Scope: {}", r.scope);
    if let Some(note) = &r.scope_note {
        let _ = writeln!(out, "  note: {note}");
    }
    let mut cols: Vec<String> = m.regions.clone();
    if m.pairs
        .iter()
        .any(|p| p.to == matrix::OTHER || p.from == matrix::OTHER)
    {
        cols.push(matrix::OTHER.into());
    }
    let cells: Vec<Vec<String>> = cols
        .iter()
        .map(|from| {
            cols.iter()
                .map(|to| match m.pair(from, to) {
                    Some(p) => format!("{:.1} GB {}", p.gb, usd(p.usd)),
                    None if from == to => "-".into(),
                    None => "0".into(),
                })
                .collect()
        })
        .collect();
    // Every column as wide as its widest cell or header, so rows line up.
    let label = cols.iter().map(String::len).chain([9]).max().unwrap_or(9);
    let widths: Vec<usize> = (0..cols.len())
        .map(|j| {
            cells
                .iter()
                .map(|row| row[j].chars().count())
                .chain([cols[j].len()])
                .max()
                .unwrap_or(1)
        })
        .collect();
    let _ = write!(out, "  {:<label$}", "from \\ to");
    for (c, w) in cols.iter().zip(&widths) {
        let _ = write!(out, "  {c:>w$}");
    }
    let _ = writeln!(out);
    for (from, row) in cols.iter().zip(&cells) {
        let _ = write!(out, "  {from:<label$}");
        for (cell, w) in row.iter().zip(&widths) {
            let _ = write!(out, "  {cell:>w$}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "  inter-region transfer {}", usd(m.transfer_usd));
    if !m.replicated_writes.is_empty() {
        let per: Vec<String> = m
            .replicated_writes
            .iter()
            .map(|(r, c)| format!("{r} {}", usd(c.usd)))
            .collect();
        let _ = writeln!(
            out,
            "  replicated writes     {} ({})",
            usd(m.replication_usd),
            per.join(", ")
        );
        for (t, u) in &m.replicated_writes_by_table {
            let _ = writeln!(out, "    table {t}: {}", usd(*u));
        }
    }
    if !m.cross_az.is_empty() {
        let per: Vec<String> = m
            .cross_az
            .iter()
            .map(|(r, c)| format!("{r} {}", usd(c.usd)))
            .collect();
        let _ = writeln!(out, "  cross-AZ (not budgeted) {}", per.join(", "));
    }
    for u in &m.unknown {
        let _ = writeln!(
            out,
            "  unplaced: {} {} ({})",
            u.usage_type,
            usd(u.usd),
            u.why
        );
    }
    if let Some(b) = &r.budget {
        let _ = writeln!(
            out,
            "Budget {}: spent {} ({:.0}%), forecast {} ({:.0}%){}",
            usd(b.budget_usd),
            usd(b.spend_usd),
            b.fraction * 100.0,
            usd(b.forecast_usd),
            b.forecast_fraction * 100.0,
            if b.crossed.is_empty() {
                String::new()
            } else {
                format!(", alert thresholds crossed: {:?}", b.crossed)
            }
        );
    }
    out
}

/// The human form of a pre-apply estimate.
pub fn render_estimate(e: &estimate::Estimate) -> String {
    let mut out = String::new();
    if let Some(arc) = e.arc_usd_per_month {
        let _ = writeln!(
            out,
            "ARC cluster (switch = \"{}\"): {} / month (${:.2} per cluster-hour, billed whether or not anything is flipped)",
            e.switch,
            usd(arc),
            estimate::ARC_CLUSTER_USD_PER_HOUR
        );
    }
    if e.tables.is_empty() {
        // Say why there is no number rather than print nothing.
        let why = if e.skipped.is_empty() {
            "this config has no tables".to_owned()
        } else {
            e.skipped.join("; ")
        };
        let _ = writeln!(out, "Estimated replication cost: not estimated ({why})");
        return out;
    }
    let _ = writeln!(
        out,
        "Estimated replication cost: {} / month",
        usd(e.usd_per_month)
    );
    for t in &e.tables {
        let _ = writeln!(
            out,
            "  table {} ({} writes/s × {} KB, written in {}): {}",
            t.table,
            t.writes_per_second,
            t.avg_item_kb,
            t.writes_from.join(", "),
            usd(t.usd)
        );
        for w in &t.replicated_writes {
            let indexes = if w.index_write_units > 0.0 {
                format!(" + {:.0} in its indexes", w.index_write_units)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "    replicated writes into {:<16} {:>14.0} units{indexes}  {}",
                w.region,
                w.replicated_write_units,
                usd(w.usd)
            );
        }
        for p in &t.transfer {
            let _ = writeln!(
                out,
                "    transfer {:>14} → {:<16} {:>10.1} GB × ${}/GB  {}",
                p.from,
                p.to,
                p.gb,
                p.usd_per_gb,
                usd(p.usd)
            );
        }
    }
    for s in &e.skipped {
        let _ = writeln!(out, "  not estimated: {s}");
    }
    let _ = writeln!(out, "  assumptions: {}", e.assumptions.join("; "));
    out
}
