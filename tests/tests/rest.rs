//! JSON/REST and gRPC-Web through the gateway, against the whole suite: every
//! route the contracts declare answers, errors come back as JSON with their
//! HTTP codes, idempotency and etags hold, partners see only their own.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use prost::Message;
use serde_json::{Value, json};
use themodel_e2e::TestSuite;
use themodel_platform::{auth::Role, testing::bearer};
use themodel_proto::themodel::segmentation::v1 as pb;

/// An HTTP/1.1 client of the gateway.
struct Http {
    base: String,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

/// What came back.
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} answered a body that is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The reason of the ErrorInfo detail, if any.
    fn reason(&self) -> Option<String> {
        self.json()["details"].as_array()?.iter().find_map(|d| {
            (d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
                .then(|| d["reason"].as_str().unwrap_or_default().to_owned())
        })
    }

    /// The fields named by the BadRequest detail.
    fn violated(&self) -> Vec<String> {
        self.json()["details"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["fieldViolations"].as_array())
            .flatten()
            .filter_map(|v| v["field"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Http {
    fn new(suite: &TestSuite) -> Self {
        Self {
            base: format!("http://{}", suite.gateway),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Answer {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .expect("request");
        let response = self.client.request(request).await.expect("answer");
        let (parts, body) = response.into_parts();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.expect("body").to_bytes(),
        }
    }

    async fn json(&self, method: Method, path: &str, token: &str, body: Value) -> Answer {
        self.send(
            method,
            path,
            Some(token),
            &[("content-type", "application/json")],
            Some(serde_json::to_vec(&body).expect("json").into()),
        )
        .await
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(Method::GET, path, Some(token), &[], None).await
    }
}

/// `path` with each `{variable}` replaced by `x`.
fn fill_variables(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push('x');
            }
            '}' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

fn admin() -> String {
    bearer(Role::Admin, None)
}

fn account_json(name: &str, partner: &str) -> Value {
    json!({
        "name": name,
        "partnerId": partner,
        "acv": {"currencyCode": "JPY", "units": "2400000"},
    })
}

#[tokio::test]
async fn accounts_are_created_read_listed_and_updated_over_json() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = admin();

    let create = json!({"account": account_json("Acme", "p1"), "requestId": "rest-create-1"});
    let created = http
        .json(
            Method::POST,
            "/v1/segmentation/accounts",
            &token,
            create.clone(),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.json());
    let account = created.json()["account"].clone();
    let id = account["id"].as_str().expect("an id").to_owned();
    assert_eq!(account["name"], "Acme");
    assert_eq!(account["acv"]["units"], "2400000", "int64 is a JSON string");

    // The same request_id answers the same account, writing nothing more.
    let again = http
        .json(Method::POST, "/v1/segmentation/accounts", &token, create)
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["account"]["id"], id.as_str());

    let read = http
        .get(&format!("/v1/segmentation/accounts/{id}"), &token)
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json()["account"], account);

    http.json(
        Method::POST,
        "/v1/segmentation/accounts",
        &token,
        json!({"account": account_json("Beta", "p2"), "requestId": "rest-create-2"}),
    )
    .await;
    let listed = http
        .get("/v1/segmentation/accounts?pageSize=1&partner_id=p2", &token)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.json());
    assert_eq!(listed.json()["accounts"][0]["name"], "Beta");
    assert_eq!(listed.json()["accounts"].as_array().map(Vec::len), Some(1));

    let path = format!("/v1/segmentation/accounts/{id}");
    let renamed = http
        .json(
            Method::PATCH,
            &path,
            &token,
            json!({
                "account": {"name": "Acme KK", "etag": account["etag"]},
                "updateMask": "name",
                "requestId": "rest-rename-1",
            }),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.json());
    assert_eq!(renamed.json()["account"]["name"], "Acme KK");

    // The etag read before the rename is stale now: 412.
    let stale = http
        .json(
            Method::PATCH,
            &path,
            &token,
            json!({
                "account": {"name": "Acme Japan", "etag": account["etag"]},
                "updateMask": "name",
                "requestId": "rest-rename-2",
            }),
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.reason().as_deref(), Some("ETAG_MISMATCH"));
    suite.stop().await;
}

#[tokio::test]
async fn bad_requests_are_json_errors_and_reach_no_service() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = admin();
    let accounts = "/v1/segmentation/accounts";

    let unknown = http.get("/v1/segmentation/nothing-here", &token).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json()["code"], 5);
    assert!(
        unknown.json()["details"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );

    let wrong_method = http
        .send(Method::PUT, accounts, Some(&token), &[], None)
        .await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    let allow = wrong_method.headers[header::ALLOW].to_str().expect("ascii");
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");

    let unknown_field = http
        .json(
            Method::POST,
            accounts,
            &token,
            json!({"account": {"nmae": "x"}}),
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown_field.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("nmae")),
        "{}",
        unknown_field.json()
    );
    assert_eq!(unknown_field.violated(), ["body"]);

    let duplicate = http
        .send(
            Method::POST,
            accounts,
            Some(&token),
            &[("content-type", "application/json")],
            Some(Bytes::from_static(
                br#"{"account": {"name": "a", "name": "b"}}"#,
            )),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&duplicate.body).contains("duplicate field"));

    let wrong_type = http
        .json(
            Method::POST,
            accounts,
            &token,
            json!({"account": {"employeeCount": "many"}}),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);

    let malformed = http
        .send(
            Method::POST,
            accounts,
            Some(&token),
            &[("content-type", "application/json")],
            Some(Bytes::from_static(b"{\"account\": ")),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);

    let not_json = http
        .send(
            Method::POST,
            accounts,
            Some(&token),
            &[("content-type", "text/plain")],
            Some(Bytes::from_static(b"name=x")),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let body_on_get = http
        .send(
            Method::GET,
            accounts,
            Some(&token),
            &[("content-type", "application/json")],
            Some(Bytes::from_static(b"{}")),
        )
        .await;
    assert_eq!(body_on_get.status, StatusCode::BAD_REQUEST);

    let bad_query = http.get(&format!("{accounts}?pageSize=lots"), &token).await;
    assert_eq!(bad_query.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_query.violated(), ["query.pageSize"]);
    let unknown_query = http.get(&format!("{accounts}?colour=red"), &token).await;
    assert_eq!(unknown_query.status, StatusCode::BAD_REQUEST);

    let huge = vec![b' '; 5 << 20];
    let too_large = http
        .send(
            Method::POST,
            accounts,
            Some(&token),
            &[("content-type", "application/json")],
            Some(huge.into()),
        )
        .await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);

    let bad_timeout = http
        .send(
            Method::GET,
            accounts,
            Some(&token),
            &[("request-timeout", "0.5")],
            None,
        )
        .await;
    assert_eq!(bad_timeout.status, StatusCode::BAD_REQUEST);

    let anonymous = http.send(Method::GET, accounts, None, &[], None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.headers[header::WWW_AUTHENTICATE], "Bearer");

    // None of the refused creations wrote anything.
    let listed = http.get(accounts, &token).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(listed.json()["accounts"].is_null(), "{}", listed.json());
    suite.stop().await;
}

