//! Handlers of outcomes: imported history, churn retrospectives and
//! backtests of scorecards against churn.

use chrono::NaiveDate;
use themodel_platform::{
    Violations,
    auth::principal,
    page_token,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::{common::FieldViolation, health as pb};
use tonic::Request;

use super::Handler;
use crate::{
    convert::{key, scores::scorecard_key},
    domain::{
        access::{BACKTESTERS, RULE_WRITERS},
        backtest::{
            DEFAULT_HORIZON_DAYS, DEFAULT_STEP_DAYS, MAX_HORIZON_DAYS, MAX_SPAN_DAYS, as_of_days,
        },
        scorecard::Grade,
        usage::{INVALID_FIELD, MAX_EVENTS, UNKNOWN_ACCOUNT},
    },
    error::{Error, Result},
    store::{
        backtest::{Backtest, run},
        outcomes::{ChurnCursor, ChurnFilter, Kind, NewOutcome},
    },
};

/// The grade from which down a score predicts churn, unless asked.
const DEFAULT_CHURN_GRADE: Grade = Grade::D;

fn grade(value: i32) -> Result<Option<Grade>, Vec<themodel_platform::Violation>> {
    Ok(match validate::known_enum::<pb::Grade>(value)? {
        pb::Grade::Unspecified => None,
        pb::Grade::A => Some(Grade::A),
        pb::Grade::B => Some(Grade::B),
        pb::Grade::C => Some(Grade::C),
        pb::Grade::D => Some(Grade::D),
        pb::Grade::E => Some(Grade::E),
    })
}

/// An outcome whose fields are valid, its account still a reference.
struct Checked {
    index: i32,
    account_id: Option<String>,
    external_id: Option<String>,
    kind: Kind,
    date: NaiveDate,
    product_key: String,
}

fn check(index: i32, o: &pb::Outcome, today: NaiveDate) -> Result<Checked, Violations> {
    let mut v = Violations::new();
    let (account_id, external_id) =
        match (o.account_id.is_empty(), o.account_external_id.is_empty()) {
            (false, _) => (
                v.check("account_id", validate::resource_id(&o.account_id)),
                None,
            ),
            (true, false) => (
                None,
                v.check(
                    "account_external_id",
                    validate::external_id(&o.account_external_id),
                ),
            ),
            (true, true) => {
                v.add("account_id", "is required (or account_external_id)");
                (None, None)
            }
        };
    let kind = match v.check("kind", validate::known_enum::<pb::OutcomeKind>(o.kind)) {
        Some(pb::OutcomeKind::Churned) => Some(Kind::Churned),
        Some(pb::OutcomeKind::Renewed) => Some(Kind::Renewed),
        Some(pb::OutcomeKind::Reactivated) => Some(Kind::Reactivated),
        Some(pb::OutcomeKind::Unspecified) => {
            v.add("kind", "is required");
            None
        }
        None => None,
    };
    let date = match &o.date {
        Some(d) => v.check("date", validate::date(d)).filter(|d| {
            let future = *d > today;
            if future {
                v.add("date", "must not be after today");
            }
            !future
        }),
        None => {
            v.add("date", "is required");
            None
        }
    };
    let product_key = if o.product_key.is_empty() {
        Some(String::new())
    } else {
        v.check("product_key", key(&o.product_key))
    };
    if kind == Some(Kind::Renewed) && o.product_key.is_empty() {
        v.add("product_key", "is required for a renewal");
    }
    match (kind, date, product_key, v.is_empty()) {
        (Some(kind), Some(date), Some(product_key), true) => Ok(Checked {
            index,
            account_id,
            external_id,
            kind,
            date,
            product_key,
        }),
        _ => Err(v),
    }
}

fn rejected(index: i32, reason: &str, violations: Vec<FieldViolation>) -> pb::RejectedOutcome {
    pb::RejectedOutcome {
        index,
        reason: reason.to_owned(),
        violations,
    }
}

impl Handler {
    pub(super) async fn import_outcomes(
        &self,
        request: Request<pb::ImportOutcomesRequest>,
    ) -> Result<pb::ImportOutcomesResponse> {
        let principal = principal(&request)?;
        principal.require(RULE_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        if req.outcomes.is_empty() || req.outcomes.len() > MAX_EVENTS {
            v.add("outcomes", format!("must hold 1 to {MAX_EVENTS} outcomes"));
        }
        v.finish(|| ())?;
        let today = chrono::Utc::now().date_naive();
        let mut rejections = Vec::new();
        let mut checked = Vec::with_capacity(req.outcomes.len());
        for (i, o) in req.outcomes.iter().enumerate() {
            let index = i32::try_from(i).unwrap_or(i32::MAX);
            match check(index, o, today) {
                Ok(c) => checked.push(c),
                Err(v) => {
                    let violations = v
                        .into_vec()
                        .into_iter()
                        .map(|v| FieldViolation {
                            field: v.field,
                            description: v.description,
                        })
                        .collect();
                    rejections.push(rejected(index, INVALID_FIELD, violations));
                }
            }
        }
        let ids: Vec<&str> = checked
            .iter()
            .filter_map(|c| c.account_id.as_deref())
            .collect();
        let externals: Vec<&str> = checked
            .iter()
            .filter_map(|c| c.external_id.as_deref())
            .collect();
        let (by_id, by_external) = self
            .resolve_accounts(&request, &principal, &ids, &externals)
            .await?;
        let mut outcomes = Vec::with_capacity(checked.len());
        for c in checked {
            let account = match (&c.account_id, &c.external_id) {
                (Some(id), _) => by_id.get(id),
                (None, Some(external)) => by_external.get(external),
                (None, None) => None,
            };
            let Some(account) = account else {
                let field = if c.account_id.is_some() {
                    "account_id"
                } else {
                    "account_external_id"
                };
                rejections.push(rejected(
                    c.index,
                    UNKNOWN_ACCOUNT,
                    vec![FieldViolation {
                        field: field.into(),
                        description: "is not an account of the suite".into(),
                    }],
                ));
                continue;
            };
            outcomes.push(NewOutcome {
                account_id: account.id.clone(),
                kind: c.kind,
                date: c.date,
                product_key: c.product_key,
            });
        }
        rejections.sort_by_key(|r| r.index);
        let idempotency = IdempotencyKey::new(&principal, request_id, "ImportOutcomes", req);
        self.outcomes
            .import(idempotency, outcomes, rejections)
            .await
    }

    pub(super) async fn list_churn_retrospectives(
        &self,
        request: Request<pb::ListChurnRetrospectivesRequest>,
    ) -> Result<pb::ListChurnRetrospectivesResponse> {
        let principal = principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let from = req
            .start_date
            .as_ref()
            .and_then(|d| v.check("start_date", validate::date(d)));
        let to = req
            .end_date
            .as_ref()
            .and_then(|d| v.check("end_date", validate::date(d)));
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            v.add("end_date", "must not be before start_date");
        }
        let account_id = (!req.account_id.is_empty())
            .then(|| v.check("account_id", validate::resource_id(&req.account_id)))
            .flatten();
        let ymd =
            |d: &Option<themodel_proto::common::Date>| d.as_ref().map(|d| (d.year, d.month, d.day));
        let filters = (ymd(&req.start_date), ymd(&req.end_date), &req.account_id);
        let after = v
            .check(
                "",
                page_token::decode::<ChurnCursor>(&req.page_token, &filters),
            )
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let filter = ChurnFilter {
            from,
            to,
            account_id,
            partner_id: principal.partner_scope().map(str::to_owned),
        };
        let (found, more) = self
            .outcomes
            .retrospectives(&filter, after, page_size, DEFAULT_CHURN_GRADE)
            .await?;
        let next_page_token = match found.last() {
            Some((_, cursor)) if more => page_token::encode(cursor, &filters),
            _ => String::new(),
        };
        Ok(pb::ListChurnRetrospectivesResponse {
            retrospectives: found.into_iter().map(|(r, _)| r).collect(),
            next_page_token,
        })
    }

    pub(super) async fn backtest_scorecard(
        &self,
        request: Request<pb::BacktestScorecardRequest>,
    ) -> Result<pb::BacktestScorecardResponse> {
        let principal = principal(&request)?;
        principal.require(BACKTESTERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let card_key = v.check("scorecard_key", scorecard_key(&req.scorecard_key));
        if req.version < 0 {
            v.add("version", "must be 0 (the latest) or a version");
        }
        let product_key = v.check("product_key", key(&req.product_key));
        let today = chrono::Utc::now().date_naive();
        let required_date = |v: &mut Violations, field: &str, d: &Option<_>| match d {
            Some(d) => v.check(field, validate::date(d)),
            None => {
                v.add(field, "is required");
                None
            }
        };
        let start = required_date(&mut v, "start_date", &req.start_date);
        let end = required_date(&mut v, "end_date", &req.end_date);
        if let (Some(start), Some(end)) = (start, end) {
            if end < start {
                v.add("end_date", "must not be before start_date");
            } else if (end - start).num_days() > MAX_SPAN_DAYS {
                v.add(
                    "end_date",
                    format!("must be at most {MAX_SPAN_DAYS} days after start_date"),
                );
            }
            if end > today {
                v.add("end_date", "must not be after today");
            }
        }
        let step = match req.step_days {
            0 => DEFAULT_STEP_DAYS,
            s if (1..=365).contains(&s) => s,
            _ => {
                v.add("step_days", "must be 0 (30) or 1 to 365");
                DEFAULT_STEP_DAYS
            }
        };
        let horizon = match req.horizon_days {
            0 => DEFAULT_HORIZON_DAYS,
            h if (1..=MAX_HORIZON_DAYS).contains(&h) => h,
            _ => {
                v.add(
                    "horizon_days",
                    format!("must be 0 (90) or 1 to {MAX_HORIZON_DAYS}"),
                );
                DEFAULT_HORIZON_DAYS
            }
        };
        let churn_grade = v
            .check("churn_grade", grade(req.churn_grade))
            .map(|g| g.unwrap_or(DEFAULT_CHURN_GRADE));
        let (Some(card_key), Some(product_key), Some(start), Some(end), Some(churn_grade), true) =
            (card_key, product_key, start, end, churn_grade, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let version = (req.version > 0).then_some(req.version);
        let card = self
            .scores
            .scorecard(&card_key, version)
            .await?
            .ok_or_else(|| {
                Error::ScorecardNotFound(match version {
                    Some(n) => format!("{card_key} version {n}"),
                    None => card_key.clone(),
                })
            })?;
        self.ensure_product(&request, &product_key).await?;
        let days = as_of_days(start, end, step);
        let result = run(
            &self.scores.store().db,
            &Backtest {
                card: &card,
                product_key: &product_key,
                days: &days,
                horizon_days: horizon,
                churn_grade,
            },
        )
        .await?;
        Ok(pb::BacktestScorecardResponse {
            result: Some(result),
        })
    }
}
