//! Helpers for API tests: a fresh database per test (a temporary SQLite file,
//! or a uniquely named PostgreSQL database when `TEST_DATABASE_URL` is set) and
//! a signing key to mint tokens with.

use std::{path::PathBuf, sync::OnceLock, time::Duration};

use sea_orm::{ConnectionTrait, Database};

use crate::auth::{AuthConfig, Keys, Role, TokenIssuer};

/// A database that exists for one test and is dropped after it.
pub struct TestDatabase {
    /// URL to connect to.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// Creates the database.
    pub async fn new() -> TestDatabase {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("themodel_test_{}", uuid::Uuid::now_v7().simple());
                let admin = Database::connect(admin_url.as_str())
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(base, _)| base);
                TestDatabase {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    postgres: Some((admin_url, name)),
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
                TestDatabase {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                }
            }
        }
    }

    /// A single connection, as migrations run over (on SQLite a statement on
    /// another pooled connection could still see the schema as it was), for
    /// tests that take migrations down and up.
    pub async fn migration_connection(&self) -> sea_orm::DatabaseConnection {
        let mut options = sea_orm::ConnectOptions::new(self.url.as_str());
        options.max_connections(1).min_connections(1);
        Database::connect(options).await.expect("connect")
    }
}

/// How many indexes `table` has, its primary key's among them.
pub async fn index_count(db: &impl ConnectionTrait, table: &str) -> i64 {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => format!(
            "SELECT COUNT(*) AS n FROM pg_indexes \
             WHERE schemaname = current_schema() AND tablename = '{table}'"
        ),
        _ => format!(
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}'"
        ),
    };
    db.query_one_raw(sea_orm::Statement::from_string(backend, sql))
        .await
        .expect("count indexes")
        .expect("a row")
        .try_get("", "n")
        .expect("n")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop runs inside the test's runtime; use a thread with its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(async {
                        if let Ok(admin) = Database::connect(admin_url.as_str()).await {
                            let _ = admin
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                ))
                                .await;
                            admin.close().await.ok();
                        }
                    });
                }
            })
            .join();
        }
    }
}

struct TestKey {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn test_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("test-signing-key.pem");
        // Create it now, before any test server or token reads it.
        Keys::load(&config_at(path.clone())).expect("test key");
        TestKey { _dir: dir, path }
    })
}

fn config_at(auth_key_file: PathBuf) -> AuthConfig {
    AuthConfig {
        auth_key_file,
        auth_generate_dev_key: true,
        auth_issuer: "themodel-test".into(),
        auth_audience: "themodel".into(),
        ..AuthConfig::default()
    }
}

/// Auth settings sharing one generated key across the test process.
pub fn auth_config() -> AuthConfig {
    config_at(test_key().path.clone())
}

/// A service started in-process on port 0 for its API tests, on a database of
/// its own; it stops when dropped.
pub struct TestService {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// A connected channel to it.
    pub channel: tonic::transport::Channel,
    /// Its database.
    pub db: TestDatabase,
    shutdown: tokio_util::sync::CancellationToken,
}

impl TestService {
    /// The settings a test service starts with on `db`: port 0, the test
    /// keys, defaults otherwise.
    pub fn settings(db: &TestDatabase) -> crate::registry::Settings {
        crate::registry::Settings {
            listen: crate::server::Listen::Addr("127.0.0.1:0".parse().expect("an address")),
            database_url: db.url.clone(),
            peers: Vec::new(),
            client: crate::client::ClientConfig::default(),
            server: crate::server::ServerConfig::default(),
            store: crate::store::StoreConfig::default(),
            auth: auth_config(),
        }
    }

    /// Starts the service `build` makes (its `Application::build`) on `db`,
    /// with its test settings changed by `configure`.
    pub async fn start<F, Fut>(
        db: TestDatabase,
        configure: impl FnOnce(&mut crate::registry::Settings),
        build: F,
    ) -> TestService
    where
        F: FnOnce(crate::registry::Settings, tokio_util::sync::CancellationToken) -> Fut,
        Fut: Future<Output = anyhow::Result<crate::server::Running>>,
    {
        crate::telemetry::init_for_tests();
        let mut settings = Self::settings(&db);
        configure(&mut settings);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let running = build(settings, shutdown.clone())
            .await
            .expect("start the service");
        let addr = running.addr;
        tokio::spawn(running.run);
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        TestService {
            addr,
            channel,
            db,
            shutdown,
        }
    }

