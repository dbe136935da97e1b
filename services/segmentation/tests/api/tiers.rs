use prost::Message;
use themodel_platform::auth::Role;
use themodel_proto::{
    common::Money,
    segmentation::{self as pb, tier_policy_rules::Cutoffs},
};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::*;

/// Imports accounts `SF-000..` with the given ACVs (millions of yen).
async fn import(
    client: &mut Client,
    acv_millions: impl IntoIterator<Item = i64>,
) -> Vec<pb::Account> {
    let accounts = acv_millions
        .into_iter()
        .enumerate()
        .map(|(i, m)| pb::Account {
            external_id: format!("SF-{i:03}"),
            acv: jpy(m * 1_000_000),
            ..account(&format!("Account {i}"))
        })
        .collect();
    client
        .batch_upsert_accounts(pb::BatchUpsertAccountsRequest {
            accounts,
            request_id: String::new(),
        })
        .await
        .expect("import")
        .into_inner()
        .results
        .into_iter()
        .map(|r| r.account.expect("account"))
        .collect()
}

fn apply(rules: Option<pb::TierPolicyRules>, request_id: &str) -> pb::ApplyTierPolicyRequest {
    pb::ApplyTierPolicyRequest {
        rules,
        reason: "H1 re-baseline".into(),
        request_id: request_id.into(),
    }
}

fn preview(
    rules: Option<pb::TierPolicyRules>,
    page_size: i32,
    page_token: String,
) -> pb::PreviewTierPolicyRequest {
    pb::PreviewTierPolicyRequest {
        rules,
        page_size,
        page_token,
    }
}

fn counts(policy: &pb::TierPolicy) -> Vec<i32> {
    policy.tiers.iter().map(|t| t.account_count).collect()
}

async fn tier_of(client: &mut Client, id: &str) -> i32 {
    client
        .get_account(pb::GetAccountRequest { id: id.into() })
        .await
        .expect("get")
        .into_inner()
        .account
        .expect("account")
        .tier
}

