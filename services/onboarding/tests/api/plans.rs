//! Plans: stages reached from signals and a customer sign-off, steps done
//! once, closed plans closed, partners kept to their own accounts.

use themodel_platform::auth::Role;
use themodel_proto::onboarding as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn setup_completes_from_signals_and_value_from_a_customer_sign_off() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_playbook(&mut admin, playbook()).await;
    let account = app.account("Acme", "SF-001", Some("p-1")).await;
    let mut csm = app.client(Role::Csm);
    let plan = open(&mut csm, &account, Some(days_ago(10))).await;
    assert_eq!(plan.status, pb::PlanStatus::OnTrack as i32);
    assert!(plan.anchor_known);
    assert_eq!(plan.setup_due_date, Some(days_ago(-20)));
    assert_eq!(plan.value_due_date, Some(days_ago(-80)));
    assert_eq!(plan.steps[0].due_date, Some(days_ago(-4)));
    assert_eq!(plan.next_step_key, "kickoff");
    assert_eq!(plan.partner_id, "p-1");

    // The CSM's check of SSO needs a note.
    let err = csm
        .complete_step(complete(&plan.id, "sso"))
        .await
        .expect_err("no note");
    assert_eq!(violated_fields(&err), vec!["note"]);
    csm.complete_step(pb::CompleteStepRequest {
        note: "SSO tested with the customer's IT".into(),
        ..complete(&plan.id, "sso")
    })
    .await
    .expect("sso");
    // Four users: not yet; five: set up, by the signal alone.
    let mut collector = app.client(Role::Service);
    assert_eq!(signal(&mut collector, &account, "users_active", 4).await, 0);
    assert_eq!(signal(&mut collector, &account, "users_active", 5).await, 1);
    // A lower value later never undoes it.
    assert_eq!(signal(&mut collector, &account, "users_active", 2).await, 0);
    let set_up = csm
        .get_plan(pb::GetPlanRequest {
            id: plan.id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
        .plan
        .expect("plan");
    assert!(set_up.setup_complete_time.is_some());
    assert!(set_up.value_confirmed_time.is_none());
    assert_eq!(set_up.next_step_key, "kickoff");

    // The sign-off needs who signed and when.
    let err = csm
        .complete_step(pb::CompleteStepRequest {
            signed_date: Some(days_ago(0)),
            ..complete(&plan.id, "sign-off")
        })
        .await
        .expect_err("no signer");
    assert_eq!(violated_fields(&err), vec!["signed_by"]);
    let done = csm
        .complete_step(pb::CompleteStepRequest {
            signed_by: "Jane Doe, VP Operations".into(),
            signed_date: Some(days_ago(0)),
            etag: set_up.etag.clone(),
            ..complete(&plan.id, "sign-off")
        })
        .await
        .expect("sign-off")
        .into_inner()
        .plan
        .expect("plan");
    assert_eq!(done.status, pb::PlanStatus::Completed as i32);
    assert!(done.value_confirmed_time.is_some());
    let signed = done
        .steps
        .iter()
        .find(|s| s.step_key == "sign-off")
        .expect("step");
    assert_eq!(signed.signed_by, "Jane Doe, VP Operations");

    let events = app.events().await;
    let stages: Vec<(i32, bool)> = payloads::<pb::StageReached>(&events)
        .iter()
        .map(|e| (e.stage, e.on_time))
        .collect();
    assert_eq!(
        stages,
        vec![
            (pb::Stage::SetupComplete as i32, true),
            (pb::Stage::ValueConfirmed as i32, true),
        ]
    );
    assert_eq!(payloads::<pb::PlanOpened>(&events).len(), 1);
    assert_eq!(payloads::<pb::StepCompleted>(&events).len(), 2);
    assert_eq!(payloads::<pb::PlanCompleted>(&events).len(), 1);

    // A completed plan takes no more steps, and the account may open a new one.
    let err = csm
        .complete_step(complete(&plan.id, "kickoff"))
        .await
        .expect_err("closed");
    assert_eq!(reason(&err), "PLAN_CLOSED");
    open(&mut csm, &account, Some(days_ago(0))).await;
}

#[tokio::test]
async fn steps_are_done_once_and_cancelled_or_duplicate_plans_are_refused() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_playbook(&mut admin, playbook()).await;
    let account = app.account("Acme", "SF-001", None).await;
    let mut csm = app.client(Role::Csm);
    let plan = open(&mut csm, &account, None).await;
    // No contract start given: not dated, never at risk.
    assert!(!plan.anchor_known);
    assert!(plan.value_due_date.is_none());
    let err = csm
        .open_plan(pb::OpenPlanRequest {
            account_id: account.clone(),
            product_key: "analytics".into(),
            ..Default::default()
        })
        .await
        .expect_err("second open plan");
    assert_eq!(err.code(), Code::AlreadyExists);
    csm.complete_step(complete(&plan.id, "kickoff"))
        .await
        .expect("kickoff");
    let err = csm
        .complete_step(complete(&plan.id, "kickoff"))
        .await
        .expect_err("twice");
    assert_eq!(reason(&err), "STEP_ALREADY_DONE");
    let err = csm
        .complete_step(complete(&plan.id, "nope"))
        .await
        .expect_err("unknown step");
    assert_eq!(err.code(), Code::NotFound);
    let cancelled = csm
        .cancel_plan(pb::CancelPlanRequest {
            plan_id: plan.id.clone(),
            reason: "contract withdrawn".into(),
            ..Default::default()
        })
        .await
        .expect("cancel")
        .into_inner()
        .plan
        .expect("plan");
    assert_eq!(cancelled.status, pb::PlanStatus::Cancelled as i32);
    let err = csm
        .complete_step(pb::CompleteStepRequest {
            note: "done".into(),
            ..complete(&plan.id, "sso")
        })
        .await
        .expect_err("cancelled");
    assert_eq!(reason(&err), "PLAN_CLOSED");
    let err = csm
        .open_plan(pb::OpenPlanRequest {
            account_id: "0190f3c6-0000-7000-8000-000000000000".into(),
            product_key: "analytics".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown account");
    assert_eq!(err.code(), Code::NotFound);
    let err = csm
        .record_kickoff(pb::RecordKickoffRequest {
            plan_id: plan.id.clone(),
            kickoff_date: Some(days_ago(-2)),
            ..Default::default()
        })
        .await
        .expect_err("future kick-off");
    assert_eq!(violated_fields(&err), vec!["kickoff_date"]);
    let err = app
        .client(Role::PartnerUser)
        .open_plan(pb::OpenPlanRequest {
            account_id: account.clone(),
            product_key: "analytics".into(),
            ..Default::default()
        })
        .await
        .expect_err("partner");
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_kickoff_anchored_plan_is_dated_when_the_kickoff_is_recorded() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_playbook(
        &mut admin,
        pb::Playbook {
            anchor: pb::Anchor::Kickoff as i32,
            ..playbook()
        },
    )
    .await;
    let account = app.account("Acme", "SF-001", None).await;
    let mut csm = app.client(Role::Csm);
    let plan = open(&mut csm, &account, Some(days_ago(60))).await;
    assert!(
        !plan.anchor_known,
        "the contract start is not this playbook's anchor"
    );
    let dated = csm
        .record_kickoff(pb::RecordKickoffRequest {
            plan_id: plan.id.clone(),
            kickoff_date: Some(days_ago(40)),
            etag: plan.etag.clone(),
            ..Default::default()
        })
        .await
        .expect("kick-off")
        .into_inner()
        .plan
        .expect("plan");
    assert!(dated.anchor_known);
    assert_eq!(dated.setup_due_date, Some(days_ago(10)));
    // Set up was due 10 days ago: at risk.
    assert_eq!(dated.status, pb::PlanStatus::AtRisk as i32);
    let at_risk = csm
        .list_plans(pb::ListPlansRequest {
            status: pb::PlanStatus::AtRisk as i32,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .plans;
    assert_eq!(at_risk.len(), 1);
    let on_track = csm
        .list_plans(pb::ListPlansRequest {
            status: pb::PlanStatus::OnTrack as i32,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .plans;
    assert!(on_track.is_empty());
}

#[tokio::test]
async fn partner_users_see_only_their_own_partners_plans() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_playbook(&mut admin, playbook()).await;
    let own = app.account("Own", "SF-001", Some("p-1")).await;
    let other = app.account("Other", "SF-002", Some("p-2")).await;
    let mut csm = app.client(Role::Csm);
    let own_plan = open(&mut csm, &own, Some(days_ago(1))).await;
    let other_plan = open(&mut csm, &other, Some(days_ago(1))).await;
    let mut partner = app.client(Role::PartnerUser);
    let seen = partner
        .list_plans(pb::ListPlansRequest::default())
        .await
        .expect("list")
        .into_inner()
        .plans;
    assert_eq!(
        seen.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        vec![own_plan.id.as_str()]
    );
    partner
        .get_plan(pb::GetPlanRequest { id: own_plan.id })
        .await
        .expect("own");
    let err = partner
        .get_plan(pb::GetPlanRequest { id: other_plan.id })
        .await
        .expect_err("other");
    assert_eq!(err.code(), Code::NotFound);
    let err = partner
        .record_signals(pb::RecordSignalsRequest {
            signals: vec![pb::Signal::default()],
            request_id: String::new(),
        })
        .await
        .expect_err("partner signals");
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn each_signal_is_judged_on_its_own() {
    let app = spawn_app().await;
    let account = app.account("Acme", "SF-001", None).await;
    let response = app
        .client(Role::Service)
        .record_signals(pb::RecordSignalsRequest {
            signals: vec![
                pb::Signal {
                    account_external_id: "SF-001".into(),
                    product_key: "analytics".into(),
                    signal_key: "feature:dashboards".into(),
                    value: 1,
                    ..Default::default()
                },
                pb::Signal {
                    account_id: account.clone(),
                    product_key: "analytics".into(),
                    signal_key: "Bad Key".into(),
                    value: -1,
                    ..Default::default()
                },
                pb::Signal {
                    account_id: "0190f3c6-0000-7000-8000-000000000000".into(),
                    product_key: "analytics".into(),
                    signal_key: "users_active".into(),
                    value: 3,
                    ..Default::default()
                },
            ],
            request_id: String::new(),
        })
        .await
        .expect("signals")
        .into_inner();
    assert_eq!(response.accepted, 1);
    let refused: Vec<(i32, &str, Vec<&str>)> = response
        .rejections
        .iter()
        .map(|r| {
            (
                r.index,
                r.reason.as_str(),
                r.violations.iter().map(|v| v.field.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        refused,
        vec![
            (1, "INVALID_FIELD", vec!["signal_key", "value"]),
            (2, "UNKNOWN_ACCOUNT", vec!["account_id"]),
        ]
    );
}

#[tokio::test]
async fn a_stall_is_raised_once_for_the_owner_and_clears_when_the_plan_moves() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_playbook(&mut admin, playbook()).await;
    let account = app.account("Acme", "SF-001", Some("p-1")).await;
    let other = app.account("Other", "SF-002", Some("p-2")).await;
    let mut csm = app.client(Role::Csm);
    // Set-up was due 10 days ago.
    let plan = open(&mut csm, &account, Some(days_ago(40))).await;
    open(&mut csm, &other, Some(days_ago(40))).await;
    let mut manager = app.client(Role::CsManager);
    let first = manager
        .detect_stalls(pb::DetectStallsRequest {})
        .await
        .expect("detect")
        .into_inner();
    assert_eq!((first.raised, first.cleared), (2, 0));
    let again = manager
        .detect_stalls(pb::DetectStallsRequest {})
        .await
        .expect("detect")
        .into_inner();
    assert_eq!((again.raised, again.cleared), (0, 0), "raised once");
    let alerts = csm
        .list_alerts(pb::ListAlertsRequest {
            plan_id: plan.id.clone(),
            ..Default::default()
        })
        .await
        .expect("alerts")
        .into_inner()
        .alerts;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, pb::StallKind::SetupOverdue as i32);
    let stalled = csm
        .get_plan(pb::GetPlanRequest {
            id: plan.id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
        .plan
        .expect("plan");
    assert_eq!(stalled.status, pb::PlanStatus::Stalled as i32);
    let listed = csm
        .list_plans(pb::ListPlansRequest {
            status: pb::PlanStatus::Stalled as i32,
            ..Default::default()
        })
        .await
        .expect("stalled plans")
        .into_inner()
        .plans;
    assert_eq!(listed.len(), 2);
    // A partner user sees its own partner's alert only.
    let seen = app
        .client(Role::PartnerUser)
        .list_alerts(pb::ListAlertsRequest::default())
        .await
        .expect("partner alerts")
        .into_inner()
        .alerts;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].account_id, account);

    // Set-up reached: the alert clears at once.
    csm.complete_step(pb::CompleteStepRequest {
        note: "SSO on".into(),
        ..complete(&plan.id, "sso")
    })
    .await
    .expect("sso");
    signal(&mut app.client(Role::Service), &account, "users_active", 9).await;
    let moved = csm
        .get_plan(pb::GetPlanRequest {
            id: plan.id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
        .plan
        .expect("plan");
    assert_eq!(moved.status, pb::PlanStatus::OnTrack as i32);
    let open_now = csm
        .list_alerts(pb::ListAlertsRequest {
            plan_id: plan.id.clone(),
            ..Default::default()
        })
        .await
        .expect("alerts")
        .into_inner()
        .alerts;
    assert!(open_now.is_empty());
    let events = app.events().await;
    assert_eq!(payloads::<pb::PlanStalled>(&events).len(), 2);
    let cleared = payloads::<pb::StallCleared>(&events);
    assert_eq!(cleared.len(), 1);
    assert_eq!(
        cleared[0].alert.as_ref().map(|a| a.plan_id.as_str()),
        Some(plan.id.as_str())
    );
    let err = csm
        .detect_stalls(pb::DetectStallsRequest {})
        .await
        .expect_err("csm");
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_first_purchase_opens_a_plan_and_health_adoption_meets_its_criteria() {
    use themodel_proto::{expansion as ex, health as hp};
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_playbook(
        &mut admin,
        pb::Playbook {
            setup_criteria: vec![on_signal("feature:dashboards", 1)],
            ..playbook()
        },
    )
    .await;
    let account = app.account("Acme", "SF-001", Some("p-1")).await;
    // Expansion records the first subscription: onboarding opens the plan,
    // dated from the term's start.
    let subscription = ex::Subscription {
        account_id: account.clone(),
        product_key: "analytics".into(),
        plan_key: "monthly".into(),
        terms: vec![ex::SubscriptionTerm {
            quantity: 5,
            start_date: Some(days_ago(3)),
            ..Default::default()
        }],
        ..Default::default()
    };
    app.expansion()
        .create_subscription(ex::CreateSubscriptionRequest {
            subscription: Some(subscription.clone()),
            request_id: String::new(),
        })
        .await
        .expect("subscription");
    let plans = || {
        let mut client = app.admin();
        let account = account.clone();
        async move {
            client
                .list_plans(pb::ListPlansRequest {
                    account_id: account,
                    ..Default::default()
                })
                .await
                .expect("plans")
                .into_inner()
                .plans
        }
    };
    app.eventually("the plan", || async { !plans().await.is_empty() })
        .await;
    let opened = plans().await.remove(0);
    assert_eq!(opened.contract_start_date, Some(days_ago(3)));
    assert_eq!(opened.setup_due_date, Some(days_ago(-27)));

    // The account uses dashboards: health announces the adoption, and the
    // plan is set up without anyone posting a signal.
    let mut health = app.health();
    health
        .create_feature(hp::CreateFeatureRequest {
            feature: Some(hp::Feature {
                product_key: "analytics".into(),
                feature_key: "dashboards".into(),
                display_name: "Dashboards".into(),
                key_feature: true,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("feature");
    let at = chrono::Utc::now() - chrono::Duration::minutes(5);
    health
        .ingest_usage(hp::IngestUsageRequest {
            events: vec![hp::UsageEvent {
                account_id: account.clone(),
                user_id: "u-1".into(),
                product_key: "analytics".into(),
                feature_key: "dashboards".into(),
                occurred_at: Some(prost_types::Timestamp {
                    seconds: at.timestamp(),
                    nanos: 0,
                }),
                ..Default::default()
            }],
            request_id: String::new(),
        })
        .await
        .expect("usage");
    app.eventually("set-up from adoption", || async {
        plans().await[0].setup_complete_time.is_some()
    })
    .await;

    // A second subscription to the same product opens nothing more.
    app.expansion()
        .create_subscription(ex::CreateSubscriptionRequest {
            subscription: Some(ex::Subscription {
                external_id: "second".into(),
                terms: vec![ex::SubscriptionTerm {
                    quantity: 2,
                    start_date: Some(days_ago(0)),
                    ..Default::default()
                }],
                ..subscription
            }),
            request_id: String::new(),
        })
        .await
        .expect("second subscription");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(plans().await.len(), 1);
}
