//! Scorecards and health scores: the rules, in exact integer arithmetic.
//!
//! Measure values, weights after redistribution, contributions and scores
//! are basis points (0 to 10,000). A scorecard states integer weights summing
//! to 100. A measure without data is left out and the stated weights of the
//! others are scaled to their sum (so their proportions stay); with no data
//! at all the score is absent.
//!
//! A measure's exact contribution is `w * v / W` (its stated weight `w`, its
//! value `v`, `W` the stated weights of the measures with data). The score is
//! the exact sum rounded half up; the contributions are the exact ones
//! rounded down, then the units still missing to reach the score given one
//! each to the largest remainders (ties to the earlier measure): largest
//! remainder, so that they always sum exactly to the score.

use std::collections::BTreeSet;

/// Most measures in a scorecard.
pub const MAX_MEASURES: usize = 6;
/// Fewest measures in a scorecard.
pub const MIN_MEASURES: usize = 2;
/// What the stated weights sum to.
pub const WEIGHT_TOTAL: i32 = 100;
/// The top of the score scale, in basis points.
pub const FULL: i32 = 10_000;
/// Days the breadth and seat use windows span.
pub const WINDOW_DAYS: i64 = 30;
/// Days of the recent part of the user trend.
pub const TREND_RECENT_DAYS: i64 = 7;
/// Days of the baseline before it.
pub const TREND_BASELINE_DAYS: i64 = 28;

/// A measure a scorecard may weigh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Measure {
    /// Key features used in 30 days / key features.
    Breadth,
    /// Users active in 30 days / seats, capped.
    SeatUse,
    /// Daily active users in 7 days against the 28 before.
    UserTrend,
    /// The latest CSM sentiment.
    Sentiment,
}

impl Measure {
    /// Every measure, in order.
    pub const ALL: [Measure; 4] = [
        Measure::Breadth,
        Measure::SeatUse,
        Measure::UserTrend,
        Measure::Sentiment,
    ];

    /// Its stored name.
    pub fn name(self) -> &'static str {
        match self {
            Measure::Breadth => "BREADTH",
            Measure::SeatUse => "SEAT_USE",
            Measure::UserTrend => "USER_TREND",
            Measure::Sentiment => "SENTIMENT",
        }
    }

    /// The measure stored as `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// A grade, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grade {
    /// The best.
    A,
    /// Good.
    B,
    /// Middling.
    C,
    /// Poor.
    D,
    /// The worst.
    E,
}

impl Grade {
    /// Its stored name.
    pub fn name(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
            Grade::D => "D",
            Grade::E => "E",
        }
    }

    /// The grade stored as `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        [Grade::A, Grade::B, Grade::C, Grade::D, Grade::E]
            .into_iter()
            .find(|g| g.name() == name)
    }
}

/// The inclusive lower bounds of grades A to D, in basis points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Thresholds {
    /// Lowest A.
    pub a: i32,
    /// Lowest B.
    pub b: i32,
    /// Lowest C.
    pub c: i32,
    /// Lowest D.
    pub d: i32,
}

impl Thresholds {
    /// Why these cut points are not acceptable, per field (`a_min`, ...).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if !(1..=FULL).contains(&self.a) {
            problems.push(("a_min", format!("must be 1 to {FULL}")));
        }
        for (field, value, above_name, above) in [
            ("b_min", self.b, "a_min", self.a),
            ("c_min", self.c, "b_min", self.b),
            ("d_min", self.d, "c_min", self.c),
        ] {
            if value < 1 || value >= above {
                problems.push((
                    field,
                    format!("must be at least 1 and below {above_name} ({above}): thresholds strictly decrease"),
                ));
            }
        }
        problems
    }

    /// The grade of `score`: the first grade whose lower bound it reaches.
    pub fn grade(&self, score: i32) -> Grade {
        if score >= self.a {
            Grade::A
        } else if score >= self.b {
            Grade::B
        } else if score >= self.c {
            Grade::C
        } else if score >= self.d {
            Grade::D
        } else {
            Grade::E
        }
    }
}