#[tokio::test]
async fn preview_ranks_ten_thirty_sixty_pages_the_moves_and_writes_nothing() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let accounts = import(&mut client, 1..=100).await;

    let mut ids = Vec::new();
    let mut token = String::new();
    let mut policy = None;
    loop {
        let page = client
            .preview_tier_policy(preview(None, 30, token))
            .await
            .expect("preview")
            .into_inner();
        policy = policy.or(page.policy);
        ids.extend(page.moves.iter().map(|m| m.account_id.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let policy = policy.expect("policy");
    assert_eq!(policy.version, 1);
    assert_eq!(counts(&policy), [10, 30, 60]);
    assert_eq!(policy.ranked_count, 100);
    assert_eq!(policy.moved_count, 100);
    let t = policy.thresholds.expect("thresholds");
    assert_eq!(t.high_touch_above, jpy(90_000_000));
    assert_eq!(t.low_touch_above, jpy(60_000_000));
    // Each high-touch CSM carries 5-10: 1 to 2 CSMs for 10 accounts.
    let high = &policy.tiers[0];
    assert_eq!((high.csms_needed, high.csms_at_min_capacity), (1, 2));
    assert_eq!(high.total_acv, jpy((91..=100).sum::<i64>() * 1_000_000));
    assert!(policy.apply_time.is_none());
    // The mix it gives: nobody touched, so low-touch is the only hybrid.
    let mix = policy.mix.expect("mix");
    assert_eq!(
        (
            mix.high_touch_basis_points,
            mix.hybrid_basis_points,
            mix.tech_touch_basis_points
        ),
        (1000, 3000, 6000)
    );
    assert_eq!(mix.distance_to_target_basis_points, 4000);
    // Every account once, in id order.
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted);
    assert_eq!(ids.len(), 100);

    // Nothing was written.
    assert_eq!(
        tier_of(&mut client, &accounts[99].id).await,
        pb::Tier::Unspecified as i32
    );
    let status = client
        .get_tier_policy(pb::GetTierPolicyRequest { version: 0 })
        .await
        .expect_err("no policy yet");
    assert_eq!(status.code(), Code::NotFound);
    assert!(
        events_of_type(&app, "themodel.segmentation.v1.TierAssigned")
            .await
            .is_empty()
    );

    // A token belongs to the rules it paged.
    let first = client
        .preview_tier_policy(preview(None, 30, String::new()))
        .await
        .expect("preview")
        .into_inner();
    let status = client
        .preview_tier_policy(preview(thresholds(5, 1), 30, first.next_page_token))
        .await
        .expect_err("other rules");
    assert_eq!(violated_fields(&status), ["page_token"]);
}

#[tokio::test]
async fn apply_tiers_every_account_with_history_events_and_one_version_per_key() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let accounts = import(&mut client, 1..=100).await;
    let before = prost_types::Timestamp::from(std::time::SystemTime::now());

    let applied = client
        .apply_tier_policy(apply(None, "rebaseline-1"))
        .await
        .expect("apply")
        .into_inner()
        .policy
        .expect("policy");
    assert_eq!(applied.version, 1);
    assert_eq!(counts(&applied), [10, 30, 60]);
    assert_eq!(applied.reason, "H1 re-baseline");
    assert!(applied.apply_time.is_some());
    assert!(applied.rebaseline_due_date.is_some());

    // The top ten are high-touch, the next thirty low-touch.
    assert_eq!(
        tier_of(&mut client, &accounts[99].id).await,
        pb::Tier::HighTouch as i32
    );
    assert_eq!(
        tier_of(&mut client, &accounts[89].id).await,
        pb::Tier::LowTouch as i32
    );
    assert_eq!(
        tier_of(&mut client, &accounts[59].id).await,
        pb::Tier::TechTouch as i32
    );
    let listed = client
        .list_accounts(pb::ListAccountsRequest {
            tier: pb::Tier::HighTouch as i32,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.accounts.len(), 10);

    // A retry is the same version; no second effect.
    let retried = client
        .apply_tier_policy(apply(None, "rebaseline-1"))
        .await
        .expect("retry")
        .into_inner()
        .policy
        .expect("policy");
    assert_eq!(retried, applied);
    let current = client
        .get_tier_policy(pb::GetTierPolicyRequest { version: 0 })
        .await
        .expect("current")
        .into_inner()
        .policy;
    assert_eq!(current, Some(applied.clone()));

    // One event per moved account, and one for the version.
    let assigned = events_of_type(&app, "themodel.segmentation.v1.TierAssigned").await;
    assert_eq!(assigned.len(), 100);
    let payload = pb::TierAssigned::decode(
        assigned[0]
            .payload
            .as_ref()
            .expect("payload")
            .value
            .as_slice(),
    )
    .expect("decode");
    let change = payload.change.expect("change");
    assert_eq!(change.policy_version, 1);
    assert_eq!(change.rule, pb::TierRule::RankShare as i32);
    assert_eq!(change.old_tier, pb::Tier::Unspecified as i32);
    assert_eq!(
        events_of_type(&app, "themodel.segmentation.v1.PolicyApplied")
            .await
            .len(),
        1
    );

    // History: which tier was the account on at a date.
    let top = &accounts[99].id;
    let changes = client
        .list_tier_changes(pb::ListTierChangesRequest {
            account_id: top.clone(),
            ..Default::default()
        })
        .await
        .expect("changes")
        .into_inner()
        .changes;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].new_tier, pb::Tier::HighTouch as i32);
    let as_of = |at: Option<prost_types::Timestamp>| pb::GetTierAsOfRequest {
        account_id: top.clone(),
        as_of: at,
    };
    let then = client
        .get_tier_as_of(as_of(Some(before)))
        .await
        .expect("before")
        .into_inner();
    assert_eq!(then.tier, pb::Tier::Unspecified as i32);
    assert!(then.change.is_none());
    let now = client
        .get_tier_as_of(as_of(None))
        .await
        .expect("now")
        .into_inner();
    assert_eq!(now.tier, pb::Tier::HighTouch as i32);
    assert_eq!(now.change, Some(changes[0].clone()));

    // A re-baseline by money moves only the accounts whose tier changes.
    let second = client
        .apply_tier_policy(apply(thresholds(95_000_000, 50_000_000), "rebaseline-2"))
        .await
        .expect("second version")
        .into_inner()
        .policy
        .expect("policy");
    assert_eq!(second.version, 2);
    assert_eq!(counts(&second), [5, 45, 50]);
    // 91-95 leave high-touch, 51-60 join low-touch.
    assert_eq!(second.moved_count, 15);
    let changes = client
        .list_tier_changes(pb::ListTierChangesRequest {
            account_id: accounts[94].id.clone(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("changes")
        .into_inner();
    assert_eq!(changes.changes[0].new_tier, pb::Tier::LowTouch as i32);
    assert_eq!(changes.changes[0].rule, pb::TierRule::MoneyThreshold as i32);
    assert!(!changes.next_page_token.is_empty());
    let older = client
        .list_tier_changes(pb::ListTierChangesRequest {
            account_id: accounts[94].id.clone(),
            page_size: 1,
            page_token: changes.next_page_token,
        })
        .await
        .expect("older")
        .into_inner();
    assert_eq!(older.changes[0].new_tier, pb::Tier::HighTouch as i32);
    assert!(older.next_page_token.is_empty());
    let versions = client
        .list_tier_policies(pb::ListTierPoliciesRequest::default())
        .await
        .expect("versions")
        .into_inner()
        .policies;
    assert_eq!(
        versions.iter().map(|p| p.version).collect::<Vec<_>>(),
        [2, 1]
    );
}

#[tokio::test]
async fn accounts_written_between_re_baselines_are_tiered_at_once() {
    let app = spawn_app().await;
    let mut client = app.admin();
    import(&mut client, [1, 2, 3]).await;
    client
        .apply_tier_policy(apply(thresholds(10_000_000, 2_000_000), ""))
        .await
        .expect("apply");

    let big = create_ok(
        &mut client,
        pb::Account {
            acv: jpy(8_000_000),
            potential_acv: jpy(3_000_000),
            ..account("Big")
        },
    )
    .await;
    assert_eq!(big.tier, pb::Tier::HighTouch as i32);
    let history = client
        .list_tier_changes(pb::ListTierChangesRequest {
            account_id: big.id.clone(),
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner()
        .changes;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].rule, pb::TierRule::MoneyThreshold as i32);
    assert_eq!(history[0].reason, "account created");

    // The ACV drops: low-touch now, and the update says the tier changed.
    let patch = pb::Account {
        id: big.id.clone(),
        potential_acv: jpy(0),
        ..Default::default()
    };
    let updated = update_ok(&mut client, patch, &["potential_acv"]).await;
    assert_eq!(updated.tier, pb::Tier::LowTouch as i32);
    let updates = events_of_type(&app, "themodel.segmentation.v1.AccountUpdated").await;
    let last = pb::AccountUpdated::decode(
        updates
            .last()
            .expect("event")
            .payload
            .as_ref()
            .expect("payload")
            .value
            .as_slice(),
    )
    .expect("decode");
    assert_eq!(last.changed_fields, ["potential_acv", "tier"]);

    // A renamed account keeps its tier: only the amount decides.
    let renamed = update_ok(
        &mut client,
        pb::Account {
            id: big.id.clone(),
            name: "Big KK".into(),
            ..Default::default()
        },
        &["name"],
    )
    .await;
    assert_eq!(renamed.tier, pb::Tier::LowTouch as i32);

    // Another currency cannot be tiered by yen thresholds: refused, nothing written.
    let usd = Some(Money {
        currency_code: "USD".into(),
        units: 5,
        nanos: 0,
    });
    let status = client
        .create_account(create(pb::Account {
            acv: usd.clone(),
            ..account("Dollar Inc")
        }))
        .await
        .expect_err("mixed currencies");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "MIXED_CURRENCIES");
    let batch = client
        .batch_upsert_accounts(pb::BatchUpsertAccountsRequest {
            accounts: vec![
                pb::Account {
                    external_id: "SF-USD".into(),
                    acv: usd,
                    ..account("Dollar Inc")
                },
                pb::Account {
                    external_id: "SF-NEW".into(),
                    acv: jpy(50_000_000),
                    ..account("New Big")
                },
            ],
            request_id: String::new(),
        })
        .await
        .expect("batch")
        .into_inner();
    assert_eq!(batch.results[0].outcome, pb::UpsertOutcome::Rejected as i32);
    assert_eq!(batch.results[0].violations[0].field, "acv.currency_code");
    let created = batch.results[1].account.as_ref().expect("created");
    assert_eq!(created.tier, pb::Tier::HighTouch as i32);
    assert_eq!(app.all_accounts().await.len(), 5);
}

#[tokio::test]
async fn churned_accounts_are_not_ranked() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let accounts = import(&mut client, 1..=10).await;
    let churned = update_ok(
        &mut client,
        pb::Account {
            id: accounts[9].id.clone(),
            lifecycle_status: pb::LifecycleStatus::Churned as i32,
            ..Default::default()
        },
        &["lifecycle_status"],
    )
    .await;
    let policy = client
        .apply_tier_policy(apply(None, ""))
        .await
        .expect("apply")
        .into_inner()
        .policy
        .expect("policy");
    // 9 ranked: 1 high (rounded half up from 0.9), 3 low, 5 tech.
    assert_eq!(policy.ranked_count, 9);
    assert_eq!(counts(&policy), [1, 3, 5]);
    assert_eq!(
        tier_of(&mut client, &churned.id).await,
        pb::Tier::Unspecified as i32
    );
    assert_eq!(
        tier_of(&mut client, &accounts[8].id).await,
        pb::Tier::HighTouch as i32
    );
}

