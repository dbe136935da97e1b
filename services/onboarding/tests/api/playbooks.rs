//! Playbooks: versions pinned on running plans, bad definitions refused
//! whole and named by field.

use themodel_platform::auth::Role;
use themodel_proto::onboarding as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_running_plan_keeps_its_version_across_an_edit() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    let v1 = create_playbook(&mut admin, playbook()).await;
    assert_eq!((v1.version, v1.etag.as_str()), (1, "v1"));
    let first = app.account("Acme", "SF-001", None).await;
    let mut csm = app.client(Role::Csm);
    let running = open(&mut csm, &first, Some(days_ago(10))).await;
    assert_eq!(
        (running.playbook_key.as_str(), running.playbook_version),
        ("analytics-default", 1)
    );

    // Version 2 adds a training step to the value phase.
    let mut edited = playbook();
    edited.phases[1].steps.insert(
        0,
        step(
            "training",
            pb::StepKind::Content,
            pb::Confirmation::Unspecified,
        ),
    );
    edited.etag = v1.etag.clone();
    let v2 = admin
        .publish_playbook_version(pb::PublishPlaybookVersionRequest {
            playbook: Some(edited.clone()),
            request_id: String::new(),
        })
        .await
        .expect("publish")
        .into_inner()
        .playbook
        .expect("playbook");
    assert_eq!((v2.version, v2.etag.as_str()), (2, "v2"));
    let stale = admin
        .publish_playbook_version(pb::PublishPlaybookVersionRequest {
            playbook: Some(edited),
            request_id: String::new(),
        })
        .await
        .expect_err("stale");
    assert_eq!(reason(&stale), "ETAG_MISMATCH");

    // The running plan still has version 1's three steps; a new one gets four.
    let kept = csm
        .get_plan(pb::GetPlanRequest {
            id: running.id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
        .plan
        .expect("plan");
    assert_eq!(kept.playbook_version, 1);
    assert_eq!(kept.steps.len(), 3);
    let second = app.account("Globex", "SF-002", None).await;
    let fresh = open(&mut csm, &second, Some(days_ago(1))).await;
    assert_eq!(fresh.playbook_version, 2);
    let keys: Vec<&str> = fresh.steps.iter().map(|s| s.step_key.as_str()).collect();
    assert_eq!(keys, vec!["kickoff", "sso", "training", "sign-off"]);
    let old = admin
        .get_playbook(pb::GetPlaybookRequest {
            playbook_key: "analytics-default".into(),
            version: 1,
        })
        .await
        .expect("v1")
        .into_inner()
        .playbook
        .expect("v1");
    assert_eq!(old.phases, playbook().phases);
    assert_eq!(old.etag, "v2");
    let listed = app
        .client(Role::PartnerUser)
        .list_playbooks(pb::ListPlaybooksRequest::default())
        .await
        .expect("list")
        .into_inner()
        .playbooks;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].version, 2);
    let published: Vec<pb::PlaybookPublished> = payloads(&app.events().await);
    assert_eq!(published.len(), 2);
}

#[tokio::test]
async fn bad_playbooks_are_refused_whole_and_named_by_field() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    let mut bad = playbook();
    bad.phases[0].steps.push(step(
        "sso",
        pb::StepKind::Setting,
        pb::Confirmation::Unspecified,
    ));
    bad.setup_criteria.push(on_step("missing"));
    bad.value_criteria.push(on_signal("users_active", 0));
    bad.targets[0].setup_days = -1;
    let err = admin
        .create_playbook(pb::CreatePlaybookRequest {
            playbook: Some(bad),
            request_id: String::new(),
        })
        .await
        .expect_err("bad");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&err),
        vec![
            "playbook.phases[0].steps[2].step_key",
            "playbook.setup_criteria[2].step_key",
            "playbook.value_criteria[1].signal.threshold",
            "playbook.targets[0].setup_days",
        ]
    );
    let err = admin
        .create_playbook(pb::CreatePlaybookRequest {
            playbook: Some(pb::Playbook {
                phases: vec![],
                setup_criteria: vec![on_signal("users_active", 5)],
                value_criteria: vec![on_signal("users_active", 10)],
                anchor: 0,
                ..playbook()
            }),
            request_id: String::new(),
        })
        .await
        .expect_err("no phases");
    assert_eq!(violated_fields(&err), vec!["playbook.anchor"]);
    let err = admin
        .create_playbook(pb::CreatePlaybookRequest {
            playbook: Some(pb::Playbook {
                phases: vec![],
                setup_criteria: vec![on_signal("users_active", 5)],
                value_criteria: vec![on_signal("users_active", 10)],
                ..playbook()
            }),
            request_id: String::new(),
        })
        .await
        .expect_err("no phases");
    assert_eq!(violated_fields(&err), vec!["playbook.phases"]);
    let err = admin
        .create_playbook(pb::CreatePlaybookRequest {
            playbook: Some(pb::Playbook {
                product_key: "unknown".into(),
                ..playbook()
            }),
            request_id: String::new(),
        })
        .await
        .expect_err("unknown product");
    assert_eq!(err.code(), Code::NotFound);
    let err = app
        .client(Role::Csm)
        .create_playbook(pb::CreatePlaybookRequest {
            playbook: Some(playbook()),
            request_id: String::new(),
        })
        .await
        .expect_err("csm");
    assert_eq!(err.code(), Code::PermissionDenied);
    create_playbook(&mut admin, playbook()).await;
    let err = admin
        .create_playbook(pb::CreatePlaybookRequest {
            playbook: Some(pb::Playbook {
                playbook_key: "another".into(),
                ..playbook()
            }),
            request_id: String::new(),
        })
        .await
        .expect_err("same scope");
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(
        payloads::<pb::PlaybookPublished>(&app.events().await).len(),
        1
    );
}

