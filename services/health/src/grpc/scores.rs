//! Handlers of scorecards, sentiments and health scores.

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
        access::{RULE_WRITERS, SCORERS},
        scorecard::rating_to_score,
    },
    error::{Error, Result},
    store::scores::score_to_proto,
};

impl Handler {
    /// The account `account_id` as `principal` may see it; NOT_FOUND
    /// otherwise (a partner user sees only its own partner's accounts).
    pub(super) async fn visible_account<T>(
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
        principal.require(RULE_WRITERS)?;
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
        principal.require(RULE_WRITERS)?;
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
        let idempotency = IdempotencyKey::new(&principal, request_id, "ScoreAccount", req);
        self.scorer
            .score_one(idempotency, &account, &product_key, &principal.subject)
            .await
    }

    pub(super) async fn recompute_scores(
        &self,
        request: Request<pb::RecomputeScoresRequest>,
    ) -> Result<pb::RecomputeScoresResponse> {
        let principal = principal(&request)?;
        principal.require(RULE_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        v.finish(|| ())?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "RecomputeScores", req);
        self.scorer.queue_all(idempotency).await
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