#[tokio::test]
async fn bad_policies_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let mut client = app.admin();

    // No account to rank.
    let status = client
        .apply_tier_policy(apply(None, ""))
        .await
        .expect_err("empty");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "NOTHING_TO_RANK");

    import(&mut client, [1, 2]).await;
    create_ok(
        &mut client,
        pb::Account {
            acv: Some(Money {
                currency_code: "USD".into(),
                units: 10,
                nanos: 0,
            }),
            ..account("Dollar Inc")
        },
    )
    .await;
    let status = client
        .apply_tier_policy(apply(None, "k1"))
        .await
        .expect_err("mixed");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let info = status.get_details_error_info().expect("error info");
    assert_eq!(info.reason, "MIXED_CURRENCIES");
    assert_eq!(
        info.metadata.get("currencies").map(String::as_str),
        Some("JPY,USD")
    );
    assert!(
        status.message().contains("JPY, USD"),
        "{}",
        status.message()
    );

    let bad_shares = Some(pb::TierPolicyRules {
        cutoffs: Some(Cutoffs::Shares(pb::TierShares {
            high_touch_percent: 20,
            low_touch_percent: 30,
            tech_touch_percent: 60,
        })),
        ..Default::default()
    });
    let status = client
        .apply_tier_policy(apply(bad_shares, ""))
        .await
        .expect_err("110%");
    assert_eq!(violated_fields(&status), ["rules.shares"]);
    let status = client
        .apply_tier_policy(apply(thresholds(1, 2), ""))
        .await
        .expect_err("overlapping");
    assert_eq!(
        violated_fields(&status),
        ["rules.thresholds.low_touch_above"]
    );
    let status = client
        .get_tier_policy(pb::GetTierPolicyRequest { version: 0 })
        .await
        .expect_err("still none");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn roles_and_partner_scope() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    let own = create_ok(&mut admin, partner_account("Own", "p1")).await;
    let other = create_ok(&mut admin, partner_account("Other", "p2")).await;

    let mut csm = app.client(Role::Csm);
    let status = csm
        .apply_tier_policy(apply(None, ""))
        .await
        .expect_err("csm");
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = csm
        .preview_tier_policy(preview(None, 0, String::new()))
        .await
        .expect_err("csm preview");
    assert_eq!(status.code(), Code::PermissionDenied);
    app.client(Role::CsManager)
        .apply_tier_policy(apply(None, ""))
        .await
        .expect("cs manager applies");
    csm.get_tier_policy(pb::GetTierPolicyRequest { version: 1 })
        .await
        .expect("csm reads");

    // Partner users see their own accounts' tiers, never policies or others'.
    let mut partner = app.partner_client("p1");
    for status in [
        partner
            .preview_tier_policy(preview(None, 0, String::new()))
            .await
            .expect_err("preview"),
        partner
            .get_tier_policy(pb::GetTierPolicyRequest { version: 1 })
            .await
            .expect_err("get"),
        partner
            .list_tier_policies(pb::ListTierPoliciesRequest::default())
            .await
            .expect_err("list"),
    ] {
        assert_eq!(status.code(), Code::PermissionDenied);
    }
    let mine = partner
        .list_tier_changes(pb::ListTierChangesRequest {
            account_id: own.id.clone(),
            ..Default::default()
        })
        .await
        .expect("own history")
        .into_inner();
    assert_eq!(mine.changes.len(), 1);
    for status in [
        partner
            .list_tier_changes(pb::ListTierChangesRequest {
                account_id: other.id.clone(),
                ..Default::default()
            })
            .await
            .expect_err("other's history"),
        partner
            .get_tier_as_of(pb::GetTierAsOfRequest {
                account_id: other.id.clone(),
                as_of: None,
            })
            .await
            .expect_err("other's tier"),
    ] {
        assert_eq!(status.code(), Code::NotFound);
    }
}

