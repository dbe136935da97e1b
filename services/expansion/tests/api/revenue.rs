//! The revenue report through the API: the published NRR and GRR examples,
//! groups, mixed currencies and partner scope.

use themodel_platform::auth::Role;
use themodel_proto::expansion as pb;
use tonic::Code;

use crate::helpers::*;

fn report(group_by: pb::RevenueGrouping) -> pb::GetRevenueReportRequest {
    pb::GetRevenueReportRequest {
        start_month: date(2024, 3, 0),
        end_month: date(2024, 3, 0),
        group_by: group_by as i32,
        ..Default::default()
    }
}

async fn get_report(
    client: &mut Client,
    request: pb::GetRevenueReportRequest,
) -> pb::GetRevenueReportResponse {
    client
        .get_revenue_report(request)
        .await
        .expect("report")
        .into_inner()
}

/// Starting MRR 500,000; in March one account expands by 75,000, one
/// contracts by 20,000 and one churns 30,000; a new logo arrives.
async fn published_example(app: &TestApp) -> Client {
    let mut admin = app.admin();
    create_ok(&mut admin, product("analytics")).await;
    let a = app.account("Expands", Some("p-1")).await;
    let b = app.account("Contracts", Some("p-1")).await;
    let c = app.account("Churns", Some("p-2")).await;
    let d = app.account("New", Some("p-2")).await;
    let grows = subscribe(
        &mut admin,
        subscription(
            &a,
            "analytics",
            vec![term(1, 250_000, date(2024, 1, 1), None)],
        ),
    )
    .await;
    change(
        &mut admin,
        &grows.id,
        term(1, 325_000, date(2024, 3, 10), None),
    )
    .await;
    let shrinks = subscribe(
        &mut admin,
        subscription(
            &b,
            "analytics",
            vec![term(1, 220_000, date(2024, 1, 1), None)],
        ),
    )
    .await;
    change(
        &mut admin,
        &shrinks.id,
        term(1, 200_000, date(2024, 3, 5), None),
    )
    .await;
    subscribe(
        &mut admin,
        subscription(
            &c,
            "analytics",
            vec![term(1, 30_000, date(2024, 1, 1), date(2024, 3, 15))],
        ),
    )
    .await;
    subscribe(
        &mut admin,
        subscription(
            &d,
            "analytics",
            vec![term(1, 50_000, date(2024, 3, 20), None)],
        ),
    )
    .await;
    admin
}

#[tokio::test]
async fn nrr_is_105_and_grr_90_on_the_published_example() {
    let app = spawn_app().await;
    let mut admin = published_example(&app).await;
    let response = get_report(&mut admin, report(pb::RevenueGrouping::Unspecified)).await;
    assert_eq!(response.currency_code, "USD");
    assert_eq!(response.groups.len(), 1);
    let whole = &response.groups[0];
    let retention = whole.retention.as_ref().expect("retention");
    assert_eq!(retention.starting_mrr, usd(500_000));
    assert_eq!(retention.expansion_mrr, usd(75_000));
    assert_eq!(retention.contraction_mrr, usd(20_000));
    assert_eq!(retention.churn_mrr, usd(30_000));
    assert_eq!(retention.nrr_basis_points, Some(10_500));
    assert_eq!(retention.grr_basis_points, Some(9_000));
    assert_eq!(retention.cohort_accounts, 3);
    assert_eq!(retention.logo_churn_basis_points, Some(3_333));

    let march = &whole.months[0];
    assert_eq!(march.month, date(2024, 3, 1));
    assert_eq!(march.starting_mrr, usd(500_000));
    assert_eq!(march.new_mrr, usd(50_000));
    assert_eq!(march.expansion_mrr, usd(75_000));
    assert_eq!(march.contraction_mrr, usd(20_000));
    assert_eq!(march.churn_mrr, usd(30_000));
    assert_eq!(march.ending_mrr, usd(575_000));
    assert_eq!((march.new_accounts, march.churned_accounts), (1, 1));

    // By partner: the groups split the same movements.
    let by_partner = get_report(&mut admin, report(pb::RevenueGrouping::Partner)).await;
    let groups: Vec<_> = by_partner.groups.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(groups, vec!["p-1", "p-2"]);
    let p1 = by_partner.groups[0].retention.as_ref().expect("retention");
    assert_eq!(p1.starting_mrr, usd(470_000));
    assert_eq!(p1.ending_mrr, usd(525_000));
    let p2 = by_partner.groups[1].retention.as_ref().expect("retention");
    assert_eq!(p2.churn_mrr, usd(30_000));
    assert_eq!(p2.grr_basis_points, Some(0));
}

