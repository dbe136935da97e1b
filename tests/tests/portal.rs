//! The partner portal example (`examples/partner-portal`) in a real browser:
//! headless Chromium driven through chromedriver's WebDriver HTTP API, the
//! page served from a tiny static server and calling the suite's gateway
//! over JSON/REST across origins (CORS). A partner user signs in by typing
//! into the form, sees its own accounts with their tier, health grade and
//! onboarding status, pages with "Load more", opens an account's details,
//! and never sees another partner's accounts; a bad token shows the
//! gateway's error.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian:
//! `apt-get install -y chromium chromium-driver`). Without them the test
//! is skipped, except when `CI=true`, where it fails.

use std::{
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::Engine as _;
use bytes::Bytes;
use chrono::Datelike as _;
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde_json::{Value, json};
use themodel_e2e::TestSuite;
use themodel_platform::{auth::Role, testing::bearer};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long to wait for the page to show what is expected.
const WAIT: Duration = Duration::from_secs(30);
/// How long one WebDriver or gateway call may take.
const CALL: Duration = Duration::from_secs(60);
/// The key of a web element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// What the page shows for a missing grade or status.
const NONE: &str = "\u{2014}";

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends one HTTP/1.1 request; the status and body.
async fn call(
    client: &HttpClient,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<(StatusCode, Bytes), String> {
    let mut request = http::Request::builder().method(method.clone()).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(CALL, exchange)
        .await
        .map_err(|_| format!("{method} {url}: no answer in {CALL:?}"))?
}

// ------------------------------------------------------------------ gateway

/// An admin's JSON/REST client of the gateway, to set up the data.
struct Gateway {
    base: String,
    client: HttpClient,
}

impl Gateway {
    /// Sends `body` (or nothing) with `token`; the status and JSON answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut headers = vec![("authorization", token)];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let body = body.map(|b| serde_json::to_vec(&b).expect("json"));
        let (status, answer) = call(
            &self.client,
            method,
            &format!("{}{path}", self.base),
            &headers,
            body,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::from_slice(&answer).unwrap_or_else(|e| {
            panic!(
                "{path} answered {status} with no JSON ({e}): {}",
                String::from_utf8_lossy(&answer)
            )
        });
        (status, json)
    }

    /// POSTs `body` as an admin; the answer, which must be 200.
    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self
            .send(Method::POST, path, &bearer(Role::Admin, None), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "POST {path}: {answer}");
        answer
    }
}

/// Accounts of two partners, a tier policy, a product with a health
/// scorecard and an onboarding playbook; two of p1's accounts scored and
/// onboarding. The ids of `P1` and `P2`'s accounts, in the same order.
async fn seed(gateway: &Gateway) -> (Vec<String>, Vec<String>) {
    gateway
        .post(
            "/v1/expansion/products",
            json!({"product": {
                "productKey": "analytics",
                "displayName": "Analytics",
                "plans": [{
                    "planKey": "seat",
                    "displayName": "Per seat, monthly",
                    "listPrice": {"currencyCode": "JPY", "units": "1000"},
                    "billingPeriod": "BILLING_PERIOD_MONTHLY",
                }],
            }}),
        )
        .await;
    let mut ids = (Vec::new(), Vec::new());
    for (i, (name, partner, acv)) in P1.iter().chain(P2).enumerate() {
        let created = gateway
            .post(
                "/v1/segmentation/accounts",
                json!({
                    "account": {
                        "name": name,
                        "partnerId": partner,
                        "externalId": format!("crm-{i}"),
                        "industry": "Manufacturing",
                        "ownerCsmId": "csm-sato",
                        "acv": {"currencyCode": "JPY", "units": acv.to_string()},
                        "contractStartDate": {"year": 2026, "month": 4, "day": 1},
                        "renewalDate": {"year": 2027, "month": 3, "day": 31},
                    },
                    "requestId": format!("portal-account-{i}"),
                }),
            )
            .await;
        let id = created["account"]["id"].as_str().expect("an id").to_owned();
        if *partner == "p1" {
            &mut ids.0
        } else {
            &mut ids.1
        }
        .push(id);
    }
    gateway
        .post(
            "/v1/segmentation/tier-policies:apply",
            json!({"rules": {}, "reason": "portal test baseline"}),
        )
        .await;

    gateway
        .post(
            "/v1/health/features",
            json!({"feature": {
                "productKey": "analytics",
                "featureKey": "dashboards",
                "displayName": "Dashboards",
                "keyFeature": true,
            }}),
        )
        .await;
    gateway
        .post(
            "/v1/health/scorecards",
            json!({"scorecard": {
                "scorecardKey": "default",
                "displayName": "Default",
                "measures": [
                    {"measure": "MEASURE_BREADTH", "weight": 50},
                    {"measure": "MEASURE_SENTIMENT", "weight": 50},
                ],
                "thresholds": {"aMin": 8000, "bMin": 6000, "cMin": 4000, "dMin": 2000},
            }}),
        )
        .await;
    gateway
        .post(
            "/v1/onboarding/playbooks",
            json!({"playbook": {
                "playbookKey": "analytics",
                "productKey": "analytics",
                "displayName": "Analytics",
                "phases": [{
                    "phaseKey": "all",
                    "displayName": "All",
                    "steps": [{
                        "stepKey": "sso",
                        "displayName": "Single sign-on",
                        "kind": "STEP_KIND_SETTING",
                        "dueDay": 7,
                    }],
                }],
                "setupCriteria": [{"stepKey": "sso"}],
                "valueCriteria": [{"signal": {"signalKey": "users_active", "threshold": "3"}}],
                "anchor": "ANCHOR_CONTRACT_START",
                "targets": [{"setupDays": 14, "valueDays": 60, "stallDays": 7}],
            }}),
        )
        .await;
    let today = chrono::Utc::now().date_naive();
    // No usage: breadth is 0, so the sentiment alone makes the score: C for
    // the first account (50.0), E for the second (0.0); the third has no
    // plan and no score.
    for (id, sentiment) in ids.0.iter().zip([100, 0]) {
        let account = format!("/v1/health/accounts/{id}/products/analytics");
        gateway
            .post(
                &format!("{account}/sentiments:record"),
                json!({"score": sentiment, "note": "Quarterly review"}),
            )
            .await;
        gateway.post(&format!("{account}:score"), json!({})).await;
        gateway
            .post(
                "/v1/onboarding/plans:open",
                json!({
                    "accountId": id,
                    "productKey": "analytics",
                    "contractStartDate": {
                        "year": today.year(),
                        "month": today.month(),
                        "day": today.day(),
                    },
                    "requestId": format!("portal-plan-{id}"),
                }),
            )
            .await;
    }
    ids
}

/// Partner p1's accounts (name, partner, ACV in JPY), in creation order.
const P1: &[(&str, &str, u64)] = &[
    ("Aozora Foods", "p1", 9_000_000),
    ("Biwako Logistics", "p1", 2_400_000),
    ("Chidori Clinics", "p1", 600_000),
];
/// Partner p2's: none of them may ever reach p1's page.
const P2: &[(&str, &str, u64)] = &[
    ("Zenith Rival Holdings", "p2", 5_000_000),
    ("Yamabiko Rival Works", "p2", 1_000_000),
];

// ------------------------------------------------------------------ static files

/// The portal's folder.
fn portal_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/partner-portal")
}

