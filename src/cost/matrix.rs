//! Aggregating billed usage into what geoplan reports: a source → destination matrix
//! of GB and USD over the deployment's regions (others folded into "other"),
//! cross-AZ transfer, replicated writes per region and per table, and every usage
//! type it could not place. Pure: lines in, a report out. The same lines give the same
//! report whichever source (Cost Explorer or CUR files) they came from.

use std::collections::BTreeMap;

use serde::Serialize;

use super::usage::{Usage, classify};

/// Stands for every region outside the deployment.
pub const OTHER: &str = "other";

/// One usage type's total, from either source.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub usage_type: String,
    /// GB for transfer, request units for replicated writes.
    pub quantity: f64,
    pub usd: f64,
    /// The resource (a table ARN) when the source names one.
    pub resource: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cell {
    pub quantity: f64,
    pub usd: f64,
}

impl Cell {
    fn add(&mut self, quantity: f64, usd: f64) {
        self.quantity += quantity;
        self.usd += usd;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    pub from: String,
    pub to: String,
    pub gb: f64,
    pub usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unplaced {
    pub usage_type: String,
    pub usd: f64,
    pub why: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Matrix {
    pub regions: Vec<String>,
    /// Inter-region transfer, one entry per (from, to) with any usage, sorted.
    pub pairs: Vec<Pair>,
    pub cross_az: BTreeMap<String, Cell>,
    /// Replicated write units and USD, per region.
    pub replicated_writes: BTreeMap<String, Cell>,
    /// Replicated-write USD per table, where the source names the table.
    pub replicated_writes_by_table: BTreeMap<String, f64>,
    pub transfer_usd: f64,
    pub replication_usd: f64,
    /// Usage types with a region code geoplan does not know: reported, not dropped.
    pub unknown: Vec<Unplaced>,
    /// Everything else, summed: not replication cost, shown for completeness.
    pub other_usd: f64,
}

impl Matrix {
    /// What counts against the budget: inter-region transfer plus replicated writes.
    pub fn budgeted_usd(&self) -> f64 {
        self.transfer_usd + self.replication_usd
    }

    pub fn pair(&self, from: &str, to: &str) -> Option<&Pair> {
        self.pairs.iter().find(|p| p.from == from && p.to == to)
    }
}

fn fold(region: &str, deployment: &[String]) -> String {
    if deployment.iter().any(|r| r == region) {
        region.to_owned()
    } else {
        OTHER.to_owned()
    }
}

/// A table's name from a DynamoDB ARN (`arn:aws:dynamodb:REGION:ACCOUNT:table/NAME`).
fn table_of(resource: &str) -> Option<&str> {
    resource
        .rsplit_once(":table/")
        .map(|(_, t)| t.split('/').next().unwrap_or(t))
}

pub fn aggregate(lines: impl IntoIterator<Item = Line>, deployment: &[String]) -> Matrix {
    let mut pairs: BTreeMap<(String, String), Cell> = BTreeMap::new();
    let mut unknown: BTreeMap<String, (f64, String)> = BTreeMap::new();
    let mut m = Matrix {
        regions: deployment.to_vec(),
        ..Matrix::default()
    };
    for line in lines {
        match classify(&line.usage_type) {
            Usage::InterRegion { from, to } => {
                pairs
                    .entry((fold(from, deployment), fold(to, deployment)))
                    .or_default()
                    .add(line.quantity, line.usd);
                m.transfer_usd += line.usd;
            }
            Usage::InterRegionIn => {}
            Usage::CrossAz { region } => m
                .cross_az
                .entry(fold(region, deployment))
                .or_default()
                .add(line.quantity, line.usd),
            Usage::ReplicatedWrite { region } => {
                m.replicated_writes
                    .entry(fold(region, deployment))
                    .or_default()
                    .add(line.quantity, line.usd);
                m.replication_usd += line.usd;
                if let Some(table) = line.resource.as_deref().and_then(table_of) {
                    *m.replicated_writes_by_table
                        .entry(table.to_owned())
                        .or_default() += line.usd;
                }
            }
            Usage::UnknownRegionCode { code } => {
                let e = unknown
                    .entry(line.usage_type.clone())
                    .or_insert((0.0, format!("unknown region code {code:?}")));
                e.0 += line.usd;
            }
            Usage::Other => m.other_usd += line.usd,
        }
    }
    m.pairs = pairs
        .into_iter()
        .map(|((from, to), c)| Pair {
            from,
            to,
            gb: c.quantity,
            usd: c.usd,
        })
        .collect();
    m.unknown = unknown
        .into_iter()
        .map(|(usage_type, (usd, why))| Unplaced {
            usage_type,
            usd,
            why,
        })
        .collect();
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(t: &str, q: f64, usd: f64) -> Line {
        Line {
            usage_type: t.into(),
            quantity: q,
            usd,
            resource: None,
        }
    }

    #[test]
    fn builds_the_pair_matrix_and_folds_outside_regions() {
        let regions = vec!["us-east-1".to_owned(), "eu-west-1".to_owned()];
        let m = aggregate(
            [
                line("USE1-EU-AWS-Out-Bytes", 100.0, 2.0),
                line("USE1-EU-AWS-Out-Bytes", 50.0, 1.0),
                line("USE1-EU-AWS-In-Bytes", 150.0, 0.0),
                line("EU-USE1-AWS-Out-Bytes", 10.0, 0.2),
                line("EU-APN1-AWS-Out-Bytes", 5.0, 0.1),
                line("EU-DataTransfer-Regional-Bytes", 7.0, 0.07),
                Line {
                    usage_type: "EU-ReplWriteRequestUnits".into(),
                    quantity: 1e6,
                    usd: 0.69,
                    resource: Some("arn:aws:dynamodb:eu-west-1:1:table/shop-carts".into()),
                },
                line("QQQ1-EU-AWS-Out-Bytes", 1.0, 0.5),
                line("USE1-TimedStorage-ByteHrs", 1.0, 3.0),
            ],
            &regions,
        );
        assert_eq!(
            m.pair("us-east-1", "eu-west-1").map(|p| (p.gb, p.usd)),
            Some((150.0, 3.0))
        );
        assert_eq!(m.pair("eu-west-1", "us-east-1").map(|p| p.gb), Some(10.0));
        assert_eq!(
            m.pair("eu-west-1", OTHER).map(|p| p.gb),
            Some(5.0),
            "ap-northeast-1 is outside the deployment"
        );
        assert_eq!(m.cross_az["eu-west-1"].usd, 0.07);
        assert_eq!(m.replicated_writes["eu-west-1"].quantity, 1e6);
        assert_eq!(m.replicated_writes_by_table["shop-carts"], 0.69);
        assert!((m.transfer_usd - 3.3).abs() < 1e-9);
        assert_eq!(
            m.unknown,
            [Unplaced {
                usage_type: "QQQ1-EU-AWS-Out-Bytes".into(),
                usd: 0.5,
                why: "unknown region code \"QQQ1\"".into()
            }]
        );
        assert_eq!(m.other_usd, 3.0);
        assert!((m.budgeted_usd() - 3.99).abs() < 1e-9);
    }
}