#[tokio::test]
async fn the_self_success_rule_routes_new_plans_and_reports_the_share() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_playbook(&mut admin, playbook()).await;
    let self_serve = create_playbook(
        &mut admin,
        pb::Playbook {
            playbook_key: "analytics-self".into(),
            self_success: true,
            phases: vec![pb::Phase {
                phase_key: "self".into(),
                display_name: "On your own".into(),
                steps: vec![step(
                    "sso",
                    pb::StepKind::Setting,
                    pb::Confirmation::Unspecified,
                )],
            }],
            setup_criteria: vec![on_step("sso")],
            value_criteria: vec![on_signal("users_active", 3)],
            ..playbook()
        },
    )
    .await;
    assert!(self_serve.self_success);
    let off = admin
        .get_self_success_rule(pb::GetSelfSuccessRuleRequest {})
        .await
        .expect("rule")
        .into_inner()
        .rule
        .expect("rule");
    assert_eq!(
        (
            off.enabled,
            off.version,
            off.target_min_percent,
            off.target_max_percent
        ),
        (false, 0, 10, 15)
    );
    let rule = pb::SelfSuccessRule {
        enabled: true,
        max_products: 1,
        required_signals: vec![pb::SignalCriterion {
            signal_key: "cloud_literate".into(),
            threshold: 1,
        }],
        etag: off.etag.clone(),
        ..Default::default()
    };
    let set = admin
        .update_self_success_rule(pb::UpdateSelfSuccessRuleRequest {
            rule: Some(rule.clone()),
            request_id: String::new(),
        })
        .await
        .expect("update")
        .into_inner()
        .rule
        .expect("rule");
    assert_eq!((set.version, set.target_min_percent), (1, 10));
    let stale = admin
        .update_self_success_rule(pb::UpdateSelfSuccessRuleRequest {
            rule: Some(rule),
            request_id: String::new(),
        })
        .await
        .expect_err("stale");
    assert_eq!(reason(&stale), "ETAG_MISMATCH");

    // A cloud-literate account onboards itself; another does not.
    let literate = app.account("Acme", "SF-001", None).await;
    let other = app.account("Globex", "SF-002", None).await;
    signal(
        &mut app.client(Role::Service),
        &literate,
        "cloud_literate",
        1,
    )
    .await;
    let mut csm = app.client(Role::Csm);
    let routed = open(&mut csm, &literate, Some(days_ago(0))).await;
    assert!(routed.self_success);
    assert_eq!(
        (
            routed.playbook_key.as_str(),
            routed.self_success_rule_version
        ),
        ("analytics-self", 1)
    );
    let kept = open(&mut csm, &other, Some(days_ago(0))).await;
    assert!(!kept.self_success);
    assert_eq!(kept.playbook_key, "analytics-default");

    let report = app
        .client(Role::CsManager)
        .get_self_success_report(pb::GetSelfSuccessReportRequest {
            start_date: Some(days_ago(1)),
            end_date: Some(days_ago(0)),
        })
        .await
        .expect("report")
        .into_inner();
    assert_eq!((report.opened, report.routed), (2, 1));
    assert_eq!(report.share_basis_points, Some(5_000));
    assert!(!report.within_target, "50% is over the 10-15% target");

    let err = admin
        .update_self_success_rule(pb::UpdateSelfSuccessRuleRequest {
            rule: Some(pb::SelfSuccessRule {
                max_products: -1,
                target_min_percent: 30,
                target_max_percent: 20,
                tiers: vec![42],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect_err("bad rule");
    assert_eq!(
        violated_fields(&err),
        vec![
            "rule.tiers[0]",
            "rule.max_products",
            "rule.target_max_percent"
        ]
    );
    let err = app
        .client(Role::PartnerUser)
        .get_self_success_rule(pb::GetSelfSuccessRuleRequest {})
        .await
        .expect_err("partner");
    assert_eq!(err.code(), Code::PermissionDenied);
    let audit: Vec<pb::SelfSuccessRuleUpdated> = payloads(&app.events().await);
    assert_eq!(audit.len(), 1);
}
