//! CSQLs handed from CS to customer sales, opportunities won into
//! subscriptions or lost, and CS's expansion KPIs.

use themodel_platform::auth::Role;
use themodel_proto::expansion as pb;
use tonic::Code;

use crate::helpers::*;

/// An account holding "analytics" (10 seats at 100 a month) with "crm" on
/// sale, and CSM "test-user" (every test token's subject) in team-a.
async fn setup(app: &TestApp, partner: Option<&str>) -> (String, pb::Subscription) {
    let mut admin = app.admin();
    create_ok(&mut admin, product("analytics")).await;
    create_ok(&mut admin, product("crm")).await;
    app.csm("test-user", "team-a").await;
    let account = app.account("Acme", partner).await;
    let sub = subscribe(
        &mut admin,
        subscription(
            &account,
            "analytics",
            vec![term(10, 100, date(2024, 1, 1), None)],
        ),
    )
    .await;
    (account, sub)
}

fn csql(account: &str, kind: pb::CsqlKind, product_key: &str) -> pb::Csql {
    pb::Csql {
        account_id: account.into(),
        kind: kind as i32,
        product_key: product_key.into(),
        estimated_mrr: usd(500),
        reason: "Their support team doubled".into(),
        ..Default::default()
    }
}

async fn raise(client: &mut Client, csql: pb::Csql) -> pb::Csql {
    client
        .create_csql(pb::CreateCsqlRequest {
            csql: Some(csql),
            request_id: String::new(),
        })
        .await
        .expect("create csql")
        .into_inner()
        .csql
        .expect("csql")
}

async fn hand_off(client: &mut Client, id: &str) -> pb::Csql {
    client
        .hand_off_csql(pb::HandOffCsqlRequest {
            id: id.into(),
            ..Default::default()
        })
        .await
        .expect("hand off")
        .into_inner()
        .csql
        .expect("csql")
}

async fn accept(client: &mut Client, id: &str) -> pb::AcceptCsqlResponse {
    client
        .accept_csql(pb::AcceptCsqlRequest {
            id: id.into(),
            ..Default::default()
        })
        .await
        .expect("accept")
        .into_inner()
}

