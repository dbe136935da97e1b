//! Handlers of scorecards, sentiments and health scores.

use std::collections::BTreeSet;

use chrono::{Days, NaiveDate, Utc};
use themodel_platform::{
    Violation, Violations,
    accounts::Account,
    auth::{Principal, principal},
    client::CallContext,
    page_token,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::health as pb;
use tonic::Request;

use super::Handler;
use crate::{
    convert::{
        key,
        scores::{definition, note, scorecard_key, scorecard_to_proto, tier},
    },
    domain::{
        access::{SCORECARD_WRITERS, SCORERS},
        adoption::series,
        scorecard::{
            Inputs, TREND_BASELINE_DAYS, TREND_RECENT_DAYS, WINDOW_DAYS, rating_to_score, ratio,
            score, user_trend,
        },
    },
    error::{Error, Result},
    store::{
        adoption::{seat_terms, use_rows},
        scores::score_to_proto,
    },
};

impl Handler {
    /// The account `account_id` as `principal` may see it; NOT_FOUND
    /// otherwise (a partner user sees only its own partner's accounts).
    async fn visible_account<T>(
        &self,
        request: &Request<T>,
        principal: &Principal,
        account_id: &str,
    ) -> Result<Account> {
        self.accounts
            .find(&CallContext::of(request), principal, account_id)
            .await?
            .ok_or_else(|| Error::AccountNotFound(account_id.to_owned()))
    }

    pub(super) async fn create_scorecard(
        &self,
        request: Request<pb::CreateScorecardRequest>,
    ) -> Result<pb::CreateScorecardResponse> {
        let principal = principal(&request)?;
        principal.require(SCORECARD_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(card) = &req.scorecard else {
            return Err(Error::Invalid(vec![Violation::new(
                "scorecard",
                "is required",
            )]));
        };
        let key = v.check(
            "scorecard.scorecard_key",
            scorecard_key(&card.scorecard_key),
        );
        let scope = v.check("scorecard.tier", tier(card.tier));
        let def = v.check("scorecard", definition(card));
        let (Some(key), Some(scope), Some(def), true) = (key, scope, def, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "CreateScorecard", req);
        self.scores
            .create_scorecard(idempotency, key, scope, def, &principal.subject)
            .await
    }

    pub(super) async fn get_scorecard(
        &self,
        request: Request<pb::GetScorecardRequest>,
    ) -> Result<pb::GetScorecardResponse> {
        principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let key = v.check("scorecard_key", scorecard_key(&req.scorecard_key));
        if req.version < 0 {
            v.add("version", "must be 0 (the latest) or a version");
        }
        let (Some(key), true) = (key, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let version = (req.version > 0).then_some(req.version);
        let card = self.scores.scorecard(&key, version).await?.ok_or_else(|| {
            Error::ScorecardNotFound(match version {
                Some(n) => format!("{key} version {n}"),
                None => key.clone(),
            })
        })?;
        Ok(pb::GetScorecardResponse {
            scorecard: Some(scorecard_to_proto(&card)),
        })
    }

    pub(super) async fn list_scorecards(
        &self,
        request: Request<pb::ListScorecardsRequest>,
    ) -> Result<pb::ListScorecardsResponse> {
        principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let after = v
            .check("", page_token::decode::<String>(&req.page_token, &()))
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let (cards, more) = self.scores.list_scorecards(after, page_size).await?;
        let next_page_token = match cards.last() {
            Some(last) if more => page_token::encode(&last.key, &()),
            _ => String::new(),
        };
        Ok(pb::ListScorecardsResponse {
            scorecards: cards.iter().map(scorecard_to_proto).collect(),
            next_page_token,
        })
    }

    pub(super) async fn publish_scorecard_version(
        &self,
        request: Request<pb::PublishScorecardVersionRequest>,
    ) -> Result<pb::PublishScorecardVersionResponse> {
        let principal = principal(&request)?;
        principal.require(SCORECARD_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(card) = &req.scorecard else {
            return Err(Error::Invalid(vec![Violation::new(
                "scorecard",
                "is required",
            )]));
        };
        let key = v.check(
            "scorecard.scorecard_key",
            scorecard_key(&card.scorecard_key),
        );
        let etag = v
            .check("scorecard.etag", validate::etag(&card.etag))
            .flatten();
        let def = v.check("scorecard", definition(card));
        let (Some(key), Some(def), true) = (key, def, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency =
            IdempotencyKey::new(&principal, request_id, "PublishScorecardVersion", req);
        self.scores
            .publish(idempotency, &key, etag, def, &principal.subject)
            .await
    }

    pub(super) async fn record_sentiment(
        &self,
        request: Request<pb::RecordSentimentRequest>,
    ) -> Result<pb::RecordSentimentResponse> {
        let principal = principal(&request)?;
        principal.require(SCORERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let account_id = v.check("account_id", validate::resource_id(&req.account_id));
        let product_key = v.check("product_key", key(&req.product_key));
        let value = match (req.score, req.rating) {
            (Some(s), None) if (0..=100).contains(&s) => Some(s),
            (Some(_), None) => {
                v.add("score", "must be 0 to 100");
                None
            }
            (None, Some(r)) => {
                let mapped = rating_to_score(r);
                if mapped.is_none() {
                    v.add("rating", "must be 1 to 5");
                }
                mapped
            }
            (Some(_), Some(_)) => {
                v.add("rating", "set score or rating, not both");
                None
            }
            (None, None) => {
                v.add("score", "set score (0 to 100) or rating (1 to 5)");
                None
            }
        };
        let note = v.check("note", note(&req.note));
        let (Some(account_id), Some(product_key), Some(value), Some(note), true) =
            (account_id, product_key, value, note, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let account = self
            .visible_account(&request, &principal, &account_id)
            .await?;
        self.ensure_product(&request, &product_key).await?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "RecordSentiment", req);
        self.scores
            .record_sentiment(
                idempotency,
                &account.id,
                account.partner_id.as_deref(),
                &product_key,
                value,
                note,
                &principal.subject,
            )
            .await
    }

    /// What the measures are computed from for `account_id` and
    /// `product_key` on `today`.
    async fn inputs(
        &self,
        account_id: &str,
        product_key: &str,
        today: NaiveDate,
    ) -> Result<Inputs> {
        let key_features: BTreeSet<String> = self
            .features
            .of_products(&[product_key])
            .await?
            .into_iter()
            .filter(|f| f.fields.key_feature && !f.fields.retired)
            .map(|f| f.feature_key)
            .collect();
        let db = &self.usage.store().db;
        let span = TREND_RECENT_DAYS + TREND_BASELINE_DAYS;
        let from = today - Days::new(u64::try_from(span - 1).unwrap_or_default());
        let rows = use_rows(db, account_id, product_key, from, today).await?;
        let terms = seat_terms(db, account_id, product_key).await?;
        let seats: i64 = terms
            .iter()
            .filter(|(_, start, end)| *start <= today && end.is_none_or(|e| today < e))
            .map(|(quantity, _, _)| quantity)
            .sum();
        let window = u32::try_from(WINDOW_DAYS).unwrap_or(30);
        let days = series(from, today, window, &rows, &key_features, |_| seats);
        let recent_from = days
            .len()
            .saturating_sub(usize::try_from(TREND_RECENT_DAYS).unwrap_or(7));
        let recent: i64 = days[recent_from..].iter().map(|d| d.active_users).sum();
        let baseline: i64 = days[..recent_from].iter().map(|d| d.active_users).sum();
        let last = days.last();
        Ok(Inputs {
            breadth: ratio(
                last.map_or(0, |d| i64::from(d.key_features_used)),
                key_features.len() as i64,
            ),
            seat_use: ratio(last.map_or(0, |d| d.window_users), seats),
            user_trend: user_trend(recent, baseline),
            sentiment: self
                .scores
                .latest_sentiment(account_id, product_key)
                .await?
                .map(|s| s * 100),
        })
    }

    pub(super) async fn score_account(
        &self,
        request: Request<pb::ScoreAccountRequest>,
    ) -> Result<pb::ScoreAccountResponse> {
        let principal = principal(&request)?;
        principal.require(SCORERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let account_id = v.check("account_id", validate::resource_id(&req.account_id));
        let product_key = v.check("product_key", key(&req.product_key));
        let (Some(account_id), Some(product_key), true) = (account_id, product_key, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let account = self
            .visible_account(&request, &principal, &account_id)
            .await?;
        self.ensure_product(&request, &product_key).await?;
        let tier = account.tier.as_str_name();
        let card = self
            .scores
            .scorecard_for(tier)
            .await?
            .ok_or_else(|| Error::NoScorecard(tier.to_owned()))?;
        let inputs = self
            .inputs(&account.id, &product_key, Utc::now().date_naive())
            .await?;
        let values = inputs.values(&card.definition.measures);
        let computed = score(
            &card.definition.measures,
            &values,
            &card.definition.thresholds,
        );
        let idempotency = IdempotencyKey::new(&principal, request_id, "ScoreAccount", req);
        self.scores
            .save_score(
                idempotency,
                &account.id,
                account.partner_id.as_deref(),
                &product_key,
                &card,
                computed,
                &principal.subject,
            )
            .await
    }

    pub(super) async fn get_health_score(
        &self,
        request: Request<pb::GetHealthScoreRequest>,
    ) -> Result<pb::GetHealthScoreResponse> {
        let principal = principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let account_id = v.check("account_id", validate::resource_id(&req.account_id));
        let product_key = v.check("product_key", key(&req.product_key));
        let (Some(account_id), Some(product_key), true) = (account_id, product_key, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        self.visible_account(&request, &principal, &account_id)
            .await?;
        let latest = self
            .scores
            .latest_score(&account_id, &product_key)
            .await?
            .ok_or_else(|| Error::ScoreNotFound(format!("{account_id}/{product_key}")))?;
        Ok(pb::GetHealthScoreResponse {
            score: Some(score_to_proto(&latest)),
        })
    }

    pub(super) async fn list_health_scores(
        &self,
        request: Request<pb::ListHealthScoresRequest>,
    ) -> Result<pb::ListHealthScoresResponse> {
        let principal = principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let account_id = v.check("account_id", validate::resource_id(&req.account_id));
        let product_key = v.check("product_key", key(&req.product_key));
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let filters = (&req.account_id, &req.product_key);
        let before = v
            .check("", page_token::decode::<i64>(&req.page_token, &filters))
            .flatten();
        let (Some(account_id), Some(product_key), Some(page_size), true) =
            (account_id, product_key, page_size, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        self.visible_account(&request, &principal, &account_id)
            .await?;
        let (scores, more) = self
            .scores
            .list_scores(&account_id, &product_key, before, page_size)
            .await?;
        let next_page_token = match scores.last() {
            Some(last) if more => page_token::encode(&last.id, &filters),
            _ => String::new(),
        };
        Ok(pb::ListHealthScoresResponse {
            scores: scores.iter().map(score_to_proto).collect(),
            next_page_token,
        })
    }
}
