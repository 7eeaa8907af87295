//! Months, month-to-date spend, a linear forecast to month end, and which budget
//! thresholds are crossed. Pure: dates are passed in.

use std::time::SystemTime;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl std::str::FromStr for Month {
    type Err = String;

    fn from_str(s: &str) -> Result<Month, String> {
        let bad = || format!("{s:?} is not a month like 2026-11");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        let (year, month) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if y.len() != 4 || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }
}

impl Month {
    pub fn days(self) -> u32 {
        match self.month {
            4 | 6 | 9 | 11 => 30,
            2 if (self.year % 4 == 0 && self.year % 100 != 0) || self.year % 400 == 0 => 29,
            2 => 28,
            _ => 31,
        }
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// `YYYY-MM-DD` of a day in this month.
    pub fn date(self, day: u32) -> String {
        format!("{self}-{day:02}")
    }
}

/// A moment as (month, fractional day of month elapsed), in UTC.
pub fn civil(t: SystemTime) -> (Month, f64) {
    // RFC 3339 is the one civil-date formatting std-adjacent crates give us.
    let s = humantime::format_rfc3339_seconds(t).to_string(); // 2026-11-27T17:10:00Z
    let n = |a: usize, b: usize| s[a..b].parse::<u32>().unwrap_or(0);
    let month = Month {
        year: n(0, 4) as i32,
        month: n(5, 7),
    };
    let elapsed = (n(8, 10) - 1) as f64
        + (n(11, 13) as f64 * 3600.0 + n(14, 16) as f64 * 60.0 + n(17, 19) as f64) / 86_400.0;
    (month, elapsed)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetState {
    pub month: Month,
    pub budget_usd: f64,
    pub spend_usd: f64,
    /// Spend extrapolated linearly to the end of the month.
    pub forecast_usd: f64,
    pub fraction: f64,
    pub forecast_fraction: f64,
    /// The alert thresholds the spend has reached.
    pub crossed: Vec<f64>,
    /// Every alert threshold, as fractions of the budget.
    pub alert_at: Vec<f64>,
    /// Whether the month is over (then the forecast is the spend).
    pub complete: bool,
    /// Days of the month elapsed when the spend was read (all of them once complete),
    /// and the month's length: the x axis of a burn-up chart.
    pub elapsed_days: f64,
    pub days: u32,
}

pub fn state(
    month: Month,
    spend_usd: f64,
    budget_usd: f64,
    alert_at: &[f64],
    now: SystemTime,
) -> BudgetState {
    let (current, elapsed_days) = civil(now);
    let complete = month < current;
    let forecast_usd = if complete || month > current {
        spend_usd
    } else {
        // At least an hour in, so a forecast on the 1st is not a division by ~0.
        spend_usd / elapsed_days.max(1.0 / 24.0) * month.days() as f64
    };
    let fraction = spend_usd / budget_usd;
    BudgetState {
        month,
        budget_usd,
        spend_usd,
        forecast_usd,
        fraction,
        forecast_fraction: forecast_usd / budget_usd,
        crossed: alert_at
            .iter()
            .copied()
            .filter(|a| fraction >= *a)
            .collect(),
        alert_at: alert_at.to_vec(),
        complete,
        elapsed_days: match month.cmp(&current) {
            std::cmp::Ordering::Less => month.days() as f64,
            std::cmp::Ordering::Equal => elapsed_days.min(month.days() as f64),
            std::cmp::Ordering::Greater => 0.0,
        },
        days: month.days(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn months_parse_and_count_days() {
        let m: Month = "2024-02".parse().unwrap();
        assert_eq!(
            (m.days(), m.next().to_string(), m.date(1)),
            (29, "2024-03".into(), "2024-02-01".into())
        );
        assert_eq!(
            "2026-12".parse::<Month>().unwrap().next().to_string(),
            "2027-01"
        );
        assert!("2026-13".parse::<Month>().is_err());
        assert!("26-1".parse::<Month>().is_err());
    }

    #[test]
    fn forecasts_linearly_and_lists_crossed_thresholds() {
        // 2026-11-16T00:00:00Z: 15 of 30 days elapsed.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_794_787_200);
        assert_eq!(civil(now), ("2026-11".parse().unwrap(), 15.0));
        let s = state(
            "2026-11".parse().unwrap(),
            300.0,
            500.0,
            &[0.5, 0.8, 1.0],
            now,
        );
        assert_eq!(
            (s.forecast_usd, s.fraction, s.crossed.clone(), s.complete),
            (600.0, 0.6, vec![0.5], false)
        );
        assert_eq!(
            (s.elapsed_days, s.days, s.alert_at.clone()),
            (15.0, 30, vec![0.5, 0.8, 1.0])
        );
        let past = state(
            "2026-10".parse().unwrap(),
            450.0,
            500.0,
            &[0.5, 0.8, 1.0],
            now,
        );
        assert_eq!(
            (past.forecast_usd, past.crossed, past.complete),
            (450.0, vec![0.5, 0.8], true)
        );
        assert_eq!(
            (past.elapsed_days, past.days),
            (31.0, 31),
            "a past month is all elapsed"
        );
    }
}
