//! Tier policies and coverage at scale: PreviewTierPolicy, ApplyTierPolicy
//! and GetCoverage through the service, against a set-based SQL statement
//! computing the same figures in the same database.

use std::time::{Instant, SystemTime};

use sea_orm::{ConnectionTrait, Database};
use themodel_proto::segmentation::{
    self as pb, segmentation_service_client::SegmentationServiceClient,
};

use crate::{
    procs::ServerProc,
    report::{Row, Section, Verdict, times},
    scenarios::{Bearer, Bench},
};

/// The goals: within 2x of the SQL, under 512 MiB at peak.
const MAX_RATIO: f64 = 2.0;
const MAX_PEAK_MIB: f64 = 512.0;
/// Touchpoints per BatchRecordTouchpoints call.
const TOUCH_BATCH: u64 = 1000;

/// Ranks the accounts that are not churned by ACV + potential ACV and cuts
/// at 10% / 40% (cumulative, rounded half up): the default shares.
const RANKED: &str = "WITH ranked AS (\
     SELECT id, acv_units, \
            ROW_NUMBER() OVER (ORDER BY basis_units DESC, basis_nanos DESC) AS r, \
            COUNT(*) OVER () AS n \
     FROM accounts WHERE lifecycle_status <> 'LIFECYCLE_STATUS_CHURNED'), \
     tiered AS (\
     SELECT id, acv_units, CASE WHEN r <= (n * 20 + 100) / 200 THEN 'TIER_HIGH_TOUCH' \
                                WHEN r <= (n * 80 + 100) / 200 THEN 'TIER_LOW_TOUCH' \
                                ELSE 'TIER_TECH_TOUCH' END AS tier FROM ranked) ";

impl Bench {
    /// Tier policy and coverage on SQLite and, when it answers, PostgreSQL.
    pub async fn segmentation(&mut self) -> anyhow::Result<Vec<Section>> {
        let (tiers, coverage) = (self.sqlite_url("tiers"), self.sqlite_url("coverage"));
        let mut sections = vec![self.segmentation_on("SQLite", &tiers, &coverage).await?];
        if let Some(admin) = self.postgres.clone() {
            let tiers = crate::baseline::PgDatabase::create(&admin).await?;
            let coverage = crate::baseline::PgDatabase::create(&admin).await?;
            let section = self
                .segmentation_on("PostgreSQL", &tiers.url, &coverage.url)
                .await;
            tiers.drop_database().await?;
            coverage.drop_database().await?;
            sections.push(section?);
        }
        Ok(sections)
    }

