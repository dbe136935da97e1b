//! Handlers of the renewal and QBR RPCs.

use std::collections::HashSet;

use chrono::NaiveDate;
use themodel_platform::{
    Violation, Violations,
    auth::{Principal, principal},
    page_token,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::{common, expansion as pb};
use tonic::Request;

use super::Handler;
use crate::{
    convert::{key, pipeline::reason, subscription::term},
    domain::{
        access::{CSQL_RAISERS, RENEWAL_OWNERS, RENEWAL_REVIEWERS},
        renewal::{
            MAX_STEPS, Plan, RenewalOutcome, Step, merge_steps, renewal_term, review_every_days,
        },
    },
    error::{Error, Result},
    store::{
        qbrs::{Attendee, Held},
        renewals::Due,
        subscriptions::today,
    },
};

/// Most items in a QBR's lists and attendees.
const MAX_ITEMS: usize = 50;
/// Most attendees of a QBR.
const MAX_ATTENDEES: usize = 100;
/// Longest list of renewals in days.
const MAX_RENEWAL_WINDOW_DAYS: i64 = 731;

fn items(field: &str, values: &[String], v: &mut Violations) -> Vec<String> {
    if values.len() > MAX_ITEMS {
        v.add(field, format!("must hold at most {MAX_ITEMS} items"));
    }
    values
        .iter()
        .enumerate()
        .take(MAX_ITEMS)
        .filter_map(|(i, item)| v.check(&format!("{field}[{i}]"), validate::text(item, 1, 500)))
        .collect()
}

fn required_date(
    field: &str,
    date: Option<&common::Date>,
    v: &mut Violations,
) -> Option<NaiveDate> {
    match date {
        Some(date) => v.check(field, validate::date(date)),
        None => {
            v.add(field, "is required");
            None
        }
    }
}

impl Handler {
    /// The next renewal of subscription `id` as the caller may see it, with
    /// the account.
    async fn visible_renewal<T>(
        &self,
        request: &Request<T>,
        principal: &Principal,
        id: &str,
    ) -> Result<(Due, themodel_platform::accounts::Account)> {
        let (sub, account) = self.visible_subscription(request, principal, id).await?;
        Ok((Due::next(sub)?, account))
    }

    pub(super) async fn list_renewals(
        &self,
        request: Request<pb::ListRenewalsRequest>,
    ) -> Result<pb::ListRenewalsResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let today = today();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let from = match &req.from_date {
            Some(d) => v.check("from_date", validate::date(d)),
            None => Some(today),
        };
        let to = match (&req.to_date, from) {
            (Some(d), _) => v.check("to_date", validate::date(d)),
            (None, Some(from)) => Some(from + chrono::Days::new(90)),
            (None, None) => None,
        };
        if let (Some(from), Some(to)) = (from, to)
            && (to <= from || (to - from).num_days() > MAX_RENEWAL_WINDOW_DAYS)
        {
            v.add(
                "to_date",
                format!(
                    "must be after from_date and at most {MAX_RENEWAL_WINDOW_DAYS} days after it"
                ),
            );
        }
        let owner_id = (!req.owner_id.is_empty())
            .then(|| v.check("owner_id", validate::person_id(&req.owner_id)))
            .flatten();
        let day = |d: &Option<common::Date>| d.as_ref().map(|d| (d.year, d.month, d.day));
        let filters = (day(&req.from_date), day(&req.to_date), &req.owner_id);
        let after = v
            .check(
                "",
                page_token::decode::<(String, String)>(&req.page_token, &filters),
            )
            .flatten()
            .and_then(|(date, id)| Some((date.parse::<NaiveDate>().ok()?, id)));
        let (Some(page_size), Some(from), Some(to), true) = (page_size, from, to, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (renewals, more) = self
            .renewals
            .list(
                from,
                to,
                owner_id.as_deref(),
                principal.partner_scope(),
                after,
                page_size,
                today,
            )
            .await?;
        let next_page_token = match renewals.last() {
            Some(last) if more => {
                let date = last
                    .renewal_date
                    .as_ref()
                    .and_then(|d| validate::date(d).ok())
                    .unwrap_or(from);
                page_token::encode(&(date.to_string(), last.subscription_id.clone()), &filters)
            }
            _ => String::new(),
        };
        Ok(pb::ListRenewalsResponse {
            renewals,
            next_page_token,
        })
    }

    pub(super) async fn get_renewal(
        &self,
        request: Request<pb::GetRenewalRequest>,
    ) -> Result<pb::GetRenewalResponse> {
        let principal = principal(&request)?;
        let id = subscription_field(&request.get_ref().subscription_id)?;
        let (due, account) = self.visible_renewal(&request, &principal, &id).await?;
        let renewal = self
            .renewals
            .get(&due, account.tier.as_str_name(), today())
            .await?;
        Ok(pb::GetRenewalResponse {
            renewal: Some(renewal),
        })
    }

    pub(super) async fn set_closing_plan(
        &self,
        request: Request<pb::SetClosingPlanRequest>,
    ) -> Result<pb::SetClosingPlanResponse> {
        let principal = principal(&request)?;
        principal.require(RENEWAL_OWNERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let id = v.check(
            "subscription_id",
            validate::resource_id(&req.subscription_id),
        );
        let owner_id = v.check("owner_id", validate::person_id(&req.owner_id));
        let etag = v.check("etag", validate::etag(&req.etag)).flatten();
        if req.steps.is_empty() || req.steps.len() > MAX_STEPS {
            v.add("steps", format!("must hold 1 to {MAX_STEPS} steps"));
        }
        let mut keys = HashSet::new();
        let mut steps = Vec::new();
        for (i, step) in req.steps.iter().enumerate().take(MAX_STEPS) {
            let step_key = v.check(&format!("steps[{i}].step_key"), key(&step.step_key));
            let description = v.check(
                &format!("steps[{i}].description"),
                validate::text(&step.description, 1, 500),
            );
            let due = match &step.due_date {
                Some(d) => v.check(&format!("steps[{i}].due_date"), validate::date(d)),
                None => None,
            };
            if let (Some(step_key), Some(description)) = (step_key, description) {
                if !keys.insert(step_key.clone()) {
                    v.add(
                        format!("steps[{i}].step_key"),
                        "is the key of an earlier step",
                    );
                }
                steps.push(Step {
                    key: step_key,
                    description,
                    due,
                    done: None,
                });
            }
        }
        let (Some(id), Some(owner_id), true) = (id, owner_id, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (due, account) = self.visible_renewal(&request, &principal, &id).await?;
        let tier = account.tier.as_str_name();
        let today = today();
        let idempotency = IdempotencyKey::new(&principal, request_id, "SetClosingPlan", req);
        self.renewals
            .update_plan(
                idempotency,
                &due,
                tier,
                today,
                etag,
                |current| {
                    Ok(match current {
                        Some(plan) => Plan {
                            owner_id,
                            steps: merge_steps(&plan.steps, steps),
                            revision: plan.revision + 1,
                            ..plan
                        },
                        None => Plan {
                            owner_id,
                            steps,
                            review_every_days: review_every_days(tier),
                            created_on: today,
                            last_review: None,
                            outcome: None,
                            revision: 1,
                        },
                    })
                },
                |renewal| pb::SetClosingPlanResponse {
                    renewal: Some(renewal),
                },
            )
            .await
    }

    pub(super) async fn complete_closing_step(
        &self,
        request: Request<pb::CompleteClosingStepRequest>,
    ) -> Result<pb::CompleteClosingStepResponse> {
        let principal = principal(&request)?;
        principal.require(RENEWAL_OWNERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let id = v.check(
            "subscription_id",
            validate::resource_id(&req.subscription_id),
        );
        let step_key = v.check("step_key", key(&req.step_key));
        let (Some(id), Some(step_key), true) = (id, step_key, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (due, account) = self.visible_renewal(&request, &principal, &id).await?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "CompleteClosingStep", req);
        let who = principal.subject.clone();
        self.renewals
            .update_plan(
                idempotency,
                &due,
                account.tier.as_str_name(),
                today(),
                None,
                |current| {
                    let not_found = || {
                        Error::Api(themodel_platform::ApiError::NotFound {
                            resource: "closing step",
                            id: step_key.clone(),
                        })
                    };
                    let mut plan = current.ok_or_else(not_found)?;
                    let step = plan
                        .steps
                        .iter_mut()
                        .find(|s| s.key == step_key)
                        .ok_or_else(not_found)?;
                    if step.done.is_none() {
                        step.done = Some((crate::store::now(), who));
                        plan.revision += 1;
                    }
                    Ok(plan)
                },
                |renewal| pb::CompleteClosingStepResponse {
                    renewal: Some(renewal),
                },
            )
            .await
    }

    pub(super) async fn review_renewal(
        &self,
        request: Request<pb::ReviewRenewalRequest>,
    ) -> Result<pb::ReviewRenewalResponse> {
        let principal = principal(&request)?;
        principal.require(RENEWAL_REVIEWERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let id = v.check(
            "subscription_id",
            validate::resource_id(&req.subscription_id),
        );
        let note = v.check("note", reason(&req.note));
        let (Some(id), Some(note), true) = (id, note, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (due, account) = self.visible_renewal(&request, &principal, &id).await?;
        let today = today();
        let idempotency = IdempotencyKey::new(&principal, request_id, "ReviewRenewal", req);
        self.renewals
            .update_plan(
                idempotency,
                &due,
                account.tier.as_str_name(),
                today,
                None,
                |current| {
                    let mut plan = current.ok_or_else(|| {
                        Error::NoRenewalDue(format!(
                            "subscription {id}'s next renewal has no closing plan to review yet"
                        ))
                    })?;
                    plan.last_review = Some((today, note));
                    plan.revision += 1;
                    Ok(plan)
                },
                |renewal| pb::ReviewRenewalResponse {
                    renewal: Some(renewal),
                },
            )
            .await
    }

    pub(super) async fn record_renewal_outcome(
        &self,
        request: Request<pb::RecordRenewalOutcomeRequest>,
    ) -> Result<pb::RecordRenewalOutcomeResponse> {
        let principal = principal(&request)?;
        principal.require(RENEWAL_OWNERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let id = v.check(
            "subscription_id",
            validate::resource_id(&req.subscription_id),
        );
        let outcome = match validate::known_enum::<RenewalOutcome>(req.outcome) {
            Ok(RenewalOutcome::Unspecified) => {
                v.add("outcome", "is required");
                None
            }
            result => v.check("outcome", result),
        };
        let churn_reason = match outcome {
            Some(RenewalOutcome::Churned) => v.check("churn_reason", reason(&req.churn_reason)),
            _ => None,
        };
        if outcome == Some(RenewalOutcome::RenewedWithChange) && req.term.is_none() {
            v.add("term", "is required for a renewal with change");
        }
        let (Some(id), Some(outcome), true) = (id, outcome, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (due, account) = self.visible_renewal(&request, &principal, &id).await?;
        let ending = due.subscription.fields.terms[due.subscription.fields.terms.len() - 1].clone();
        let new_term = match outcome {
            RenewalOutcome::Renewed => renewal_term(&ending),
            RenewalOutcome::RenewedWithChange => {
                let sold = req
                    .term
                    .as_ref()
                    .ok_or_else(|| Error::Invalid(vec![Violation::new("term", "is required")]))?;
                let (_, plan) = self
                    .plan(
                        &due.subscription.fields.product_key,
                        &due.subscription.fields.plan_key,
                    )
                    .await?;
                let t = term(sold, &plan, Some(due.subscription.currency())).map_err(|vs| {
                    Error::Invalid(vs.into_iter().map(|v| v.prefixed("term")).collect())
                })?;
                if t.start != due.date() {
                    return Err(Error::Invalid(vec![Violation::new(
                        "term.start_date",
                        format!("must be the renewal date {}", due.date()),
                    )]));
                }
                Some(t)
            }
            _ => None,
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "RecordRenewalOutcome", req);
        self.renewals
            .record_outcome(
                idempotency,
                &account,
                &due,
                outcome,
                churn_reason,
                new_term,
                today(),
            )
            .await
    }

    pub(super) async fn schedule_qbr(
        &self,
        request: Request<pb::ScheduleQbrRequest>,
    ) -> Result<pb::ScheduleQbrResponse> {
        let principal = principal(&request)?;
        principal.require(CSQL_RAISERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(qbr) = &req.qbr else {
            return Err(Error::Invalid(vec![Violation::new("qbr", "is required")]));
        };
        let account_id = v.check("qbr.account_id", validate::resource_id(&qbr.account_id));
        let date = required_date("qbr.scheduled_date", qbr.scheduled_date.as_ref(), &mut v);
        let agenda = items("qbr.agenda", &qbr.agenda, &mut v);
        let (Some(account_id), Some(date), true) = (account_id, date, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let account = self
            .visible_account(&request, &principal, &account_id)
            .await?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "ScheduleQbr", req);
        self.qbrs
            .schedule(idempotency, &account, date, agenda)
            .await
    }

    /// QBR `id` as the caller may see it, with its account.
    pub(super) async fn visible_qbr<T>(
        &self,
        request: &Request<T>,
        principal: &Principal,
        id: &str,
    ) -> Result<(
        crate::store::qbrs::Qbr,
        themodel_platform::accounts::Account,
    )> {
        let not_found = || Error::QbrNotFound(id.to_owned());
        let qbr = self.qbrs.get(id).await?.ok_or_else(not_found)?;
        let account = self
            .account_of(request, principal, &qbr.account_id, not_found)
            .await?;
        Ok((qbr, account))
    }

    pub(super) async fn record_qbr(
        &self,
        request: Request<pb::RecordQbrRequest>,
    ) -> Result<pb::RecordQbrResponse> {
        let principal = principal(&request)?;
        principal.require(CSQL_RAISERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let id = v.check("id", validate::resource_id(&req.id));
        let etag = v.check("etag", validate::etag(&req.etag)).flatten();
        let date = required_date("held_date", req.held_date.as_ref(), &mut v);
        if date.is_some_and(|d| d > today()) {
            v.add(
                "held_date",
                "is in the future: record a QBR once it is held",
            );
        }
        if req.attendees.is_empty() || req.attendees.len() > MAX_ATTENDEES {
            v.add(
                "attendees",
                format!("must hold 1 to {MAX_ATTENDEES} attendees"),
            );
        }
        let attendees: Vec<Attendee> = req
            .attendees
            .iter()
            .enumerate()
            .take(MAX_ATTENDEES)
            .filter_map(|(i, a)| {
                let name = v.check(
                    &format!("attendees[{i}].name"),
                    validate::text(&a.name, 1, 200),
                );
                let role = v.check(
                    &format!("attendees[{i}].role"),
                    validate::text(&a.role, 0, 200),
                );
                Some(Attendee {
                    name: name?,
                    role: role?,
                    customer: a.customer,
                    sales: a.sales,
                })
            })
            .collect();
        let proposals = items("proposals", &req.proposals, &mut v);
        let outcomes = items("outcomes", &req.outcomes, &mut v);
        let (Some(id), Some(date), true) = (id, date, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (_, account) = self.visible_qbr(&request, &principal, &id).await?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "RecordQbr", req);
        self.qbrs
            .record(
                idempotency,
                &account,
                &id,
                etag,
                Held {
                    date,
                    attendees,
                    proposals,
                    outcomes,
                },
            )
            .await
    }

    pub(super) async fn get_qbr(
        &self,
        request: Request<pb::GetQbrRequest>,
    ) -> Result<pb::GetQbrResponse> {
        let principal = principal(&request)?;
        let id = validate::resource_id(&request.get_ref().id)
            .map_err(|vs| Error::Invalid(vs.into_iter().map(|v| v.prefixed("id")).collect()))?;
        let (qbr, _) = self.visible_qbr(&request, &principal, &id).await?;
        Ok(pb::GetQbrResponse {
            qbr: Some(self.qbrs.to_proto(&qbr).await?),
        })
    }

    pub(super) async fn list_qbrs(
        &self,
        request: Request<pb::ListQbrsRequest>,
    ) -> Result<pb::ListQbrsResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let account_id = (!req.account_id.is_empty())
            .then(|| v.check("account_id", validate::resource_id(&req.account_id)))
            .flatten();
        let held = match validate::known_enum::<pb::QbrStatus>(req.status) {
            Ok(pb::QbrStatus::Unspecified) => None,
            Ok(status) => Some(status == pb::QbrStatus::Held),
            Err(vs) => {
                v.extend_prefixed("status", vs);
                None
            }
        };
        let filters = (&req.account_id, req.status);
        let after = v
            .check("", page_token::decode::<String>(&req.page_token, &filters))
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let (qbrs, more) = self
            .qbrs
            .list(
                account_id.as_deref(),
                held,
                principal.partner_scope(),
                after.as_deref(),
                page_size,
            )
            .await?;
        let next_page_token = match qbrs.last() {
            Some(last) if more => page_token::encode(&last.id, &filters),
            _ => String::new(),
        };
        Ok(pb::ListQbrsResponse {
            qbrs,
            next_page_token,
        })
    }
}

fn subscription_field(id: &str) -> Result<String> {
    validate::resource_id(id).map_err(|vs| {
        Error::Invalid(
            vs.into_iter()
                .map(|v| v.prefixed("subscription_id"))
                .collect(),
        )
    })
}