/// Serves a file of the portal's folder (`/` is `index.html`).
async fn portal_file(
    uri: http::Uri,
) -> (StatusCode, [(header::HeaderName, &'static str); 2], Vec<u8>) {
    let name = match uri.path().trim_start_matches('/') {
        "" => "index.html",
        name => name,
    };
    let safe = !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    let kind = match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        _ => "application/octet-stream",
    };
    let headers = [
        (header::CONTENT_TYPE, kind),
        (header::CACHE_CONTROL, "no-store"),
    ];
    match safe.then(|| std::fs::read(portal_dir().join(name))) {
        Some(Ok(body)) => (StatusCode::OK, headers, body),
        _ => (
            StatusCode::NOT_FOUND,
            [
                (header::CONTENT_TYPE, "text/plain"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            b"not found".to_vec(),
        ),
    }
}

/// Starts serving the portal; its origin (`http://127.0.0.1:port`).
async fn serve_portal() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port for the portal");
    let addr = listener.local_addr().expect("portal address");
    let app = axum::Router::new().fallback(portal_file);
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("portal server");
    });
    format!("http://{addr}")
}

// ------------------------------------------------------------------ browser

/// A chromedriver and its Chromium session; the session is deleted and
/// chromedriver killed when dropped, also when the test fails.
struct Browser {
    client: HttpClient,
    driver_addr: SocketAddr,
    driver: Child,
    session: Option<String>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            request_blocking(self.driver_addr, "DELETE", &format!("/session/{session}"));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A WebDriver request without the runtime (from `Drop`), e.g. `DELETE
/// /session/{id}`, which closes Chromium.
fn request_blocking(addr: SocketAddr, method: &str, path: &str) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let _ = write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    // chromedriver keeps the connection open: read the one answer, no more.
    let mut answer = Vec::new();
    let mut chunk = [0; 4096];
    while let Ok(read @ 1..) = stream.read(&mut chunk) {
        answer.extend_from_slice(&chunk[..read]);
        if answer_complete(&answer) {
            break;
        }
    }
}