/// Why a list of (measure, weight) is not acceptable, per field relative to
/// the scorecard (`measures`, `measures[1].weight`, ...).
pub fn weight_problems(measures: &[(Measure, i32)]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if !(MIN_MEASURES..=MAX_MEASURES).contains(&measures.len()) {
        problems.push((
            "measures".to_owned(),
            format!("must hold {MIN_MEASURES} to {MAX_MEASURES} measures"),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, (measure, weight)) in measures.iter().enumerate() {
        if !seen.insert(*measure) {
            problems.push((
                format!("measures[{i}].measure"),
                format!("{} is listed twice", measure.name()),
            ));
        }
        if !(1..=WEIGHT_TOTAL).contains(weight) {
            problems.push((
                format!("measures[{i}].weight"),
                format!("must be 1 to {WEIGHT_TOTAL}"),
            ));
        }
    }
    let sum: i64 = measures.iter().map(|(_, w)| i64::from(*w)).sum();
    if !measures.is_empty() && sum != i64::from(WEIGHT_TOTAL) {
        problems.push((
            "measures".to_owned(),
            format!("weights must sum to exactly {WEIGHT_TOTAL}, not {sum}"),
        ));
    }
    problems
}

/// What a caller states of a scorecard version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// Name to show.
    pub display_name: String,
    /// Measures and stated weights, in order.
    pub measures: Vec<(Measure, i32)>,
    /// Grade cut points.
    pub thresholds: Thresholds,
}

/// A scorecard at one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scorecard {
    /// Its key.
    pub key: String,
    /// Its scope: a tier's name (`TIER_HIGH_TOUCH`), or `TIER_UNSPECIFIED`
    /// for the default.
    pub tier: String,
    /// The version's definition.
    pub definition: Definition,
    /// The version.
    pub version: i64,
    /// Published at.
    pub create_time: chrono::DateTime<chrono::Utc>,
    /// Published by.
    pub created_by: String,
    /// The latest version of the scorecard (for its etag).
    pub latest: i64,
}

/// The opaque version tag of a scorecard's latest version.
pub fn etag(latest: i64) -> String {
    format!("v{latest}")
}

/// One measure's part in a score.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Part {
    /// The measure's stored name.
    pub measure: String,
    /// Its value; none without data.
    pub value: Option<i32>,
    /// Its stated weight.
    pub stated_weight: i32,
    /// Its weight after redistribution, basis points (sum 10,000).
    pub weight: i32,
    /// Its contribution, basis points (sum: the score).
    pub contribution: i32,
}

/// A computed score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Score {
    /// 0 to 10,000; none when no measure had data.
    pub score: Option<i32>,
    /// Its grade; none with the score.
    pub grade: Option<Grade>,
    /// Every measure, in the scorecard's order.
    pub parts: Vec<Part>,
}

/// Splits `total` over items of exact shares `numerators[i] / denominator`
/// (whose sum is at least `total` rounded down): each gets its share rounded
/// down, then the units missing to `total` go one each to the largest
/// remainders, ties to the earlier item.
pub(crate) fn largest_remainder(numerators: &[i64], denominator: i64, total: i64) -> Vec<i64> {
    let mut out: Vec<i64> = numerators.iter().map(|n| n / denominator).collect();
    let missing = total - out.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..numerators.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(numerators[i] % denominator), i));
    for &i in order
        .iter()
        .take(usize::try_from(missing.max(0)).unwrap_or(0))
    {
        out[i] += 1;
    }
    out
}