#[tokio::test]
async fn the_second_published_example_gives_nrr_110_and_grr_80() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_ok(&mut admin, product("analytics")).await;
    let grows = app.account("Grows", None).await;
    let stays = app.account("Stays", None).await;
    let leaves = app.account("Leaves", None).await;
    let sub = subscribe(
        &mut admin,
        subscription(
            &grows,
            "analytics",
            vec![term(1, 500_000, date(2024, 1, 1), None)],
        ),
    )
    .await;
    change(
        &mut admin,
        &sub.id,
        term(1, 800_000, date(2024, 3, 1), None),
    )
    .await;
    subscribe(
        &mut admin,
        subscription(
            &stays,
            "analytics",
            vec![term(1, 300_000, date(2024, 1, 1), None)],
        ),
    )
    .await;
    subscribe(
        &mut admin,
        subscription(
            &leaves,
            "analytics",
            vec![term(1, 200_000, date(2024, 1, 1), date(2024, 3, 1))],
        ),
    )
    .await;
    let response = get_report(&mut admin, report(pb::RevenueGrouping::Unspecified)).await;
    let retention = response.groups[0].retention.as_ref().expect("retention");
    assert_eq!(retention.starting_mrr, usd(1_000_000));
    assert_eq!(retention.nrr_basis_points, Some(11_000));
    assert_eq!(retention.grr_basis_points, Some(8_000));
}

#[tokio::test]
async fn mixed_currencies_are_refused_unless_one_is_named() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_ok(&mut admin, product("analytics")).await;
    let us = app.account("US", None).await;
    let eu = app.account("EU", None).await;
    subscribe(
        &mut admin,
        subscription(&us, "analytics", vec![term(1, 100, date(2024, 1, 1), None)]),
    )
    .await;
    subscribe(
        &mut admin,
        subscription(
            &eu,
            "analytics",
            vec![pb::SubscriptionTerm {
                unit_price: money("EUR", 90, 0),
                ..term(1, 0, date(2024, 1, 1), None)
            }],
        ),
    )
    .await;
    let status = admin
        .get_revenue_report(report(pb::RevenueGrouping::Unspecified))
        .await
        .expect_err("mixed");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "MIXED_CURRENCIES");
    let euros = get_report(
        &mut admin,
        pb::GetRevenueReportRequest {
            currency_code: "EUR".into(),
            ..report(pb::RevenueGrouping::Unspecified)
        },
    )
    .await;
    assert_eq!(euros.currency_code, "EUR");
    let retention = euros.groups[0].retention.as_ref().expect("retention");
    assert_eq!(retention.starting_mrr, money("EUR", 90, 0));
}

#[tokio::test]
async fn bad_ranges_are_refused_with_the_field() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    for (request, field) in [
        (
            pb::GetRevenueReportRequest {
                start_month: None,
                ..report(pb::RevenueGrouping::Unspecified)
            },
            "start_month",
        ),
        (
            pb::GetRevenueReportRequest {
                end_month: date(2024, 2, 0),
                ..report(pb::RevenueGrouping::Unspecified)
            },
            "end_month",
        ),
        (
            pb::GetRevenueReportRequest {
                end_month: date(2040, 1, 0),
                ..report(pb::RevenueGrouping::Unspecified)
            },
            "end_month",
        ),
        (
            pb::GetRevenueReportRequest {
                start_month: date(2024, 13, 0),
                ..report(pb::RevenueGrouping::Unspecified)
            },
            "start_month",
        ),
        (
            pb::GetRevenueReportRequest {
                start_month: date(2024, 3, 15),
                ..report(pb::RevenueGrouping::Unspecified)
            },
            "start_month",
        ),
        (
            pb::GetRevenueReportRequest {
                currency_code: "usd".into(),
                ..report(pb::RevenueGrouping::Unspecified)
            },
            "currency_code",
        ),
        (
            pb::GetRevenueReportRequest {
                group_by: 99,
                ..report(pb::RevenueGrouping::Unspecified)
            },
            "group_by",
        ),
    ] {
        let status = admin
            .get_revenue_report(request)
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(violated_fields(&status), vec![field]);
    }
}

#[tokio::test]
async fn a_partner_user_reports_on_its_own_accounts_only() {
    let app = spawn_app().await;
    published_example(&app).await;
    let mut partner = app.client(Role::PartnerUser);
    let own = get_report(&mut partner, report(pb::RevenueGrouping::Partner)).await;
    let groups: Vec<_> = own.groups.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(groups, vec!["p-1"]);
    let whole = get_report(&mut partner, report(pb::RevenueGrouping::Unspecified)).await;
    let retention = whole.groups[0].retention.as_ref().expect("retention");
    assert_eq!(retention.starting_mrr, usd(470_000));
    let status = partner
        .get_revenue_report(pb::GetRevenueReportRequest {
            partner_id: "p-2".into(),
            ..report(pb::RevenueGrouping::Unspecified)
        })
        .await
        .expect_err("other partner");
    assert_eq!(status.code(), Code::PermissionDenied);
}