    async fn segmentation_on(
        &self,
        backend: &str,
        url: &str,
        coverage_url: &str,
    ) -> anyhow::Result<Section> {
        let accounts = self.plan.bulk_rows;
        let covered_accounts = accounts / 10;
        let touchpoints = covered_accounts * 10;

        // Tier policy: load, then measure the SQL on the untouched data, put
        // it back, and measure the service on a freshly started process.
        let loader = self.serve(url).await?;
        self.load_accounts(loader.addr, accounts).await?;
        loader.stop().await;
        let preview_sql = sql_seconds(
            url,
            &[&format!(
                "{RANKED}SELECT tier, COUNT(*), SUM(acv_units) FROM tiered GROUP BY tier"
            )],
        )
        .await?;
        let apply_sql = sql_seconds(
            url,
            &[&format!(
                "{RANKED}UPDATE accounts SET tier = tiered.tier, revision = revision + 1 \
             FROM tiered WHERE accounts.id = tiered.id AND accounts.tier <> tiered.tier"
            )],
        )
        .await?;
        sql_seconds(url, &["UPDATE accounts SET tier = 'TIER_UNSPECIFIED'"]).await?;

        let seg = self.serve(url).await?;
        let mut admin = self.admin_client(&seg).await?;
        let start = Instant::now();
        let preview = admin
            .preview_tier_policy(pb::PreviewTierPolicyRequest {
                page_size: 1,
                ..Default::default()
            })
            .await?
            .into_inner();
        let preview_ours = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let applied = admin
            .apply_tier_policy(pb::ApplyTierPolicyRequest {
                reason: "benchmark".into(),
                request_id: "bench-apply".into(),
                ..Default::default()
            })
            .await?
            .into_inner();
        let apply_ours = start.elapsed().as_secs_f64();
        let policy_peak = seg.peak_rss_mib();
        let moved = applied.policy.map_or(0, |p| p.moved_count);
        anyhow::ensure!(
            preview.policy.map(|p| p.ranked_count) == Some(accounts as i32)
                && moved == accounts as i32,
            "the policy ranked or moved fewer than {accounts} accounts"
        );
        seg.stop().await;

        // Coverage: another database with a tenth of the accounts and ten
        // touchpoints each, all within the last month.
        let loader = self.serve(coverage_url).await?;
        self.load_accounts(loader.addr, covered_accounts).await?;
        let mut admin = self.admin_client(&loader).await?;
        admin
            .apply_tier_policy(pb::ApplyTierPolicyRequest::default())
            .await?;
        let ids = account_ids(&mut admin, covered_accounts).await?;
        record_touchpoints(&mut admin, &ids, touchpoints).await?;
        loader.stop().await;
        let now_us = chrono::Utc::now().timestamp_micros();
        let month_us = 30 * 86_400 * 1_000_000i64;
        let coverage_sql = sql_seconds(
            coverage_url,
            &[&format!(
                "SELECT a.tier, COUNT(*), SUM(CASE WHEN t.last > {} THEN 1 ELSE 0 END) \
             FROM accounts a LEFT JOIN (SELECT account_id, MAX(occur_time_us) AS last \
             FROM touchpoints WHERE occur_time_us <= {now_us} GROUP BY account_id) t \
             ON t.account_id = a.id WHERE a.lifecycle_status <> 'LIFECYCLE_STATUS_CHURNED' \
             GROUP BY a.tier",
                now_us - month_us
            )],
        )
        .await?;
        let seg = self.serve(coverage_url).await?;
        let mut admin = self.admin_client(&seg).await?;
        let start = Instant::now();
        let coverage = admin
            .get_coverage(pb::GetCoverageRequest::default())
            .await?
            .into_inner();
        let coverage_ours = start.elapsed().as_secs_f64();
        let coverage_peak = seg.peak_rss_mib();
        let counted: i32 = coverage.tiers.iter().map(|f| f.account_count).sum();
        anyhow::ensure!(
            counted == covered_accounts as i32,
            "coverage counted {counted} of {covered_accounts} accounts"
        );
        seg.stop().await;

        let row = |measure: String, ours: f64, base: f64| {
            let ratio = ours / base;
            Row {
                measure,
                ours: format!("{ours:.2}"),
                baseline: format!("{base:.2}"),
                ratio: times(ratio),
                goal: format!("<= {MAX_RATIO:.0}x"),
                verdict: Verdict::of(ratio <= MAX_RATIO),
            }
        };
        let peak = |measure: &str, mib: f64| Row {
            measure: measure.into(),
            ours: format!("{mib:.0}"),
            baseline: String::new(),
            ratio: String::new(),
            goal: format!("< {MAX_PEAK_MIB:.0} MiB"),
            verdict: Verdict::of(mib < MAX_PEAK_MIB),
        };
        Ok(Section {
            title: format!("Tier policy and coverage: {backend}"),
            setup: format!(
                "PreviewTierPolicy (default shares, one move per page) and ApplyTierPolicy over \
                 {accounts} accounts, then GetCoverage over {covered_accounts} accounts with \
                 {touchpoints} touchpoints, each one call to a freshly started service, against one \
                 set-based SQL statement computing the same in the same database: a window-function \
                 ranking grouped by tier, the same ranking as an `UPDATE ... FROM`, and a last-touch \
                 aggregate joined to the accounts. The service also writes a history row and a \
                 `TierAssigned` event per moved account; the SQL writes neither."
            ),
            rows: vec![
                row(
                    format!("PreviewTierPolicy, {accounts} accounts (s)"),
                    preview_ours,
                    preview_sql,
                ),
                row(
                    format!("ApplyTierPolicy, {accounts} accounts (s)"),
                    apply_ours,
                    apply_sql,
                ),
                peak("peak service RSS, preview and apply (MiB)", policy_peak),
                row(
                    format!(
                        "GetCoverage, {covered_accounts} accounts, {touchpoints} touchpoints (s)"
                    ),
                    coverage_ours,
                    coverage_sql,
                ),
                peak("peak service RSS, coverage (MiB)", coverage_peak),
            ],
            notes: vec![format!("accounts moved by the apply: {moved}")],
        })
    }

    async fn serve(&self, url: &str) -> anyhow::Result<ServerProc> {
        self.spawn("segmentation", &["--database-url", url]).await
    }

    async fn admin_client(&self, seg: &ServerProc) -> anyhow::Result<Admin> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", seg.addr))?
            .connect()
            .await?;
        Ok(
            SegmentationServiceClient::with_interceptor(channel, self.admin.clone())
                .max_decoding_message_size(64 << 20),
        )
    }
}

/// Runs `statements` over one connection; returns their seconds.
async fn sql_seconds(url: &str, statements: &[&str]) -> anyhow::Result<f64> {
    let db = Database::connect(url).await?;
    let start = Instant::now();
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    let seconds = start.elapsed().as_secs_f64();
    db.close().await?;
    Ok(seconds)
}

type Admin = SegmentationServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>,
>;

async fn account_ids(client: &mut Admin, n: u64) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(n as usize);
    let mut page_token = String::new();
    loop {
        let page = client
            .list_accounts(pb::ListAccountsRequest {
                page_size: 1000,
                page_token,
                ..Default::default()
            })
            .await?
            .into_inner();
        ids.extend(page.accounts.into_iter().map(|a| a.id));
        if page.next_page_token.is_empty() {
            return Ok(ids);
        }
        page_token = page.next_page_token;
    }
}

/// Records `n` touchpoints spread over `ids`, all within the last month.
async fn record_touchpoints(client: &mut Admin, ids: &[String], n: u64) -> anyhow::Result<()> {
    let now = SystemTime::now();
    for first in (0..n).step_by(TOUCH_BATCH as usize) {
        let touchpoints = (first..(first + TOUCH_BATCH).min(n))
            .map(|i| pb::Touchpoint {
                account_id: ids[(i % ids.len() as u64) as usize].clone(),
                kind: pb::TouchpointKind::Call as i32,
                occur_time: Some((now - std::time::Duration::from_secs(60 + i % 2_000_000)).into()),
                ..Default::default()
            })
            .collect();
        let response = client
            .batch_record_touchpoints(pb::BatchRecordTouchpointsRequest {
                touchpoints,
                request_id: String::new(),
            })
            .await?
            .into_inner();
        anyhow::ensure!(response.rejected_count == 0, "touchpoints were rejected");
    }
    Ok(())
}