/// Scores `values` (per measure of the scorecard, in its order, none without
/// data) with `measures` (stated weights) and `thresholds`.
pub fn score(
    measures: &[(Measure, i32)],
    values: &[Option<i32>],
    thresholds: &Thresholds,
) -> Score {
    let with_data: Vec<(usize, i64, i64)> = measures
        .iter()
        .zip(values)
        .enumerate()
        .filter_map(|(i, ((_, w), v))| v.map(|v| (i, i64::from(*w), i64::from(v.clamp(0, FULL)))))
        .collect();
    let total_weight: i64 = with_data.iter().map(|(_, w, _)| w).sum();
    let mut parts: Vec<Part> = measures
        .iter()
        .zip(values)
        .map(|((m, w), v)| Part {
            measure: m.name().to_owned(),
            value: v.map(|v| v.clamp(0, FULL)),
            stated_weight: *w,
            weight: 0,
            contribution: 0,
        })
        .collect();
    if total_weight == 0 {
        return Score {
            score: None,
            grade: None,
            parts,
        };
    }
    let weights = largest_remainder(
        &with_data
            .iter()
            .map(|(_, w, _)| w * i64::from(FULL))
            .collect::<Vec<_>>(),
        total_weight,
        i64::from(FULL),
    );
    let products: Vec<i64> = with_data.iter().map(|(_, w, v)| w * v).collect();
    let exact: i64 = products.iter().sum();
    let total = (2 * exact + total_weight) / (2 * total_weight);
    let contributions = largest_remainder(&products, total_weight, total);
    for (k, (i, _, _)) in with_data.iter().enumerate() {
        parts[*i].weight = i32::try_from(weights[k]).unwrap_or(FULL);
        parts[*i].contribution = i32::try_from(contributions[k]).unwrap_or(FULL);
    }
    let total = i32::try_from(total).unwrap_or(FULL);
    Score {
        score: Some(total),
        grade: Some(thresholds.grade(total)),
        parts,
    }
}

/// The value of every measure for one account and product, in basis
/// points; none without data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inputs {
    /// Breadth.
    pub breadth: Option<i32>,
    /// Seat use.
    pub seat_use: Option<i32>,
    /// User trend.
    pub user_trend: Option<i32>,
    /// Sentiment.
    pub sentiment: Option<i32>,
}

impl Inputs {
    /// The values of `measures`, in their order.
    pub fn values(&self, measures: &[(Measure, i32)]) -> Vec<Option<i32>> {
        measures
            .iter()
            .map(|(m, _)| match m {
                Measure::Breadth => self.breadth,
                Measure::SeatUse => self.seat_use,
                Measure::UserTrend => self.user_trend,
                Measure::Sentiment => self.sentiment,
            })
            .collect()
    }
}

/// `part / whole` in basis points, rounded half up and capped at 10,000;
/// none when `whole` is 0.
pub fn ratio(part: i64, whole: i64) -> Option<i32> {
    (whole > 0).then(|| {
        let bp = (part.max(0) * 20_000 + whole) / (2 * whole);
        i32::try_from(bp.min(i64::from(FULL))).unwrap_or(FULL)
    })
}

/// The user trend from the daily active users of the last 7 days summed
/// (`recent`) and of the 28 days before summed (`baseline`): 5,000 times the
/// ratio of the daily averages, capped at 10,000, rounded half up; none when
/// the baseline is 0.
pub fn user_trend(recent: i64, baseline: i64) -> Option<i32> {
    // (recent / 7) / (baseline / 28) * 5,000 = recent * 28 * 5,000 / (baseline * 7).
    let num = recent.max(0) * TREND_BASELINE_DAYS * 5_000;
    let den = baseline * TREND_RECENT_DAYS;
    (baseline > 0).then(|| {
        let bp = (2 * num + den) / (2 * den);
        i32::try_from(bp.min(i64::from(FULL))).unwrap_or(FULL)
    })
}

/// A 1-5 rating on the 0-100 sentiment scale.
pub fn rating_to_score(rating: i32) -> Option<i32> {
    (1..=5).contains(&rating).then(|| (rating - 1) * 25)
}