fn override_tier(account_id: &str, tier: pb::Tier, reason: &str) -> pb::OverrideTierRequest {
    pb::OverrideTierRequest {
        account_id: account_id.into(),
        tier: tier as i32,
        reason: reason.into(),
        request_id: String::new(),
    }
}

async fn overrides(client: &mut Client, state: pb::OverrideState) -> pb::ListTierOverridesResponse {
    client
        .list_tier_overrides(pb::ListTierOverridesRequest {
            state: state as i32,
            ..Default::default()
        })
        .await
        .expect("overrides")
        .into_inner()
}

#[tokio::test]
async fn an_override_is_an_audited_exception_until_the_next_re_baseline() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    let accounts = import(&mut admin, 1..=10).await;
    admin
        .apply_tier_policy(apply(None, ""))
        .await
        .expect("apply");
    let small = &accounts[0];
    assert_eq!(
        tier_of(&mut admin, &small.id).await,
        pb::Tier::TechTouch as i32
    );

    let mut manager = app.client(Role::CsManager);
    let made = manager
        .override_tier(override_tier(
            &small.id,
            pb::Tier::HighTouch,
            "strategic logo",
        ))
        .await
        .expect("override")
        .into_inner();
    let first = made.r#override.expect("override");
    assert_eq!(
        made.account.expect("account").tier,
        pb::Tier::HighTouch as i32
    );
    assert_eq!(first.previous_tier, pb::Tier::TechTouch as i32);
    assert_eq!(first.state, pb::OverrideState::Active as i32);
    assert_eq!(first.policy_version, 1);
    assert!(first.expire_time.is_some());
    let history = admin
        .list_tier_changes(pb::ListTierChangesRequest {
            account_id: small.id.clone(),
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner()
        .changes;
    assert_eq!(history[0].rule, pb::TierRule::Override as i32);
    assert_eq!(history[0].reason, "strategic logo");
    assert_eq!(
        events_of_type(&app, "themodel.segmentation.v1.TierOverridden")
            .await
            .len(),
        1
    );
    let listed = overrides(&mut admin, pb::OverrideState::Active).await;
    assert_eq!(listed.overrides, std::slice::from_ref(&first));
    assert_eq!(
        (
            listed.active_count,
            listed.ranked_count,
            listed.active_share_basis_points
        ),
        (1, 10, 1000)
    );

    // The override holds when the amount changes.
    let grown = update_ok(
        &mut admin,
        pb::Account {
            id: small.id.clone(),
            acv: jpy(2_000_000),
            ..Default::default()
        },
        &["acv"],
    )
    .await;
    assert_eq!(grown.tier, pb::Tier::HighTouch as i32);

    // A newer override replaces it.
    manager
        .override_tier(override_tier(
            &small.id,
            pb::Tier::LowTouch,
            "downgrade agreed",
        ))
        .await
        .expect("second override");
    let replaced = overrides(&mut admin, pb::OverrideState::Replaced).await;
    assert_eq!(replaced.overrides.len(), 1);
    assert_eq!(replaced.overrides[0].id, first.id);
    assert_eq!(replaced.active_count, 1);

    // The re-baseline ends it: the account gets its rank again.
    admin
        .apply_tier_policy(apply(None, ""))
        .await
        .expect("re-baseline");
    assert_eq!(
        tier_of(&mut admin, &small.id).await,
        pb::Tier::TechTouch as i32
    );
    let listed = overrides(&mut admin, pb::OverrideState::Unspecified).await;
    let states: Vec<i32> = listed.overrides.iter().map(|o| o.state).collect();
    assert_eq!(
        states,
        [
            pb::OverrideState::Expired as i32,
            pb::OverrideState::Replaced as i32
        ]
    );
    assert!(listed.overrides.iter().all(|o| o.end_time.is_some()));
    assert_eq!(listed.active_count, 0);
}

#[tokio::test]
async fn overrides_expire_on_their_date_and_the_re_baseline_is_reminded_once() {
    use themodel_platform::store::{Store, StoreConfig};
    use themodel_segmentation::store::{migration::Migrator, overrides::Overrides};

    let app = spawn_app().await;
    let mut admin = app.admin();
    let accounts = import(&mut admin, 1..=10).await;
    admin
        .apply_tier_policy(apply(None, ""))
        .await
        .expect("apply");
    admin
        .override_tier(override_tier(&accounts[0].id, pb::Tier::HighTouch, "pilot"))
        .await
        .expect("override");

    let store = Store::connect::<Migrator>(
        themodel_segmentation::NAME,
        app.database_url(),
        &StoreConfig::default(),
    )
    .await
    .expect("store");
    let jobs = Overrides::new(store);
    // Not yet due: nothing happens.
    assert_eq!(
        jobs.expire_due(chrono::Utc::now()).await.expect("expire"),
        0
    );
    let today = chrono::Utc::now().date_naive();
    assert_eq!(jobs.remind_rebaseline(today).await.expect("remind"), None);

    // Past the re-baseline date (6 months by default).
    let later = chrono::Utc::now() + chrono::Duration::days(200);
    assert_eq!(jobs.expire_due(later).await.expect("expire"), 1);
    assert_eq!(
        tier_of(&mut admin, &accounts[0].id).await,
        pb::Tier::TechTouch as i32
    );
    let history = admin
        .list_tier_changes(pb::ListTierChangesRequest {
            account_id: accounts[0].id.clone(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner()
        .changes;
    assert_eq!(history[0].reason, "tier override expired");
    assert_eq!(history[0].rule, pb::TierRule::MoneyThreshold as i32);
    assert_eq!(
        overrides(&mut admin, pb::OverrideState::Expired)
            .await
            .overrides
            .len(),
        1
    );
    assert_eq!(
        jobs.remind_rebaseline(later.date_naive())
            .await
            .expect("remind"),
        Some(1)
    );
    assert_eq!(
        jobs.remind_rebaseline(later.date_naive())
            .await
            .expect("again"),
        None
    );
    assert_eq!(
        events_of_type(&app, "themodel.segmentation.v1.RebaselineDue")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn bad_overrides_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    let accounts = import(&mut admin, [1, 2, 3]).await;
    let id = accounts[0].id.clone();

    let status = admin
        .override_tier(override_tier(&id, pb::Tier::HighTouch, "why not"))
        .await
        .expect_err("no policy");
    assert_eq!(reason(&status), "NO_TIER_POLICY");
    admin
        .apply_tier_policy(apply(None, ""))
        .await
        .expect("apply");

    let status = admin
        .override_tier(override_tier(&id, pb::Tier::Unspecified, ""))
        .await
        .expect_err("no tier, no reason");
    assert_eq!(violated_fields(&status), ["tier", "reason"]);
    let status = app
        .client(Role::Csm)
        .override_tier(override_tier(&id, pb::Tier::HighTouch, "my favourite"))
        .await
        .expect_err("csm may not approve");
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = admin
        .override_tier(override_tier(
            "01890000-0000-7000-8000-000000000000",
            pb::Tier::HighTouch,
            "ghost",
        ))
        .await
        .expect_err("unknown account");
    assert_eq!(status.code(), Code::NotFound);
    admin
        .update_account(update(
            pb::Account {
                id: id.clone(),
                lifecycle_status: pb::LifecycleStatus::Churned as i32,
                ..Default::default()
            },
            &["lifecycle_status"],
        ))
        .await
        .expect("churn");
    let status = admin
        .override_tier(override_tier(&id, pb::Tier::HighTouch, "win back"))
        .await
        .expect_err("churned");
    assert_eq!(reason(&status), "ACCOUNT_CHURNED");
    let listed = overrides(&mut admin, pb::OverrideState::Unspecified).await;
    assert!(listed.overrides.is_empty());
    assert!(
        events_of_type(&app, "themodel.segmentation.v1.TierOverridden")
            .await
            .is_empty()
    );
}