/// Whether `answer` holds a whole HTTP/1.1 response with a Content-Length.
fn answer_complete(answer: &[u8]) -> bool {
    let Some(head_end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    answer.len() >= head_end + 4 + length
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session.
    async fn start() -> Browser {
        let driver_addr = themodel_e2e::closed_address();
        let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chromedriver.log");
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={}", driver_addr.port()))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut browser = Browser {
            client: http_client(),
            driver_addr,
            driver,
            session: None,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(exit)) = browser.driver.try_wait() {
                panic!("chromedriver exited ({exit}); see {}", log.display());
            }
            let ready = browser.command(Method::GET, "/status", None).await;
            if ready.is_ok_and(|status| status["ready"] == true) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver not ready; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let created = browser
            .command(
                Method::POST,
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--window-size=1280,1400",
                        ],
                    },
                }}})),
            )
            .await
            .unwrap_or_else(|e| panic!("new session: {e}; see {}", log.display()));
        let session = created["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        browser.session = Some(session);
        browser
    }

    /// Sends a WebDriver command (`path` from the root); its `value`.
    async fn command(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("http://{}{path}", self.driver_addr);
        let body = (method != Method::GET && method != Method::DELETE)
            .then(|| serde_json::to_vec(&body.unwrap_or(json!({}))).expect("json"));
        let (status, answer) = call(
            &self.client,
            method.clone(),
            &url,
            &[("content-type", "application/json; charset=utf-8")],
            body,
        )
        .await?;
        let answer: Value = serde_json::from_slice(&answer)
            .map_err(|e| format!("{method} {path}: {status}, not JSON: {e}"))?;
        let value = answer["value"].clone();
        if status.is_success() {
            Ok(value)
        } else {
            Err(format!(
                "{method} {path}: {status} {}: {}",
                value["error"], value["message"]
            ))
        }
    }

    /// A command of the session (`path` after `/session/{id}`).
    async fn session(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let session = self.session.as_deref().expect("a session");
        self.command(method, &format!("/session/{session}{path}"), body)
            .await
    }

    async fn goto(&self, url: &str) {
        self.session(Method::POST, "/url", Some(json!({"url": url})))
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    async fn current_url(&self) -> String {
        let url = self
            .session(Method::GET, "/url", None)
            .await
            .expect("current url");
        url.as_str().expect("a url").to_owned()
    }

    /// The elements `css` selects, in document order.
    async fn find_all(&self, css: &str) -> Result<Vec<String>, String> {
        let found = self
            .session(
                Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        Ok(found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
            .collect())
    }

    /// The element `css` selects; fails when there is none.
    async fn find(&self, css: &str) -> String {
        let found = self
            .session(
                Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"));
        found[ELEMENT].as_str().expect("an element").to_owned()
    }

    /// The rendered text of an element (empty when it is hidden).
    async fn text(&self, element: &str) -> Result<String, String> {
        let text = self
            .session(Method::GET, &format!("/element/{element}/text"), None)
            .await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// The rendered text of the element `css` selects.
    async fn text_of(&self, css: &str) -> Result<String, String> {
        let element = self
            .find_all(css)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| format!("nothing matches {css}"))?;
        self.text(&element).await
    }

    async fn displayed(&self, css: &str) -> Result<bool, String> {
        let Some(element) = self.find_all(css).await?.into_iter().next() else {
            return Ok(false);
        };
        let shown = self
            .session(Method::GET, &format!("/element/{element}/displayed"), None)
            .await?;
        Ok(shown == true)
    }

    /// Replaces the value of the input `css` selects by typing `text`.
    async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.session(Method::POST, &format!("/element/{element}/clear"), None)
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        self.session(
            Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        )
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.session(Method::POST, &format!("/element/{element}/click"), None)
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// The page's current DOM, serialised.
    async fn source(&self) -> String {
        let source = self
            .session(Method::GET, "/source", None)
            .await
            .expect("page source");
        source.as_str().expect("source text").to_owned()
    }

    /// A PNG of the viewport.
    async fn screenshot(&self) -> Vec<u8> {
        let png = self
            .session(Method::GET, "/screenshot", None)
            .await
            .expect("screenshot");
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64 text"))
            .expect("base64 PNG")
    }

    /// The text of each row of the account table.
    async fn rows(&self) -> Result<Vec<String>, String> {
        let mut rows = Vec::new();
        for row in self.find_all("[data-testid=account-row]").await? {
            rows.push(self.text(&row).await?);
        }
        Ok(rows)
    }
}

/// Polls `probe` until it is `Ok`, failing with its last complaint after
/// `WAIT`.
async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(why) if Instant::now() >= deadline => {
                panic!("gave up waiting {WAIT:?} for {what}: {why}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The rows once every health and onboarding cell is filled in, when there
/// are `count`.
async fn loaded_rows(browser: &Browser, count: usize) -> Result<Vec<String>, String> {
    let rows = browser.rows().await?;
    if rows.len() != count {
        return Err(format!("{} rows, not {count}: {rows:?}", rows.len()));
    }
    if rows.iter().any(|r| r.contains('\u{2026}')) {
        return Err(format!("still loading: {rows:?}"));
    }
    Ok(rows)
}

/// Chromium and chromedriver are here; or, outside CI, the test is skipped.
fn browser_installed() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} missing: CI must install them (apt-get install -y chromium chromium-driver)",
        missing.join(" and ")
    );
    eprintln!(
        "partner portal browser test skipped: install chromium chromium-driver ({} missing)",
        missing.join(" and ")
    );
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_portal_shows_a_partner_its_own_accounts_in_a_browser() {
    if !browser_installed() {
        return;
    }
    let portal = serve_portal().await;
    let origin = portal.clone();
    let suite = TestSuite::start_with(move |config| {
        config.web.cors_allowed_origins = vec![origin];
    })
    .await;
    let gateway_url = format!("http://{}", suite.gateway);
    let gateway = Gateway {
        base: gateway_url.clone(),
        client: http_client(),
    };
    let (p1_ids, p2_ids) = seed(&gateway).await;

    // What the gateway answers a token that is no token.
    let (status, refused) = gateway
        .send(
            Method::GET,
            "/v1/segmentation/accounts",
            "Bearer not-a-token",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    let refusal = refused["message"]
        .as_str()
        .expect("an error message")
        .to_owned();
    assert!(!refusal.is_empty());

    // Closed (session deleted, chromedriver killed) when dropped, passed or not.
    let chromium = Browser::start().await;
    let browser = &chromium;

    browser.goto(&format!("{portal}/")).await;
    assert_eq!(
        browser.text_of("h1").await.as_deref(),
        Ok("Partner portal"),
        "the page loads"
    );

    // A bad token: the gateway's message, and no table.
    browser.fill("#gateway", &gateway_url).await;
    browser.fill("#page-size", "2").await;
    browser.fill("#token", "not-a-token").await;
    browser.click("#signin").await;
    let shown = wait_for("the refusal", || async {
        let text = browser.text_of("[data-testid=error]").await?;
        if browser.displayed("[data-testid=error]").await? && text.contains(&refusal) {
            Ok(text)
        } else {
            Err(format!("error box: {text:?}"))
        }
    })
    .await;
    println!("an invalid token shows: {shown}");
    assert!(
        !browser
            .displayed("[data-testid=accounts-section]")
            .await
            .expect("table")
    );
    assert!(browser.rows().await.expect("rows").is_empty());

    // p1 signs in by typing its token: the first page of two accounts.
    let p1_token = bearer(Role::PartnerUser, Some("p1"));
    let p1_token = p1_token.strip_prefix("Bearer ").expect("a bearer token");
    browser.fill("#token", p1_token).await;
    browser.click("#signin").await;
    let first = wait_for("p1's first page", || loaded_rows(browser, 2)).await;
    assert!(
        first[0].contains("Aozora Foods") && first[1].contains("Biwako Logistics"),
        "{first:?}"
    );
    assert!(
        !browser
            .displayed("[data-testid=error]")
            .await
            .expect("error box")
    );
    assert!(
        browser
            .displayed("[data-testid=load-more]")
            .await
            .expect("load more")
    );

    // "Load more" brings the third, and there is nothing after it.
    browser.click("[data-testid=load-more]").await;
    let rows = wait_for("p1's second page", || loaded_rows(browser, 3)).await;
    println!("p1's accounts:\n  {}", rows.join("\n  "));
    wait_for("the last page", || async {
        if browser.displayed("[data-testid=load-more]").await? {
            Err("Load more is still shown".to_owned())
        } else {
            Ok(())
        }
    })
    .await;
    let status = browser
        .text_of("[data-testid=status]")
        .await
        .expect("status");
    assert!(status.contains("Showing 3 accounts"), "{status}");

    // Name, tier, lifecycle, grade and onboarding status of each; "—" where
    // there is no score and no plan.
    for (row, (name, _, _)) in rows.iter().zip(P1) {
        assert!(row.contains(name), "{row}");
        assert!(row.contains("Onboarding"), "lifecycle in {row}");
        assert!(
            ["High touch", "Low touch", "Tech touch"]
                .iter()
                .any(|t| row.contains(t)),
            "tier in {row}"
        );
    }
    let cells = |row: usize, cell: &'static str| {
        let id = p1_ids[row].clone();
        async move {
            browser
                .text_of(&format!("[data-account-id='{id}'] [data-testid={cell}]"))
                .await
                .expect("a cell")
        }
    };
    let (scored, low, unscored) = (
        cells(0, "health").await,
        cells(1, "health").await,
        cells(2, "health").await,
    );
    assert!(scored.starts_with("C 50.0"), "{scored}");
    assert!(low.starts_with("E 0.0"), "{low}");
    assert_eq!(unscored, NONE);
    for row in [0, 1] {
        let plan = cells(row, "onboarding").await;
        assert!(plan.starts_with("On track"), "{plan}");
    }
    assert_eq!(cells(2, "onboarding").await, NONE);

    // Nothing of p2's anywhere in the page.
    let source = browser.source().await;
    for (name, _, _) in P2 {
        assert!(!source.contains(name), "p2's {name} is in p1's page");
    }
    for id in &p2_ids {
        assert!(
            !source.contains(id.as_str()),
            "p2's account {id} is in p1's page"
        );
    }
    assert!(!source.contains("Rival"));

    // The first account's details, with its health score explained.
    browser
        .click(&format!(
            "[data-testid=account-link][data-account-id='{}']",
            p1_ids[0]
        ))
        .await;
    let external_id = wait_for("the account's details", || async {
        let text = browser.text_of("[data-testid=detail-external-id]").await?;
        let health = browser.text_of("[data-testid=detail-health]").await?;
        if text == "crm-0" && health.starts_with("Grade") {
            Ok(text)
        } else {
            Err(format!("external id {text:?}, health {health:?}"))
        }
    })
    .await;
    assert_eq!(external_id, "crm-0");
    let detail = |testid: &'static str| async move {
        browser
            .text_of(&format!("[data-testid={testid}]"))
            .await
            .expect("a detail")
    };
    assert_eq!(detail("detail-title").await, "Aozora Foods");
    assert_eq!(detail("detail-id").await, p1_ids[0]);
    assert_eq!(detail("detail-partner").await, "p1");
    assert_eq!(detail("detail-lifecycle").await, "Onboarding");
    assert_eq!(detail("detail-owner-csm").await, "csm-sato");
    assert_eq!(detail("detail-renewal-date").await, "2027-03-31");
    assert_eq!(detail("detail-acv").await, "9,000,000 JPY");
    let tier = detail("detail-tier").await;
    assert!(first[0].contains(&tier), "the tier {tier} is the table's");
    let health = detail("detail-health").await;
    assert!(health.starts_with("Grade C, score 50.0 of 100"), "{health}");
    assert!(health.contains("scorecard default version 1"), "{health}");
    let measures = detail("detail-measures").await;
    assert!(
        measures.contains("Breadth") && measures.contains("Sentiment"),
        "{measures}"
    );
    let onboarding = detail("detail-onboarding").await;
    assert!(
        onboarding.starts_with("On track (product analytics"),
        "{onboarding}"
    );
    assert!(onboarding.contains("next step: sso"), "{onboarding}");

    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("partner-portal.png");
    std::fs::write(&path, png).expect("write the screenshot");
    println!("screenshot: {}", path.display());

    // A link signs in by itself, and the token leaves the address bar.
    let link = format!("{portal}/?link#gateway={gateway_url}&pageSize=10&token={p1_token}");
    browser.goto(&link).await;
    let linked = wait_for("the linked sign-in", || loaded_rows(browser, 3)).await;
    assert!(linked[2].contains("Chidori Clinics"), "{linked:?}");
    let address = browser.current_url().await;
    assert!(!address.contains("token"), "{address}");

    // Chromium's keep-alive connections would hold up the gateway's drain.
    drop(chromium);
    suite.stop().await;
}