    /// Waits until the service's job `name` has finished its first run
    /// (every job runs once when the service starts), so a test's own steps
    /// do not race it.
    pub async fn first_run_of(&self, name: &str) {
        use themodel_proto::operations::{
            JobOutcome, ListJobsRequest, operations_service_client::OperationsServiceClient,
        };
        let mut operations = OperationsServiceClient::with_interceptor(
            self.channel.clone(),
            Bearer::new(Role::Admin, None),
        );
        for _ in 0..1000 {
            let jobs = operations
                .list_jobs(ListJobsRequest::default())
                .await
                .expect("list jobs")
                .into_inner()
                .jobs;
            if jobs
                .iter()
                .any(|j| j.name == name && j.last_outcome() != JobOutcome::Unspecified)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("job {name} never ran");
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The field paths of an INVALID_ARGUMENT status.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("bad request details")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// The ErrorInfo reason of a status.
pub fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status.get_details_error_info().expect("error info").reason
}

/// Mints test tokens with the key of [`auth_config`].
pub fn issuer() -> std::sync::Arc<TokenIssuer> {
    static ISSUER: OnceLock<std::sync::Arc<TokenIssuer>> = OnceLock::new();
    ISSUER
        .get_or_init(|| {
            Keys::load(&auth_config())
                .expect("test keys")
                .issuer
                .expect("test key is private")
        })
        .clone()
}

/// A bearer header value for `role` (and `partner` for partner users).
pub fn bearer(role: Role, partner: Option<&str>) -> String {
    let token = issuer()
        .mint("test-user", role, partner, Duration::from_secs(3600))
        .expect("mint test token");
    format!("Bearer {token}")
}

/// A client interceptor that sends a bearer token, for typed test clients:
/// `SegmentationServiceClient::with_interceptor(channel, Bearer::new(role, None))`.
#[derive(Clone)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl Bearer {
    /// Sends a token for `role` (and `partner` for partner users).
    pub fn new(role: Role, partner: Option<&str>) -> Self {
        Self(bearer(role, partner).parse().ok())
    }

    /// Sends this exact `authorization` value (e.g. a malformed one).
    pub fn raw(value: &str) -> Self {
        Self(value.parse().ok())
    }

    /// Sends no token.
    pub fn none() -> Self {
        Self(None)
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A codec that sends and receives raw message bytes, for tests of requests
/// no generated client would send (malformed or oversized messages).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut as _;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf as _;
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// Calls the unary method at `path` (e.g.
/// `/themodel.segmentation.v1.SegmentationService/CreateAccount`) with `body`
/// as the message bytes and `authorization` as the bearer header value.
pub async fn raw_unary(
    channel: tonic::transport::Channel,
    path: &'static str,
    body: Vec<u8>,
    authorization: &str,
) -> Result<Vec<u8>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(body);
    if let Ok(value) = authorization.parse() {
        request.metadata_mut().insert("authorization", value);
    }
    grpc.unary(
        request,
        http::uri::PathAndQuery::from_static(path),
        RawCodec,
    )
    .await
    .map(tonic::Response::into_inner)
}

/// The bytes of a hex string (test input such as a captured request body).
pub fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digits"))
        .collect()
}

/// Reads `stream` until it ends and returns its final status; panics when it
/// ends without one or takes longer than `within`.
pub async fn final_status<T>(stream: &mut tonic::Streaming<T>, within: Duration) -> tonic::Status {
    tokio::time::timeout(within, async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("the stream ended without a status"),
                Err(status) => return status,
            }
        }
    })
    .await
    .expect("the stream ends in time")
}

/// A NATS server with JetStream for one test, on a free port with its own
/// store, that the test can stop and start again.
pub struct NatsServer {
    port: u16,
    store: tempfile::TempDir,
    process: Option<std::process::Child>,
}

impl NatsServer {
    /// Starts `nats-server` (from `NATS_SERVER_BIN` or the `PATH`). Without the
    /// binary the test is skipped with a note (`None`), except under CI
    /// (`CI` set), where that is a failure.
    pub async fn start() -> Option<NatsServer> {
        let binary = std::env::var("NATS_SERVER_BIN").unwrap_or_else(|_| "nats-server".into());
        let found = std::process::Command::new(&binary)
            .arg("--version")
            .output()
            .is_ok();
        if !found {
            assert!(
                std::env::var_os("CI").is_none(),
                "{binary} is required under CI (install nats-server)"
            );
            eprintln!("skipped: {binary} is not installed");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut server = NatsServer {
            port,
            store: tempfile::tempdir().expect("temp dir"),
            process: None,
        };
        server.restart().await;
        Some(server)
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server gracefully (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &process.id().to_string()])
                .status();
            let _ = process.wait();
        }
    }

    /// Starts the server again, on the same port and store, and waits until it
    /// accepts connections.
    pub async fn restart(&mut self) {
        self.stop();
        let binary = std::env::var("NATS_SERVER_BIN").unwrap_or_else(|_| "nats-server".into());
        let process = std::process::Command::new(binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.process = Some(process);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nats-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// A service's own key pair in `dir`: its private key file (to load as
/// `SERVICE_KEY_FILE` or `AUTH_KEY_FILE`) and its public key file (for other
/// services' `AUTH_SERVICE_PUBLIC_KEYS`).
pub fn service_key_pair(dir: &std::path::Path, name: &str) -> (PathBuf, PathBuf) {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
    let signing = ed25519_dalek::SigningKey::from_bytes(&rand::random());
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let private_pem = signing.to_pkcs8_pem(LineEnding::LF).expect("private pem");
    std::fs::write(&private, private_pem.as_bytes()).expect("write private key");
    let public_pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("public pem");
    std::fs::write(&public, public_pem).expect("write public key");
    (private, public)
}

/// The identity of a service called `name` signing with the private key at
/// `key_file`, under the test issuer and audience.
pub fn service_identity(name: &'static str, key_file: PathBuf) -> crate::auth::ServiceIdentity {
    Keys::load(&AuthConfig {
        auth_generate_dev_key: false,
        ..config_at(key_file)
    })
    .and_then(|keys| keys.service_identity(name))
    .expect("service identity")
}
