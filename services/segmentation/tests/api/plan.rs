use themodel_platform::auth::Role;
use themodel_proto::{common::Date, segmentation as pb};

use crate::helpers::*;

fn workload(tier: pb::Tier, new: i32, minutes: i32) -> pb::TierWorkload {
    pb::TierWorkload {
        tier: tier as i32,
        new_accounts_per_month: new,
        cs_minutes_per_account: minutes,
    }
}

#[tokio::test]
async fn the_headcount_plan_finds_the_first_month_the_csms_run_short() {
    let app = spawn_app().await;
    let mut client = app.admin();
    for i in 0..3 {
        create_ok(&mut client, account(&format!("A{i}"))).await;
    }
    client
        .apply_tier_policy(by_money(0, 0))
        .await
        .expect("apply");
    client
        .create_csm(pb::CreateCsmRequest {
            csm: Some(pb::Csm {
                id: "sato".into(),
                display_name: "Sato".into(),
                tier: pb::Tier::HighTouch as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("csm");

    // 3 accounts + 2 a month, 10 h each, CSMs work 140 h: month 6 has 15
    // accounts = 150 h, more than the one CSM there is.
    let plan = app
        .client(Role::CsManager)
        .plan_headcount(pb::PlanHeadcountRequest {
            start_month: Some(Date {
                year: 2027,
                month: 1,
                day: 15,
            }),
            months: 12,
            tiers: vec![workload(pb::Tier::HighTouch, 2, 600)],
            csm_hours_per_month: 140,
        })
        .await
        .expect("plan")
        .into_inner();
    assert_eq!(plan.months.len(), 12);
    let first = &plan.months[0];
    assert_eq!(
        first.month,
        Some(Date {
            year: 2027,
            month: 1,
            day: 1
        })
    );
    assert_eq!(
        (
            first.tiers[0].account_count,
            first.tiers[0].cs_hours,
            first.tiers[0].csms_needed
        ),
        (5, 50, 1)
    );
    assert_eq!(
        plan.first_short_month,
        Some(Date {
            year: 2027,
            month: 6,
            day: 1
        })
    );
    assert_eq!(plan.first_short_tier, pb::Tier::HighTouch as i32);
    assert!(plan.months[5].tiers[0].short);
    assert!(!plan.months[4].tiers[0].short);

    let status = client
        .plan_headcount(pb::PlanHeadcountRequest {
            months: 0,
            tiers: vec![
                workload(pb::Tier::LowTouch, 1, 60),
                workload(pb::Tier::LowTouch, -1, 60),
            ],
            csm_hours_per_month: 140,
            ..Default::default()
        })
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_fields(&status),
        ["months", "tiers[1].tier", "tiers[1].new_accounts_per_month"]
    );
    let status = app
        .partner_client("p1")
        .plan_headcount(pb::PlanHeadcountRequest::default())
        .await
        .expect_err("partner");
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
}

#[tokio::test]
async fn the_mix_counts_touched_tech_touch_accounts_as_hybrid_against_target_and_path() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let mut ids = Vec::new();
    for (i, millions) in [20, 8, 1, 1, 1].into_iter().enumerate() {
        let created = create_ok(
            &mut client,
            pb::Account {
                acv: jpy(millions * 1_000_000),
                partner_id: if i == 0 { "p1".into() } else { String::new() },
                ..account(&format!("A{i}"))
            },
        )
        .await;
        ids.push(created.id);
    }
    let mut rules = by_money(10_000_000, 5_000_000);
    if let Some(r) = rules.rules.as_mut() {
        r.target_mix = Some(pb::TouchMix {
            high_touch_percent: 20,
            hybrid_percent: 60,
            tech_touch_percent: 20,
        });
    }
    client.apply_tier_policy(rules).await.expect("apply");
    client
        .record_touchpoint(pb::RecordTouchpointRequest {
            touchpoint: Some(pb::Touchpoint {
                account_id: ids[2].clone(),
                kind: pb::TouchpointKind::Call as i32,
                occur_time: Some(std::time::SystemTime::now().into()),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("touch");

    let stage = |high, hybrid, tech| pb::TouchMix {
        high_touch_percent: high,
        hybrid_percent: hybrid,
        tech_touch_percent: tech,
    };
    let report = client
        .get_mix_report(pb::GetMixReportRequest {
            path: vec![stage(50, 50, 0), stage(40, 50, 10)],
            ..Default::default()
        })
        .await
        .expect("mix")
        .into_inner();
    assert_eq!(
        (
            report.high_touch_count,
            report.hybrid_count,
            report.tech_touch_count
        ),
        (1, 2, 2)
    );
    assert_eq!(
        (
            report.high_touch_basis_points,
            report.hybrid_basis_points,
            report.tech_touch_basis_points
        ),
        (2000, 4000, 4000)
    );
    assert_eq!(report.target, Some(stage(20, 60, 20)));
    assert_eq!(report.distance_to_target_basis_points, 2000);
    let distances: Vec<i32> = report
        .path
        .iter()
        .map(|s| s.distance_basis_points)
        .collect();
    assert_eq!(distances, [4000, 3000]);
    assert_eq!(report.nearest_stage, 1);

    // A partner sees the mix of its own accounts.
    let own = app
        .partner_client("p1")
        .get_mix_report(pb::GetMixReportRequest::default())
        .await
        .expect("partner mix")
        .into_inner();
    assert_eq!((own.account_count, own.high_touch_count), (1, 1));

    let status = client
        .get_mix_report(pb::GetMixReportRequest {
            target: Some(stage(20, 60, 30)),
            ..Default::default()
        })
        .await
        .expect_err("110%");
    assert_eq!(violated_fields(&status), ["target"]);
}

#[tokio::test]
async fn the_mix_report_defaults_to_the_target_of_the_policy_in_force() {
    let app = spawn_app().await;
    let mut client = app.admin();
    create_ok(&mut client, account("A")).await;
    let mut rules = by_money(0, 0);
    let target = pb::TouchMix {
        high_touch_percent: 50,
        hybrid_percent: 50,
        tech_touch_percent: 0,
    };
    if let Some(r) = rules.rules.as_mut() {
        r.target_mix = Some(target);
    }
    let applied = client
        .apply_tier_policy(rules)
        .await
        .expect("apply")
        .into_inner()
        .policy
        .expect("policy");
    assert_eq!(applied.mix.and_then(|m| m.target), Some(target));
    let report = client
        .get_mix_report(pb::GetMixReportRequest::default())
        .await
        .expect("mix")
        .into_inner();
    assert_eq!(report.target, Some(target));
    assert_eq!(report.distance_to_target_basis_points, 5000);
}
