//! Capacity forecast: the onboarding hours a bookings forecast needs month
//! by month, against the onboarding CSMs' hours, in whole hours.

use std::collections::BTreeMap;

/// A month: (year, month).
pub type Month = (i32, u32);

/// The month `n` months after `m`.
pub fn plus(m: Month, n: u32) -> Month {
    let index = i64::from(m.0) * 12 + i64::from(m.1) - 1 + i64::from(n);
    (
        i32::try_from(index.div_euclid(12)).unwrap_or(i32::MAX),
        u32::try_from(index.rem_euclid(12) + 1).unwrap_or(1),
    )
}

/// Contracts of a month with what each takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cohort {
    /// The month they start.
    pub month: Month,
    /// How many.
    pub contracts: i64,
    /// Hours each.
    pub hours: i64,
    /// Months the hours spread over, at least 1.
    pub months: u32,
}

/// One forecast month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forecast {
    /// The month.
    pub month: Month,
    /// Hours needed.
    pub needed: i64,
    /// Hours available.
    pub available: i64,
    /// needed / available, basis points, half up.
    pub utilisation: Option<i64>,
    /// CSMs needed.
    pub csms: i64,
}

impl Forecast {
    /// More needed than available.
    pub fn over(&self) -> bool {
        self.needed > self.available
    }
}

/// The months from the first cohort's to the last with hours, each cohort's
/// hours spread evenly over its months (the remainder one hour each to the
/// earlier months), against `csms` × `hours_per_csm` a month.
pub fn forecast(cohorts: &[Cohort], csms: i64, hours_per_csm: i64) -> Vec<Forecast> {
    let mut needed: BTreeMap<Month, i64> = BTreeMap::new();
    for c in cohorts {
        let total = c.contracts * c.hours;
        let n = i64::from(c.months.max(1));
        for k in 0..c.months.max(1) {
            let extra = i64::from(i64::from(k) < total % n);
            *needed.entry(plus(c.month, k)).or_default() += total / n + extra;
        }
    }
    let (Some(first), Some(last)) = (
        cohorts.iter().map(|c| c.month).min(),
        needed.keys().next_back().copied(),
    ) else {
        return Vec::new();
    };
    let available = csms * hours_per_csm;
    let mut out = Vec::new();
    let mut m = first;
    while m <= last {
        let need = needed.get(&m).copied().unwrap_or(0);
        out.push(Forecast {
            month: m,
            needed: need,
            available,
            utilisation: (available > 0).then(|| (need * 20_000 + available) / (2 * available)),
            csms: (need + hours_per_csm - 1) / hours_per_csm.max(1),
        });
        m = plus(m, 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_roll_over_the_year() {
        assert_eq!(plus((2026, 11), 3), (2027, 2));
        assert_eq!(plus((2026, 12), 0), (2026, 12));
    }

    #[test]
    fn the_first_month_over_capacity_is_found() {
        // 10 high-touch contracts a month from January at 30 hours over 3
        // months (10 hours a month each), 2 CSMs with 120 hours each: 240.
        let cohorts: Vec<Cohort> = (1..=4)
            .map(|m| Cohort {
                month: (2027, m),
                contracts: 10,
                hours: 30,
                months: 3,
            })
            .collect();
        let months = forecast(&cohorts, 2, 120);
        let needed: Vec<i64> = months.iter().map(|f| f.needed).collect();
        // Jan 100, Feb 200, Mar 300, Apr 300, May 200, Jun 100.
        assert_eq!(needed, vec![100, 200, 300, 300, 200, 100]);
        let first_over = months.iter().position(Forecast::over);
        assert_eq!(first_over, Some(2), "March breaks");
        assert_eq!(months[2].utilisation, Some(12_500));
        assert_eq!(months[2].csms, 3);
        assert_eq!(months[1].utilisation, Some(8_333));
    }

    #[test]
    fn uneven_hours_go_to_the_earlier_months() {
        let months = forecast(
            &[Cohort {
                month: (2027, 1),
                contracts: 1,
                hours: 10,
                months: 3,
            }],
            0,
            100,
        );
        let needed: Vec<i64> = months.iter().map(|f| f.needed).collect();
        assert_eq!(needed, vec![4, 3, 3]);
        assert!(months.iter().all(|f| f.utilisation.is_none() && f.over()));
    }
}