#[tokio::test]
async fn a_csql_is_handed_off_accepted_and_won_into_the_subscription() {
    let app = spawn_app().await;
    let (account, sub) = setup(&app, Some("p-1")).await;
    let mut csm = app.client(Role::Csm);
    let mut sales = app.client(Role::CustomerSales);

    let raised = raise(&mut csm, csql(&account, pb::CsqlKind::Upsell, "analytics")).await;
    assert_eq!(raised.status, pb::CsqlStatus::Open as i32);
    assert_eq!(raised.csm_id, "test-user");
    assert_eq!(raised.team_id, "team-a");

    // Customer sales decides only what CS handed off.
    let early = sales
        .accept_csql(pb::AcceptCsqlRequest {
            id: raised.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("not handed off");
    assert_eq!(reason(&early), "CSQL_NOT_HANDED_OFF");
    let handed = hand_off(&mut csm, &raised.id).await;
    assert_eq!(handed.status, pb::CsqlStatus::HandedOff as i32);
    assert!(handed.hand_off_time.is_some());

    let accepted = accept(&mut sales, &raised.id).await;
    let opportunity = accepted.opportunity.expect("opportunity");
    assert_eq!(opportunity.stage, pb::OpportunityStage::Open as i32);
    assert_eq!(opportunity.estimated_mrr, usd(500));
    let csql = accepted.csql.expect("csql");
    assert_eq!(csql.status, pb::CsqlStatus::Accepted as i32);
    assert_eq!(csql.opportunity_id, opportunity.id);

    // Accepted once: a second decision either way is refused.
    let twice = sales
        .accept_csql(pb::AcceptCsqlRequest {
            id: raised.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("twice");
    assert_eq!(reason(&twice), "CSQL_ALREADY_DECIDED");
    let late = sales
        .reject_csql(pb::RejectCsqlRequest {
            id: raised.id.clone(),
            reason: "changed our mind".into(),
            ..Default::default()
        })
        .await
        .expect_err("after accept");
    assert_eq!(reason(&late), "CSQL_ALREADY_DECIDED");

    // Won without a term, or with one that adds no MRR: refused, nothing
    // written.
    let bare = sales
        .win_opportunity(pb::WinOpportunityRequest {
            id: opportunity.id.clone(),
            subscription_id: sub.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("no term");
    assert_eq!(violated_fields(&bare), vec!["term"]);
    let flat = sales
        .win_opportunity(pb::WinOpportunityRequest {
            id: opportunity.id.clone(),
            subscription_id: sub.id.clone(),
            term: Some(term(10, 100, date(2024, 6, 1), None)),
            ..Default::default()
        })
        .await
        .expect_err("no gain");
    assert_eq!(reason(&flat), "NO_MRR_GAINED");
    let unchanged = admin_get(&app, &sub.id).await;
    assert_eq!(unchanged.terms.len(), 1);

    // Five more seats from June: 500 more MRR, on the same subscription.
    let won = sales
        .win_opportunity(pb::WinOpportunityRequest {
            id: opportunity.id.clone(),
            subscription_id: sub.id.clone(),
            term: Some(term(15, 100, date(2024, 6, 1), None)),
            ..Default::default()
        })
        .await
        .expect("win")
        .into_inner();
    let opportunity = won.opportunity.expect("opportunity");
    assert_eq!(opportunity.stage, pb::OpportunityStage::Won as i32);
    assert_eq!(opportunity.won_mrr, usd(500));
    assert_eq!(opportunity.subscription_id, sub.id);
    let changed = won.subscription.expect("subscription");
    assert_eq!(changed.terms.len(), 2);
    assert_eq!(changed.current_mrr, usd(1_500));
    let again = sales
        .lose_opportunity(pb::LoseOpportunityRequest {
            id: opportunity.id.clone(),
            reason: "budget".into(),
            ..Default::default()
        })
        .await
        .expect_err("closed");
    assert_eq!(reason(&again), "OPPORTUNITY_CLOSED");

    // The win is expansion in June's revenue movements.
    let report = app
        .admin()
        .get_revenue_report(pb::GetRevenueReportRequest {
            start_month: date(2024, 6, 0),
            end_month: date(2024, 6, 0),
            ..Default::default()
        })
        .await
        .expect("report")
        .into_inner();
    assert_eq!(report.groups[0].months[0].expansion_mrr, usd(500));

    let events = app.events().await;
    assert_eq!(payloads::<pb::CsqlCreated>(&events).len(), 1);
    assert_eq!(payloads::<pb::CsqlAccepted>(&events).len(), 1);
    let wins: Vec<pb::OpportunityWon> = payloads(&events);
    assert_eq!(wins.len(), 1);
    assert_eq!(wins[0].partner_id, "p-1");
}

async fn admin_get(app: &TestApp, id: &str) -> pb::Subscription {
    app.admin()
        .get_subscription(pb::GetSubscriptionRequest { id: id.into() })
        .await
        .expect("get")
        .into_inner()
        .subscription
        .expect("subscription")
}

#[tokio::test]
async fn a_cross_sell_win_opens_a_subscription_and_rejections_and_losses_keep_their_reasons() {
    let app = spawn_app().await;
    let (account, _) = setup(&app, None).await;
    let mut csm = app.client(Role::Csm);
    let mut sales = app.client(Role::CustomerSales);

    // The kind must fit what the account holds.
    let wrong = csm
        .create_csql(pb::CreateCsqlRequest {
            csql: Some(csql(&account, pb::CsqlKind::CrossSell, "analytics")),
            request_id: String::new(),
        })
        .await
        .expect_err("held");
    assert_eq!(reason(&wrong), "PRODUCT_HELD");
    let wrong = csm
        .create_csql(pb::CreateCsqlRequest {
            csql: Some(csql(&account, pb::CsqlKind::Upsell, "crm")),
            request_id: String::new(),
        })
        .await
        .expect_err("not held");
    assert_eq!(reason(&wrong), "PRODUCT_NOT_HELD");

    let cross = raise(&mut csm, csql(&account, pb::CsqlKind::CrossSell, "crm")).await;
    hand_off(&mut csm, &cross.id).await;
    let opportunity = accept(&mut sales, &cross.id)
        .await
        .opportunity
        .expect("opportunity");
    let won = sales
        .win_opportunity(pb::WinOpportunityRequest {
            id: opportunity.id.clone(),
            plan_key: "pro-monthly".into(),
            term: Some(term(2, 100, date(2024, 3, 1), None)),
            ..Default::default()
        })
        .await
        .expect("win")
        .into_inner();
    let subscription = won.subscription.expect("subscription");
    assert_eq!(subscription.product_key, "crm");
    assert_eq!(won.opportunity.expect("opportunity").won_mrr, usd(200));

    let rejected = raise(&mut csm, csql(&account, pb::CsqlKind::Upsell, "analytics")).await;
    hand_off(&mut csm, &rejected.id).await;
    let no_reason = sales
        .reject_csql(pb::RejectCsqlRequest {
            id: rejected.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("reason");
    assert_eq!(violated_fields(&no_reason), vec!["reason"]);
    let rejected = sales
        .reject_csql(pb::RejectCsqlRequest {
            id: rejected.id.clone(),
            reason: "already in a renewal deal".into(),
            ..Default::default()
        })
        .await
        .expect("reject")
        .into_inner()
        .csql
        .expect("csql");
    assert_eq!(rejected.status, pb::CsqlStatus::Rejected as i32);
    assert_eq!(rejected.rejection_reason, "already in a renewal deal");

    let lost = raise(&mut csm, csql(&account, pb::CsqlKind::Upsell, "analytics")).await;
    hand_off(&mut csm, &lost.id).await;
    let opportunity = accept(&mut sales, &lost.id)
        .await
        .opportunity
        .expect("opportunity");
    let lost = sales
        .lose_opportunity(pb::LoseOpportunityRequest {
            id: opportunity.id,
            reason: "budget freeze".into(),
            ..Default::default()
        })
        .await
        .expect("lose")
        .into_inner()
        .opportunity
        .expect("opportunity");
    assert_eq!(lost.stage, pb::OpportunityStage::Lost as i32);
    assert_eq!(lost.lost_reason, "budget freeze");

    // One still open.
    let open = raise(&mut csm, csql(&account, pb::CsqlKind::Upsell, "analytics")).await;
    hand_off(&mut csm, &open.id).await;
    accept(&mut sales, &open.id).await;
    raise(&mut csm, csql(&account, pb::CsqlKind::Upsell, "analytics")).await;

    // KPIs: 5 raised, 4 handed off, 3 accepted of 4 decided, 1 won of 2
    // closed, 500 in open pipeline.
    let today = chrono::Utc::now().date_naive();
    use chrono::Datelike as _;
    let stats = app
        .admin()
        .get_csql_report(pb::GetCsqlReportRequest {
            start_date: date(today.year(), today.month() as i32, 1),
            end_date: date(today.year(), today.month() as i32, today.day() as i32),
            group_by: pb::CsqlGrouping::Team as i32,
        })
        .await
        .expect("report")
        .into_inner()
        .groups;
    assert_eq!(stats.len(), 1);
    let team = &stats[0];
    assert_eq!(team.group, "team-a");
    assert_eq!(
        (
            team.created,
            team.handed_off,
            team.accepted,
            team.rejected,
            team.won,
            team.lost
        ),
        (5, 4, 3, 1, 1, 1)
    );
    assert_eq!(team.acceptance_rate_basis_points, Some(7_500));
    assert_eq!(team.win_rate_basis_points, Some(5_000));
    assert_eq!(team.pipeline_value, usd(500));
}

#[tokio::test]
async fn only_cs_raises_only_customer_sales_decides_and_partners_see_their_own() {
    let app = spawn_app().await;
    let (account, _) = setup(&app, Some("p-1")).await;
    let other = app.account("Other", Some("p-2")).await;
    let mut csm = app.client(Role::Csm);

    let status = app
        .client(Role::CustomerSales)
        .create_csql(pb::CreateCsqlRequest {
            csql: Some(csql(&account, pb::CsqlKind::Upsell, "analytics")),
            request_id: String::new(),
        })
        .await
        .expect_err("sales raises");
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = csm
        .create_csql(pb::CreateCsqlRequest {
            csql: Some(pb::Csql {
                csm_id: "someone-else".into(),
                ..csql(&account, pb::CsqlKind::Upsell, "analytics")
            }),
            request_id: String::new(),
        })
        .await
        .expect_err("another csm");
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = csm
        .create_csql(pb::CreateCsqlRequest {
            csql: Some(pb::Csql {
                estimated_mrr: usd(0),
                reason: String::new(),
                ..csql(&account, pb::CsqlKind::Unspecified, "analytics")
            }),
            request_id: String::new(),
        })
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_fields(&status),
        vec!["csql.kind", "csql.estimated_mrr", "csql.reason"]
    );

    let own = raise(&mut csm, csql(&account, pb::CsqlKind::Upsell, "analytics")).await;
    let hidden = raise(&mut csm, csql(&other, pb::CsqlKind::CrossSell, "analytics")).await;
    hand_off(&mut csm, &own.id).await;
    let status = csm
        .accept_csql(pb::AcceptCsqlRequest {
            id: own.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("csm decides");
    assert_eq!(status.code(), Code::PermissionDenied);

    let mut partner = app.client(Role::PartnerUser);
    let listed = partner
        .list_csqls(pb::ListCsqlsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .csqls;
    assert_eq!(
        listed.iter().map(|c| &c.id).collect::<Vec<_>>(),
        vec![&own.id]
    );
    let status = partner
        .get_csql(pb::GetCsqlRequest {
            id: hidden.id.clone(),
        })
        .await
        .expect_err("hidden");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn the_csql_report_groups_by_the_accounts_partner_and_partners_see_their_own_group() {
    let app = spawn_app().await;
    let (first, _) = setup(&app, Some("p-1")).await;
    let second = app.account("Globex", Some("p-1")).await;
    let third = app.account("Initech", Some("p-2")).await;
    let solo = app.account("Solo", None).await;
    let mut csm = app.client(Role::Csm);
    let mut sales = app.client(Role::CustomerSales);

    // p-1: one accepted (its opportunity open) and one just raised; p-2: one
    // rejected; no partner: one raised.
    let accepted = raise(&mut csm, csql(&first, pb::CsqlKind::CrossSell, "crm")).await;
    hand_off(&mut csm, &accepted.id).await;
    accept(&mut sales, &accepted.id).await;
    raise(&mut csm, csql(&second, pb::CsqlKind::CrossSell, "crm")).await;
    let rejected = raise(&mut csm, csql(&third, pb::CsqlKind::CrossSell, "crm")).await;
    hand_off(&mut csm, &rejected.id).await;
    sales
        .reject_csql(pb::RejectCsqlRequest {
            id: rejected.id.clone(),
            reason: "no budget".into(),
            ..Default::default()
        })
        .await
        .expect("reject");
    raise(&mut csm, csql(&solo, pb::CsqlKind::CrossSell, "crm")).await;

    let today = chrono::Utc::now().date_naive();
    use chrono::Datelike as _;
    let report = |client: &mut Client| {
        let mut client = client.clone();
        async move {
            client
                .get_csql_report(pb::GetCsqlReportRequest {
                    start_date: date(today.year(), today.month() as i32, 1),
                    end_date: date(today.year(), today.month() as i32, today.day() as i32),
                    group_by: pb::CsqlGrouping::Partner as i32,
                })
                .await
                .expect("report")
                .into_inner()
                .groups
        }
    };
    let groups = report(&mut app.admin()).await;
    let counts: Vec<(&str, i64, i64, i64, i64)> = groups
        .iter()
        .map(|g| {
            (
                g.group.as_str(),
                g.created,
                g.handed_off,
                g.accepted,
                g.rejected,
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![("", 1, 0, 0, 0), ("p-1", 2, 1, 1, 0), ("p-2", 1, 1, 0, 1)]
    );
    assert_eq!(groups[1].pipeline_value, usd(500));
    assert_eq!(groups[2].acceptance_rate_basis_points, Some(0));

    // A partner user's report holds its own partner's CSQLs alone.
    let own = report(&mut app.client(Role::PartnerUser)).await;
    assert_eq!(
        own.iter()
            .map(|g| (g.group.as_str(), g.created))
            .collect::<Vec<_>>(),
        vec![("p-1", 2)]
    );
}
