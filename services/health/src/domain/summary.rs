//! Health of a group of accounts from the latest score of each account and
//! product: the grade mix, and the mean score explained by measure the way
//! one score is, its parts adding up exactly.

use std::collections::{BTreeMap, BTreeSet};

use super::scorecard::{Grade, Measure, Score, largest_remainder};

/// A measure's part in a group's mean score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasurePart {
    /// The measure.
    pub measure: Measure,
    /// Its mean contribution, basis points; the parts sum to the mean.
    pub contribution: i32,
    /// Its mean value where it had data.
    pub mean_value: Option<i32>,
    /// Scores where it had data.
    pub with_data: i64,
}

/// The running totals of a group.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    accounts: BTreeSet<String>,
    /// Latest scores counted.
    pub scores: i64,
    /// Scores per grade (none: without data).
    pub grades: BTreeMap<Option<Grade>, i64>,
    sum: i64,
    with_data: i64,
    contributions: BTreeMap<Measure, i64>,
    values: BTreeMap<Measure, (i64, i64)>,
    /// Alerts open on the group's accounts.
    pub open_alerts: i64,
}

fn mean(sum: i64, n: i64) -> Option<i32> {
    (n > 0).then(|| i32::try_from((2 * sum + n) / (2 * n)).unwrap_or(i32::MAX))
}

impl Tally {
    /// Counts `score`, the latest of `account_id` with one product.
    pub fn add(&mut self, account_id: &str, score: &Score) {
        self.accounts.insert(account_id.to_owned());
        self.scores += 1;
        *self.grades.entry(score.grade).or_default() += 1;
        let Some(total) = score.score else {
            return;
        };
        self.sum += i64::from(total);
        self.with_data += 1;
        for part in &score.parts {
            let Some(measure) = Measure::from_name(&part.measure) else {
                continue;
            };
            *self.contributions.entry(measure).or_default() += i64::from(part.contribution);
            if let Some(value) = part.value {
                let entry = self.values.entry(measure).or_default();
                entry.0 += i64::from(value);
                entry.1 += 1;
            }
        }
    }

    /// Accounts counted.
    pub fn accounts(&self) -> i64 {
        self.accounts.len() as i64
    }

    /// The mean of the scores with data, half up.
    pub fn mean_score(&self) -> Option<i32> {
        mean(self.sum, self.with_data)
    }

    /// Each measure seen, in measure order, its mean contribution
    /// apportioned so that the parts sum exactly to the mean score.
    pub fn measures(&self) -> Vec<MeasurePart> {
        let measures: Vec<Measure> = Measure::ALL
            .into_iter()
            .filter(|m| self.contributions.contains_key(m) || self.values.contains_key(m))
            .collect();
        let numerators: Vec<i64> = measures
            .iter()
            .map(|m| self.contributions.get(m).copied().unwrap_or(0))
            .collect();
        let shares = match self.mean_score() {
            Some(total) => largest_remainder(&numerators, self.with_data, i64::from(total)),
            None => vec![0; measures.len()],
        };
        measures
            .into_iter()
            .zip(shares)
            .map(|(measure, share)| {
                let (sum, n) = self.values.get(&measure).copied().unwrap_or((0, 0));
                MeasurePart {
                    measure,
                    contribution: i32::try_from(share).unwrap_or(i32::MAX),
                    mean_value: mean(sum, n),
                    with_data: n,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::scorecard::{Thresholds, score};

    #[test]
    fn a_groups_mean_is_explained_by_measures_that_add_up_exactly() {
        let cuts = Thresholds {
            a: 8_000,
            b: 6_000,
            c: 4_000,
            d: 2_000,
        };
        let card = [(Measure::Breadth, 50), (Measure::Sentiment, 50)];
        let mut tally = Tally::default();
        tally.add("a1", &score(&card, &[Some(10_000), Some(8_000)], &cuts));
        tally.add("a2", &score(&card, &[Some(3_333), None], &cuts));
        tally.add("a2", &score(&card, &[Some(1), Some(0)], &cuts));
        tally.add("a3", &score(&card, &[None, None], &cuts));
        assert_eq!((tally.accounts(), tally.scores), (3, 4));
        // (9,000 + 3,333 + 1) / 3 = 4,111.33.
        assert_eq!(tally.mean_score(), Some(4_111));
        let parts = tally.measures();
        let sum: i32 = parts.iter().map(|p| p.contribution).sum();
        assert_eq!(sum, 4_111);
        assert_eq!(parts[0].measure, Measure::Breadth);
        // Contributions 8,334 and 4,000 over three scores: 2,778 + 1,333.
        assert_eq!(
            parts.iter().map(|p| p.contribution).collect::<Vec<_>>(),
            vec![2_778, 1_333]
        );
        // Breadth (10,000 + 3,333 + 1) / 3 = 4,444.67.
        assert_eq!(parts[0].mean_value, Some(4_445));
        assert_eq!((parts[1].with_data, parts[1].mean_value), (2, Some(4_000)));
        assert_eq!(tally.grades.get(&None), Some(&1));
        assert_eq!(tally.grades.get(&Some(Grade::A)), Some(&1));
        assert!(Tally::default().mean_score().is_none());
        assert!(Tally::default().measures().is_empty());
    }
}
