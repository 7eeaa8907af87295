//! Cost Explorer: the month's cost and usage, daily, grouped by usage type, every page
//! followed. Each call costs $0.01, so calls are counted and reported.

use aws_sdk_costexplorer::Client;
use aws_sdk_costexplorer::types::{
    DateInterval, Expression, Granularity, GroupDefinition, GroupDefinitionType, MatchOption,
    TagValues,
};

use super::budget::Month;
use super::matrix::Line;

#[derive(Debug, thiserror::Error)]
pub enum ExplorerError {
    #[error(transparent)]
    Call(#[from] crate::aws::CallError),
    #[error("cost explorer GetCostAndUsage: {0}")]
    Request(String),
}

pub async fn client(endpoint_url: Option<&str>) -> Client {
    // Cost Explorer is a global service answered from us-east-1.
    Client::new(&crate::aws::sdk_config("us-east-1", endpoint_url).await)
}

/// The cost-allocation tag geoplan puts on every resource it renders.
pub const TAG: &str = "geoplan:name";

/// Usage tagged `geoplan:name = <deployment>` only.
pub fn tag_filter(deployment: &str) -> Expression {
    Expression::builder()
        .tags(
            TagValues::builder()
                .key(TAG)
                .values(deployment)
                .match_options(MatchOption::Equals)
                .build(),
        )
        .build()
}

/// The month's usage lines (one per usage type per day) and the number of calls made.
/// `today` (`YYYY-MM-DD`) bounds the period: Cost Explorer has no data for the future.
/// With a `filter`, only the usage it selects.
pub async fn month_lines(
    client: &Client,
    month: Month,
    today: &str,
    filter: Option<Expression>,
) -> Result<(Vec<Line>, u32), ExplorerError> {
    let start = month.date(1);
    let next = month.next().date(1);
    let end = if today > start.as_str() && today < next.as_str() {
        today.to_owned()
    } else {
        next
    };
    let period = DateInterval::builder()
        .start(&start)
        .end(&end)
        .build()
        .map_err(|e| ExplorerError::Request(e.to_string()))?;
    let group = GroupDefinition::builder()
        .r#type(GroupDefinitionType::Dimension)
        .key("USAGE_TYPE")
        .build();
    let mut lines = Vec::new();
    let mut calls = 0;
    let mut token: Option<String> = None;
    loop {
        let resp = client
            .get_cost_and_usage()
            .time_period(period.clone())
            .granularity(Granularity::Daily)
            .metrics("UnblendedCost")
            .metrics("UsageQuantity")
            .group_by(group.clone())
            .set_filter(filter.clone())
            .set_next_page_token(token.clone())
            .send()
            .await
            .map_err(|e| crate::aws::explain("Cost Explorer", "GetCostAndUsage", &e))?;
        calls += 1;
        for day in resp.results_by_time() {
            for g in day.groups() {
                let Some(usage_type) = g.keys().first() else {
                    continue;
                };
                let metric = |name: &str| {
                    g.metrics()
                        .and_then(|m| m.get(name))
                        .and_then(|v| v.amount())
                        .and_then(|a| a.parse::<f64>().ok())
                        .unwrap_or(0.0)
                };
                lines.push(Line {
                    usage_type: usage_type.clone(),
                    quantity: metric("UsageQuantity"),
                    usd: metric("UnblendedCost"),
                    resource: None,
                });
            }
        }
        match resp.next_page_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok((lines, calls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_filter_selects_this_deployment_exactly() {
        let f = tag_filter("shop");
        let tags = f.tags().unwrap();
        assert_eq!(
            (tags.key(), tags.values(), tags.match_options()),
            (
                Some("geoplan:name"),
                &["shop".to_owned()][..],
                &[MatchOption::Equals][..]
            )
        );
        assert!(f.dimensions().is_none() && f.and().is_empty() && f.not().is_none());
    }
}
