//! The expected monthly cost of the replication a config creates, before apply: for
//! each global table, replicated writes per replica region and transfer per region
//! pair, from `writes_per_second` and `avg_item_kb` and the per-pair price table.
//! Pure.

use std::collections::BTreeMap;

use serde::Serialize;

use super::prices;
use crate::config::{Config, Pattern, Projection};

/// 730 hours: AWS's month for pricing.
pub const SECONDS_PER_MONTH: f64 = 730.0 * 3600.0;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairEstimate {
    pub from: String,
    pub to: String,
    pub gb: f64,
    pub usd_per_gb: f64,
    pub usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionWrites {
    pub region: String,
    /// Replicated write request units per month arriving in this region.
    pub replicated_write_units: f64,
    /// Write request units per month those writes cost in the replica's indexes.
    pub index_write_units: f64,
    pub usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableEstimate {
    pub table: String,
    pub writes_per_second: f64,
    pub avg_item_kb: f64,
    /// Where writes originate, as the pattern implies.
    pub writes_from: Vec<String>,
    pub replicated_writes: Vec<RegionWrites>,
    pub transfer: Vec<PairEstimate>,
    pub usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub tables: Vec<TableEstimate>,
    pub usd_per_month: f64,
    pub assumptions: Vec<String>,
    /// Tables left out, and why.
    pub skipped: Vec<String>,
    /// With `switch = "arc"`: the ARC cluster's price a month (billed per hour, whether
    /// or not anything is flipped), not part of `usd_per_month` (replication).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arc_usd_per_month: Option<f64>,
    /// `[monitor] switch`, which `arc_usd_per_month` follows.
    #[serde(skip)]
    pub switch: &'static str,
}

/// Route 53 ARC's list price of a cluster, per hour (us-east-1 price list, 2026).
pub const ARC_CLUSTER_USD_PER_HOUR: f64 = 2.5;

/// Hours in a month, as AWS's price calculator counts them.
pub const HOURS_PER_MONTH: f64 = 730.0;

pub fn estimate(config: &Config) -> Estimate {
    let overrides = config
        .cost
        .as_ref()
        .map(|c| c.price_per_gb.clone())
        .unwrap_or_default();
    let primary = config
        .regions
        .iter()
        .find(|r| r.primary)
        .map(|r| r.name.clone());
    let mut tables = Vec::new();
    let mut skipped = Vec::new();
    for t in &config.tables {
        if config.pattern == Pattern::Partitioned || t.regions.len() < 2 {
            skipped.push(format!("{}: not replicated", t.name));
            continue;
        }
        let Some(wps) = t.writes_per_second else {
            skipped.push(format!("{}: no writes_per_second", t.name));
            continue;
        };
        let kb = t.avg_item_kb.unwrap_or(1.0);
        // Where writes happen: spread over the table's regions for active-active,
        // at the primary (if it holds the table) for the primary-based patterns.
        let from: Vec<String> = match (&config.pattern, &primary) {
            (Pattern::ActivePassive | Pattern::ReadLocalWriteGlobal, Some(p))
                if t.regions.contains(p) =>
            {
                vec![p.clone()]
            }
            _ => t.regions.clone(),
        };
        let share = wps / from.len() as f64;
        let units_per_write = kb.ceil(); // one write request unit per KB, rounded up
        // Each replica maintains its own indexes: a replicated write also writes each
        // of them in the receiving region (no transfer: indexes do not cross regions).
        let index_units_per_write: f64 = t
            .global_indexes
            .iter()
            .map(|g| &g.projection)
            .chain(t.local_indexes.iter().map(|l| &l.projection))
            .map(|p| match p {
                Projection::KeysOnly => 1.0,
                Projection::All | Projection::Include(_) => units_per_write,
            })
            .sum();
        let mut pairs = Vec::new();
        let mut arriving: BTreeMap<String, f64> = BTreeMap::new();
        for src in &from {
            for dst in t.regions.iter().filter(|d| *d != src) {
                let gb = share * kb * SECONDS_PER_MONTH / (1024.0 * 1024.0);
                let usd_per_gb = prices::transfer_per_gb(src, dst, &overrides);
                pairs.push(PairEstimate {
                    from: src.clone(),
                    to: dst.clone(),
                    gb,
                    usd_per_gb,
                    usd: gb * usd_per_gb,
                });
                *arriving.entry(dst.clone()).or_default() +=
                    share * units_per_write * SECONDS_PER_MONTH;
            }
        }
        let writes: Vec<RegionWrites> = t
            .regions
            .iter()
            .filter_map(|r| arriving.get(r).map(|u| (r, *u)))
            .map(|(r, units)| {
                let index_units = units / units_per_write * index_units_per_write;
                RegionWrites {
                    region: r.clone(),
                    replicated_write_units: units,
                    index_write_units: index_units,
                    usd: (units + index_units) / 1e6 * prices::replicated_write_per_million(r),
                }
            })
            .collect();
        let usd =
            pairs.iter().map(|p| p.usd).sum::<f64>() + writes.iter().map(|w| w.usd).sum::<f64>();
        tables.push(TableEstimate {
            table: t.name.clone(),
            writes_per_second: wps,
            avg_item_kb: kb,
            writes_from: from,
            replicated_writes: writes,
            transfer: pairs,
            usd,
        });
    }
    // `+ 0.0` turns the empty sum's -0.0 into 0.0, which JSON would print as "-0.0".
    let usd_per_month = tables.iter().map(|t| t.usd).sum::<f64>() + 0.0;
    Estimate {
        tables,
        usd_per_month,
        switch: config.monitor.switch.as_str(),
        arc_usd_per_month: config.monitor.switch.has_arc()
            .then_some(ARC_CLUSTER_USD_PER_HOUR * HOURS_PER_MONTH),
        assumptions: vec![
            "a month is 730 hours; writes are steady at writes_per_second".into(),
            "active-active writes are spread evenly over the table's regions; active-passive and read-local-write-global write at the primary".into(),
            "every write replicates to each other replica region: one replicated write unit per KB (rounded up), on-demand price".into(),
            "transfer is priced per actual pair by the source region (list prices, or [cost.price_per_gb]); seeding new replicas and cross-AZ traffic are not included".into(),
            "each replicated write also writes every index of the table (global and local) in the receiving region, at the write price: one unit per KB of the item (rounded up) for ALL and INCLUDE projections (INCLUDE priced as the whole item, an upper bound), one unit for KEYS_ONLY; an update that moves an item to other index keys costs twice there and is not counted; indexes add no cross-region transfer".into(),
        ],
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pattern: &str, primary: bool, table: &str) -> Config {
        let text = format!(
            "name = \"t\"\npattern = \"{pattern}\"\n[dns]\nzone = \"example.com\"\nrecord = \"api.example.com\"\n\
             [[region]]\nname = \"us-east-1\"\nendpoint = \"192.0.2.1\"\nprimary = {primary}\n\
             [[region]]\nname = \"eu-west-1\"\nendpoint = \"192.0.2.2\"\n\
             [[region]]\nname = \"sa-east-1\"\nendpoint = \"192.0.2.3\"\n{table}"
        );
        let (c, d) = crate::config::compile("t.toml", &text, std::path::Path::new("/"));
        c.unwrap_or_else(|| panic!("{}", d.render(false)))
    }

    #[test]
    fn active_active_writes_replicate_from_every_region_priced_per_pair() {
        let c = config(
            "active-active",
            false,
            "[[table]]\nname = \"users\"\npartition_key = { name = \"id\", type = \"S\" }\nwrites_per_second = 300\navg_item_kb = 1.5\n",
        );
        let e = estimate(&c);
        let t = &e.tables[0];
        assert_eq!(t.writes_from, ["us-east-1", "eu-west-1", "sa-east-1"]);
        assert_eq!(t.transfer.len(), 6, "every ordered pair");
        let gb = 100.0 * 1.5 * SECONDS_PER_MONTH / 1048576.0; // 100 writes/s from each region
        let p = t
            .transfer
            .iter()
            .find(|p| p.from == "sa-east-1" && p.to == "us-east-1")
            .unwrap();
        assert!((p.gb - gb).abs() < 1e-6 && p.usd_per_gb == 0.138, "{p:?}");
        let w = t
            .replicated_writes
            .iter()
            .find(|w| w.region == "us-east-1")
            .unwrap();
        assert_eq!(
            w.replicated_write_units,
            200.0 * 2.0 * SECONDS_PER_MONTH,
            "from the two other regions, 2 units per 1.5 KB write"
        );
        assert!((e.usd_per_month - t.usd).abs() < 1e-9);
    }

    #[test]
    fn replicated_writes_also_write_each_replicas_indexes() {
        let c = config(
            "active-passive",
            true,
            "[[table]]\nname = \"orders\"\npartition_key = { name = \"id\", type = \"S\" }\nsort_key = { name = \"at\", type = \"N\" }\nwrites_per_second = 10\navg_item_kb = 2.5\n\
             [[table.global_index]]\nname = \"by-sku\"\npartition_key = { name = \"sku\", type = \"S\" }\nprojection = \"keys-only\"\n\
             [[table.global_index]]\nname = \"by-status\"\npartition_key = { name = \"status\", type = \"S\" }\n\
             [[table.local_index]]\nname = \"by-total\"\nsort_key = { name = \"total\", type = \"N\" }\nprojection = { include = [\"currency\"] }\n",
        );
        let e = estimate(&c);
        let t = &e.tables[0];
        let w = t
            .replicated_writes
            .iter()
            .find(|w| w.region == "eu-west-1")
            .unwrap();
        let writes = 10.0 * SECONDS_PER_MONTH;
        assert_eq!(
            w.replicated_write_units,
            writes * 3.0,
            "3 units per 2.5 KB write"
        );
        assert_eq!(
            w.index_write_units,
            writes * (1.0 + 3.0 + 3.0),
            "keys-only 1, all 3, include 3"
        );
        let price = prices::replicated_write_per_million("eu-west-1");
        assert!((w.usd - writes * 10.0 / 1e6 * price).abs() < 1e-6, "{w:?}");
        // Transfer is the items only: the same as without indexes.
        let gb = 10.0 * 2.5 * SECONDS_PER_MONTH / 1048576.0;
        assert!(t.transfer.iter().all(|p| (p.gb - gb).abs() < 1e-6));
        assert!(e.assumptions.iter().any(|a| a.contains("index")));
    }

    #[test]
    fn primary_patterns_write_at_the_primary_and_missing_rates_are_reported() {
        let c = config(
            "active-passive",
            true,
            "[[table]]\nname = \"orders\"\npartition_key = { name = \"id\", type = \"S\" }\nwrites_per_second = 10\n[[table]]\nname = \"events\"\npartition_key = { name = \"id\", type = \"S\" }\n",
        );
        let e = estimate(&c);
        assert_eq!(e.tables[0].writes_from, ["us-east-1"]);
        assert_eq!(
            e.tables[0]
                .transfer
                .iter()
                .map(|p| p.to.as_str())
                .collect::<Vec<_>>(),
            ["eu-west-1", "sa-east-1"]
        );
        assert_eq!(e.skipped, ["events: no writes_per_second"]);
    }

    #[test]
    fn nothing_to_estimate_is_said_and_is_a_plain_zero() {
        let e = estimate(&config("active-active", false, ""));
        assert!(e.usd_per_month.is_sign_positive(), "not -0.0 in JSON");
        assert_eq!(
            serde_json::to_value(&e).unwrap()["usd_per_month"].to_string(),
            "0.0"
        );
        assert_eq!(
            crate::cost::render_estimate(&e),
            "Estimated replication cost: not estimated (this config has no tables)\n"
        );
        let e = estimate(&config(
            "active-active",
            false,
            "[[table]]\nname = \"users\"\npartition_key = { name = \"id\", type = \"S\" }\n",
        ));
        assert_eq!(
            crate::cost::render_estimate(&e),
            "Estimated replication cost: not estimated (users: no writes_per_second)\n"
        );
    }
}