#[tokio::test]
async fn partners_see_only_their_own_accounts_over_rest() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = admin();
    let mut ids = Vec::new();
    for (i, partner) in ["p1", "p2"].into_iter().enumerate() {
        let created = http
            .json(
                Method::POST,
                "/v1/segmentation/accounts",
                &token,
                json!({"account": account_json(&format!("A{i}"), partner), "requestId": format!("iso-{i}")}),
            )
            .await;
        ids.push(
            created.json()["account"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let p1 = bearer(Role::PartnerUser, Some("p1"));
    let listed = http.get("/v1/segmentation/accounts", &p1).await;
    let listed = listed.json();
    let seen: Vec<&str> = listed["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .filter_map(|a| a["partnerId"].as_str())
        .collect();
    assert_eq!(seen, ["p1"]);
    let own = http
        .get(&format!("/v1/segmentation/accounts/{}", ids[0]), &p1)
        .await;
    assert_eq!(own.status, StatusCode::OK);
    let other = http
        .get(&format!("/v1/segmentation/accounts/{}", ids[1]), &p1)
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let asked = http
        .get("/v1/segmentation/accounts?partnerId=p2", &p1)
        .await;
    assert!(
        asked.status == StatusCode::FORBIDDEN || asked.json()["accounts"].is_null(),
        "{}: {}",
        asked.status,
        asked.json()
    );
    suite.stop().await;
}

/// Every route the contracts declare reaches its service: an empty request
/// gets the service's own answer (a result, or a validation or lookup
/// error), never the gateway's "no route", and never a server error.
#[tokio::test]
async fn every_route_of_every_service_answers() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = admin();
    let pool = themodel_gateway::rest::descriptor_pool().expect("descriptors");
    let routes = themodel_gateway::rest::routes::Routes::from_pool(&pool).expect("routes");
    assert!(routes.all().len() > 100, "{} routes", routes.all().len());
    for route in routes.all() {
        if route.rpc.is_server_streaming() {
            continue; // WatchEvents never ends; covered below.
        }
        let path = fill_variables(&route.template.openapi_path());
        let body = (route.body != themodel_gateway::rest::routes::Body::None)
            .then(|| Bytes::from_static(b"{}"));
        let answer = http
            .send(
                route.method.clone(),
                &path,
                Some(&token),
                &[
                    ("content-type", "application/json"),
                    ("x-themodel-source", "segmentation"),
                ],
                body,
            )
            .await;
        let what = format!("{} {path} ({})", route.method, route.rpc.full_name());
        assert!(
            !answer.status.is_server_error(),
            "{what}: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        assert_ne!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{what}");
        let json = answer.json();
        if answer.status == StatusCode::NOT_FOUND {
            assert!(
                answer.reason().is_some(),
                "{what}: the gateway found no route: {json}"
            );
        }

        // The same RPC over gRPC-Web, with an empty message.
        let grpc_path = format!(
            "/{}/{}",
            route.rpc.parent_service().full_name(),
            route.rpc.name()
        );
        let answer = http
            .send(
                Method::POST,
                &grpc_path,
                Some(&token),
                &[
                    ("content-type", "application/grpc-web+proto"),
                    ("x-grpc-web", "1"),
                    ("x-themodel-source", "segmentation"),
                ],
                Some(Bytes::from_static(&[0, 0, 0, 0, 0])),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{what} over gRPC-Web");
        let code = grpc_web_status(&answer);
        assert!(
            !matches!(code.as_deref(), None | Some("2" | "12" | "13")),
            "{what} over gRPC-Web: grpc-status {code:?}"
        );
    }
    suite.stop().await;
}

/// A gRPC-Web answer's body split into its messages and its trailers' text.
fn grpc_web_frames(body: &Bytes) -> (Vec<Bytes>, String) {
    let mut frames = body.clone();
    let (mut messages, mut trailers) = (Vec::new(), String::new());
    while frames.remaining() >= 5 {
        let flag = frames.get_u8();
        let len = frames.get_u32() as usize;
        let payload = frames.split_to(len.min(frames.remaining()));
        if flag & 0x80 == 0 {
            messages.push(payload);
        } else {
            trailers = String::from_utf8_lossy(&payload).into_owned();
        }
    }
    (messages, trailers)
}

/// The `grpc-status` of a gRPC-Web answer: in its headers (an answer with no
/// message) or in its trailers.
fn grpc_web_status(answer: &Answer) -> Option<String> {
    if let Some(code) = answer.headers.get("grpc-status") {
        return code.to_str().ok().map(str::to_owned);
    }
    let (_, trailers) = grpc_web_frames(&answer.body);
    trailers.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("grpc-status")
            .then(|| value.trim().to_owned())
    })
}

#[tokio::test]
async fn grpc_web_calls_reach_the_services() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = admin();
    let created = http
        .json(
            Method::POST,
            "/v1/segmentation/accounts",
            &token,
            json!({"account": account_json("Web", "p1"), "requestId": "web-1"}),
        )
        .await;
    let id = created.json()["account"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let message = pb::GetAccountRequest { id: id.clone() }.encode_to_vec();
    let mut body = BytesMut::new();
    body.put_u8(0);
    body.put_u32(message.len() as u32);
    body.put_slice(&message);
    let answer = http
        .send(
            Method::POST,
            "/themodel.segmentation.v1.SegmentationService/GetAccount",
            Some(&token),
            &[
                ("content-type", "application/grpc-web+proto"),
                ("x-grpc-web", "1"),
            ],
            Some(body.freeze()),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let (messages, trailers) = grpc_web_frames(&answer.body);
    let account = messages.into_iter().last().and_then(|payload| {
        pb::GetAccountResponse::decode(payload)
            .expect("a GetAccountResponse")
            .account
    });
    assert_eq!(account.map(|a| a.id), Some(id));
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    suite.stop().await;
}

#[tokio::test]
async fn browsers_of_allowed_origins_only_pass_the_cors_policy() {
    let suite = TestSuite::start_with(|config| {
        config.web.cors_allowed_origins = vec!["http://portal.example".into()];
    })
    .await;
    let http = Http::new(&suite);
    let preflight = |origin: &'static str| {
        let http = &http;
        async move {
            http.send(
                Method::OPTIONS,
                "/v1/segmentation/accounts",
                None,
                &[
                    ("origin", origin),
                    ("access-control-request-method", "GET"),
                    ("access-control-request-headers", "authorization"),
                ],
                None,
            )
            .await
        }
    };
    let allowed = preflight("http://portal.example").await;
    assert_eq!(
        allowed
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .map(|v| v.as_bytes()),
        Some(&b"http://portal.example"[..])
    );
    let other = preflight("http://evil.example").await;
    assert!(
        other
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    suite.stop().await;
}

#[tokio::test]
async fn streams_are_newline_delimited_json_both_ways() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = admin();
    http.json(
        Method::POST,
        "/v1/segmentation/accounts",
        &token,
        json!({"account": account_json("Streamed", "p1"), "requestId": "stream-1"}),
    )
    .await;

    // A server stream: one {"result": ...} line per event, then the line
    // saying why it ended (here the caller's deadline).
    let watched = http
        .send(
            Method::GET,
            "/v1/events:watch",
            Some(&token),
            &[
                ("x-themodel-source", "segmentation"),
                ("request-timeout", "1"),
            ],
            None,
        )
        .await;
    assert_eq!(watched.status, StatusCode::OK);
    assert_eq!(
        watched.headers[header::CONTENT_TYPE],
        "application/x-ndjson"
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&watched.body)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(
        lines[0]["result"]["event"]["type"], "themodel.segmentation.v1.AccountCreated",
        "{lines:?}"
    );
    let last = lines.last().expect("lines");
    assert_eq!(
        last["error"]["code"], 4,
        "the deadline ends the stream: {last}"
    );
    assert_eq!(
        last["error"]["details"][0]["reason"], "DEADLINE_EXCEEDED",
        "{last}"
    );

    // A client stream: every line is one request message; all of them are
    // checked before any is sent.
    let event = |i: u32| {
        json!({"events": [{
            "accountId": "no-such-account",
            "userId": "u1",
            "productKey": "analytics",
            "featureKey": "reports",
            "occurredAt": "2026-11-30T10:00:00Z",
            "count": "1",
            "eventId": format!("e{i}"),
        }]})
    };
    let body = format!("{}\n{}\n", event(1), event(2));
    let streamed = http
        .send(
            Method::POST,
            "/v1/health/usage-events:stream",
            Some(&token),
            &[("content-type", "application/x-ndjson")],
            Some(body.into()),
        )
        .await;
    assert_eq!(streamed.status, StatusCode::OK, "{}", streamed.json());
    assert_eq!(
        streamed.json()["summary"]["rejected"],
        "2",
        "{}",
        streamed.json()
    );

    let broken = format!("{}\n{{\"events\": [{{\"colour\": 1}}]}}\n", event(3));
    let refused = http
        .send(
            Method::POST,
            "/v1/health/usage-events:stream",
            Some(&token),
            &[("content-type", "application/x-ndjson")],
            Some(broken.into()),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.violated(), ["body[1]"]);
    suite.stop().await;
}