/// The parts whose contribution differs between `before` and `after`, by
/// measure name: (measure, before, after).
pub fn moved(before: &[Part], after: &[Part]) -> Vec<(String, i32, i32)> {
    let mut names: Vec<&str> = after.iter().map(|p| p.measure.as_str()).collect();
    for p in before {
        if !names.contains(&p.measure.as_str()) {
            names.push(&p.measure);
        }
    }
    let of = |parts: &[Part], name: &str| {
        parts
            .iter()
            .find(|p| p.measure == name)
            .map_or(0, |p| p.contribution)
    };
    names
        .into_iter()
        .filter_map(|name| {
            let (b, a) = (of(before, name), of(after, name));
            (b != a).then(|| (name.to_owned(), b, a))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CUTS: Thresholds = Thresholds {
        a: 8_000,
        b: 6_000,
        c: 4_000,
        d: 2_000,
    };

    #[test]
    fn weights_must_sum_to_exactly_100() {
        let ok = [(Measure::Breadth, 60), (Measure::Sentiment, 40)];
        assert!(weight_problems(&ok).is_empty());
        let short = [(Measure::Breadth, 60), (Measure::Sentiment, 39)];
        let problems = weight_problems(&short);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "measures");
        assert!(problems[0].1.contains("99"));
        let over = [(Measure::Breadth, 60), (Measure::Sentiment, 41)];
        assert_eq!(weight_problems(&over).len(), 1);
        let twice = [(Measure::Breadth, 50), (Measure::Breadth, 50)];
        assert_eq!(weight_problems(&twice)[0].0, "measures[1].measure");
        let one = [(Measure::Breadth, 100)];
        assert_eq!(weight_problems(&one)[0].0, "measures");
        let zero = [(Measure::Breadth, 0), (Measure::SeatUse, 100)];
        assert_eq!(weight_problems(&zero)[0].0, "measures[0].weight");
    }

    #[test]
    fn a_score_at_a_cut_takes_the_grade_above_and_one_below_the_grade_below() {
        for (cut, at, below) in [
            (CUTS.a, Grade::A, Grade::B),
            (CUTS.b, Grade::B, Grade::C),
            (CUTS.c, Grade::C, Grade::D),
            (CUTS.d, Grade::D, Grade::E),
        ] {
            assert_eq!(CUTS.grade(cut), at, "at {cut}");
            assert_eq!(CUTS.grade(cut - 1), below, "below {cut}");
        }
        assert_eq!(CUTS.grade(FULL), Grade::A);
        assert_eq!(CUTS.grade(0), Grade::E);
    }

    #[test]
    fn thresholds_must_strictly_decrease() {
        assert!(CUTS.problems().is_empty());
        let equal = Thresholds { b: 8_000, ..CUTS };
        assert_eq!(equal.problems()[0].0, "b_min");
        let unordered = Thresholds { c: 7_000, ..CUTS };
        assert_eq!(unordered.problems()[0].0, "c_min");
        let zero = Thresholds { d: 0, ..CUTS };
        assert_eq!(zero.problems()[0].0, "d_min");
        let high = Thresholds { a: 10_001, ..CUTS };
        assert_eq!(high.problems()[0].0, "a_min");
    }

    #[test]
    fn a_measure_without_data_gives_its_weight_to_the_others_in_proportion() {
        let measures = [
            (Measure::Breadth, 50),
            (Measure::SeatUse, 30),
            (Measure::Sentiment, 20),
        ];
        // Seat use has no data: breadth and sentiment weigh 50:20 = 5/7, 2/7.
        let s = score(&measures, &[Some(8_000), None, Some(1_000)], &CUTS);
        // Exact: (50 * 8,000 + 20 * 1,000) / 70 = 6,000.
        assert_eq!(s.score, Some(6_000));
        assert_eq!(s.grade, Some(Grade::B));
        let weights: Vec<i32> = s.parts.iter().map(|p| p.weight).collect();
        // 7,142.86 and 2,857.14: 7,143 + 2,857 = 10,000.
        assert_eq!(weights, vec![7_143, 0, 2_857]);
        let contributions: Vec<i32> = s.parts.iter().map(|p| p.contribution).collect();
        // 5,714.29 and 285.71: the larger remainder takes the missing unit.
        assert_eq!(contributions, vec![5_714, 0, 286]);
        assert_eq!(s.parts[1].value, None);

        // Nothing has data: no score, no grade.
        let none = score(&measures, &[None, None, None], &CUTS);
        assert_eq!((none.score, none.grade), (None, None));
        assert!(
            none.parts
                .iter()
                .all(|p| p.contribution == 0 && p.weight == 0)
        );
    }

    #[test]
    fn trend_and_ratios_map_as_documented() {
        assert_eq!(user_trend(7, 28), Some(5_000));
        assert_eq!(user_trend(0, 28), Some(0));
        assert_eq!(user_trend(14, 28), Some(10_000));
        assert_eq!(user_trend(100, 28), Some(10_000));
        assert_eq!(user_trend(7, 56), Some(2_500));
        assert_eq!(user_trend(5, 0), None);
        assert_eq!(ratio(1, 3), Some(3_333));
        assert_eq!(ratio(9, 4), Some(10_000));
        assert_eq!(ratio(1, 0), None);
        assert_eq!(rating_to_score(1), Some(0));
        assert_eq!(rating_to_score(4), Some(75));
        assert_eq!(rating_to_score(6), None);
    }

    #[test]
    fn the_measures_that_moved_a_score_are_those_whose_contribution_changed() {
        let part = |measure: &str, contribution| Part {
            measure: measure.into(),
            value: Some(contribution),
            stated_weight: 50,
            weight: 5_000,
            contribution,
        };
        let before = [part("BREADTH", 3_000), part("SENTIMENT", 2_000)];
        let after = [part("BREADTH", 3_000), part("SEAT_USE", 1_000)];
        assert_eq!(
            moved(&before, &after),
            vec![
                ("SEAT_USE".to_owned(), 0, 1_000),
                ("SENTIMENT".to_owned(), 2_000, 0),
            ]
        );
        assert!(moved(&after, &after).is_empty());
    }

    fn card() -> impl Strategy<Value = (Vec<(Measure, i32)>, Vec<Option<i32>>)> {
        (2usize..=4).prop_flat_map(|n| {
            let cuts = proptest::collection::btree_set(1i32..100, n - 1);
            let values = proptest::collection::vec(proptest::option::of(0i32..=FULL), n);
            (cuts, values).prop_map(move |(cuts, values)| {
                let mut bounds: Vec<i32> = vec![0];
                bounds.extend(cuts);
                bounds.push(100);
                let all = [
                    Measure::Breadth,
                    Measure::SeatUse,
                    Measure::UserTrend,
                    Measure::Sentiment,
                ];
                let measures = bounds
                    .windows(2)
                    .zip(all)
                    .map(|(w, m)| (m, w[1] - w[0]))
                    .collect();
                (measures, values)
            })
        })
    }

    proptest! {
        #[test]
        fn contributions_sum_exactly_to_the_score((measures, values) in card()) {
            prop_assert!(weight_problems(&measures).is_empty());
            let s = score(&measures, &values, &CUTS);
            let sum: i32 = s.parts.iter().map(|p| p.contribution).sum();
            let weights: i32 = s.parts.iter().map(|p| p.weight).sum();
            match s.score {
                Some(total) => {
                    prop_assert_eq!(sum, total);
                    prop_assert_eq!(weights, FULL);
                    prop_assert!((0..=FULL).contains(&total));
                    for p in &s.parts {
                        prop_assert!(p.contribution >= 0);
                        if p.value.is_none() {
                            prop_assert_eq!(p.contribution, 0);
                        }
                    }
                }
                None => {
                    prop_assert!(values.iter().all(Option::is_none));
                    prop_assert_eq!(sum, 0);
                }
            }
        }
    }
}
