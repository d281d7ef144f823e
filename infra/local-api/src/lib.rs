//! Every route of the route table in one process, on the same handlers the Lambda functions
//! run. Each request is shaped exactly as API Gateway HTTP API (payload v2) delivers it, and
//! converted by lambda_http just as in Lambda, so what passes here passes there.

pub mod event;
pub mod log;
mod openapi;
mod registry;
pub mod worker;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body as AxumBody;
use axum::extract::{ConnectInfo, State};
pub use openapi::{openapi, openapi_json};
pub use registry::HTTP_FUNCTIONS;
use registry::{build_function, openapi_parts};
use stratus_auth::TokenIssuer;
use stratus_auth::keys::{LocalRsaSigner, LocalSigner, PublicKey, RsaPublicKey};
use stratus_auth::sealing::{LocalDataKey, SecretBox};
use stratus_aws::dynamodb::tables;
use stratus_core::clock::{Clock, SystemClock};
use stratus_core::config::Settings;
use stratus_core::ports::{
    AuthorizationStore, ClientStore, CodeStore, Mailer, MessageStore, RateLimiter, RefreshTokenStore,
    TaskQueue, TaskStore, UserStore,
};
use stratus_http::Problem;
use stratus_http::http::{Endpoint, StatusCode};
use stratus_memory::mail::{LogMailer, OutboxMailer};
use stratus_memory::oauth::{MemoryAuthorizationStore, MemoryClientStore};
use stratus_memory::{
    MemoryCodeStore, MemoryMessageStore, MemoryQueue, MemoryRateLimiter, MemoryRefreshTokenStore,
    MemoryTaskStore, MemoryUserStore,
};
use stratus_routes::{FALLBACK_FUNCTION, FALLBACK_ROUTE_KEY, ROUTES, Resolution, resolve};
use stratus_wiring::aws::{AwsWiring, TableNames};
use stratus_wiring::{InitError, Wiring};
pub use worker::{Consumer, WorkerHandle};

/// API Gateway refuses payloads over 10 MB before any function sees them.
pub const GATEWAY_PAYLOAD_LIMIT: usize = 10 * 1024 * 1024;

pub type Error = InitError;

#[derive(Debug, Clone)]
pub enum Backend {
    /// Everything in process memory; nothing else needed.
    Memory,
    /// DynamoDB and SQS reached through the standard AWS environment variables.
    Aws(AwsOptions),
}

#[derive(Debug, Clone)]
pub struct AwsOptions {
    /// Prepended to each table's local name when its `*_TABLE` variable is not set.
    pub table_prefix: String,
    pub create_tables: CreateTables,
    /// Visibility timeout of queues created locally; `STRATUS_QUEUE_VISIBILITY_SECONDS` or 30 s
    /// when not given.
    pub queue_visibility: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateTables {
    /// Only when the DynamoDB endpoint is on this machine: never touch a real account unasked.
    WhenLocal,
    Always,
    Never,
}

/// The wiring of local runs: the ports on the embedded backend or on the local engines, a signing
/// key held in process, and settings a test may change before the functions are built.
pub struct LocalWiring {
    pub messages: Arc<dyn MessageStore>,
    pub users: Arc<dyn UserStore>,
    pub refresh_tokens: Arc<dyn RefreshTokenStore>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub tasks: Arc<dyn TaskStore>,
    pub queue: Arc<dyn TaskQueue>,
    pub codes: Arc<dyn CodeStore>,
    /// The outbox file named by `STRATUS_MAIL_OUTBOX`, else the log with codes masked.
    pub mailer: Arc<dyn Mailer>,
    /// The file `mailer` appends to, if it is an outbox.
    pub mail_outbox: Option<std::path::PathBuf>,
    /// Where the local worker takes task messages from.
    pub consumer: Consumer,
    pub clock: Arc<dyn Clock>,
    /// Locally the signing key is in process: generated at start, or read from the PKCS#8 file
    /// named by `STRATUS_SIGNING_KEY_FILE` so tokens survive a restart.
    pub signer: Arc<LocalSigner>,
    /// Signs RS256 ID tokens.
    pub rsa_signer: Arc<LocalRsaSigner>,
    pub clients: Arc<dyn ClientStore>,
    pub authorizations: Arc<dyn AuthorizationStore>,
    /// Keys that no longer sign but whose tokens may still be live: a rotation's old key.
    pub retired_keys: Vec<PublicKey>,
    /// Seals TOTP secrets: with the KMS envelope when `TOTP_KEY_ARN` names a key on the
    /// engines' backend, else with a key in process (`STRATUS_TOTP_KEY`, or a fresh one).
    pub totp_secrets: Arc<SecretBox>,
    pub settings: Settings,
}

/// Visibility timeout of the local task queues, in seconds: how long a failed message stays
/// hidden before it is retried.
pub const QUEUE_VISIBILITY_SECONDS: &str = "STRATUS_QUEUE_VISIBILITY_SECONDS";

fn queue_visibility() -> Result<std::time::Duration, Error> {
    Ok(std::time::Duration::from_secs(stratus_core::config::parsed_or(QUEUE_VISIBILITY_SECONDS, 30u64)?))
}

/// A PKCS#8 P-256 key (PEM or DER) for local-api to sign with instead of a fresh one.
pub const SIGNING_KEY_FILE: &str = "STRATUS_SIGNING_KEY_FILE";

/// The key local-api signed with before a rotation (PKCS#8, PEM or DER): its tokens stay valid
/// until they expire, as on AWS with `RetiredSigningKeyJwk`.
pub const RETIRED_SIGNING_KEY_FILE: &str = "STRATUS_RETIRED_SIGNING_KEY_FILE";

fn retired_keys() -> Result<Vec<PublicKey>, Error> {
    Ok(match stratus_core::config::optional(RETIRED_SIGNING_KEY_FILE) {
        Some(path) => vec![LocalSigner::from_file(std::path::Path::new(&path))?.public_key()],
        None => Vec::new(),
    })
}

fn local_signer() -> Result<Arc<LocalSigner>, Error> {
    Ok(Arc::new(match stratus_core::config::optional(SIGNING_KEY_FILE) {
        Some(path) => LocalSigner::from_file(std::path::Path::new(&path))?,
        None => LocalSigner::generate(),
    }))
}

/// 64 hex digits: the key local-api seals TOTP secrets with, so they survive a restart along
/// with a persistent store. Unset, each start makes a fresh one.
pub const TOTP_KEY: &str = "STRATUS_TOTP_KEY";

fn local_totp_secrets() -> Result<Arc<SecretBox>, Error> {
    let key = match stratus_core::config::optional(TOTP_KEY) {
        Some(hex) => LocalDataKey::from_hex(&hex).map_err(|reason| {
            stratus_core::config::ConfigError::Invalid { name: TOTP_KEY, value: "(hidden)".into(), reason }
        })?,
        None => LocalDataKey::generate(),
    };
    Ok(Arc::new(SecretBox::new(Arc::new(key))))
}

pub use stratus_memory::mail::MAIL_OUTBOX;

fn local_mailer() -> Arc<dyn Mailer> {
    match stratus_core::config::optional(MAIL_OUTBOX) {
        Some(path) => Arc::new(OutboxMailer::new(path)),
        None => Arc::new(LogMailer),
    }
}

impl LocalWiring {
    pub async fn build(backend: &Backend) -> Result<Self, Error> {
        match backend {
            Backend::Memory => {
                let queue =
                    Arc::new(MemoryQueue::new(queue_visibility()?, stratus_core::ports::MAX_RECEIVES));
                Ok(Self {
                    messages: Arc::new(MemoryMessageStore::default()),
                    users: Arc::new(MemoryUserStore::default()),
                    refresh_tokens: Arc::new(MemoryRefreshTokenStore::default()),
                    rate_limiter: Arc::new(MemoryRateLimiter::default()),
                    tasks: Arc::new(MemoryTaskStore::default()),
                    queue: queue.clone(),
                    codes: Arc::new(MemoryCodeStore::default()),
                    mailer: local_mailer(),
                    mail_outbox: stratus_core::config::optional(MAIL_OUTBOX).map(Into::into),
                    consumer: Consumer::Memory(queue),
                    clock: Arc::new(SystemClock),
                    signer: local_signer()?,
                    rsa_signer: Arc::new(LocalRsaSigner::generate()),
                    clients: Arc::new(MemoryClientStore::default()),
                    authorizations: Arc::new(MemoryAuthorizationStore::default()),
                    retired_keys: retired_keys()?,
                    totp_secrets: local_totp_secrets()?,
                    settings: Settings::from_env()?,
                })
            }
            Backend::Aws(options) => {
                let create = should_create_tables(options.create_tables);
                let mut aws = AwsWiring::new(
                    stratus_aws::sdk_config().await,
                    TableNames::Prefixed(options.table_prefix.clone()),
                );
                if create {
                    for spec in tables::ALL {
                        tables::ensure_table(aws.clients().dynamodb(), &aws.table(spec)?, spec).await?;
                    }
                }
                let queue_url = match stratus_core::config::optional(stratus_wiring::aws::TASKS_QUEUE_URL) {
                    Some(url) => url,
                    None if create => {
                        let visibility = match options.queue_visibility {
                            Some(visibility) => visibility,
                            None => queue_visibility()?,
                        };
                        let name = format!("{}tasks", options.table_prefix);
                        stratus_aws::sqs::create_queues(aws.clients().sqs(), &name, visibility).await?
                    }
                    None => {
                        return Err(format!("{} is required", stratus_wiring::aws::TASKS_QUEUE_URL).into());
                    }
                };
                aws = aws.with_queue_url(queue_url.clone());
                Ok(Self {
                    messages: aws.messages()?,
                    users: aws.users()?,
                    refresh_tokens: aws.refresh_tokens()?,
                    rate_limiter: aws.rate_limiter()?,
                    tasks: aws.tasks()?,
                    queue: aws.queue()?,
                    codes: aws.codes()?,
                    mailer: local_mailer(),
                    mail_outbox: stratus_core::config::optional(MAIL_OUTBOX).map(Into::into),
                    consumer: Consumer::Sqs { client: aws.clients().sqs().clone(), queue_url },
                    clock: Arc::new(SystemClock),
                    signer: local_signer()?,
                    rsa_signer: Arc::new(LocalRsaSigner::generate()),
                    clients: aws.oauth_clients()?,
                    authorizations: aws.authorizations()?,
                    retired_keys: retired_keys()?,
                    totp_secrets: match stratus_core::config::optional(stratus_wiring::aws::TOTP_KEY_ARN) {
                        Some(_) => aws.totp_secrets()?,
                        None => local_totp_secrets()?,
                    },
                    settings: Settings::from_env()?,
                })
            }
        }
    }

    /// Sends every mail to the outbox file at `path` from now on.
    pub fn use_outbox(&mut self, path: impl Into<std::path::PathBuf>) {
        let path = path.into();
        self.mail_outbox = Some(path.clone());
        self.mailer = Arc::new(OutboxMailer::new(path));
    }

    pub fn public_key(&self) -> PublicKey {
        self.signer.public_key()
    }

    /// Makes `url` the OpenID Provider's issuer, unless `PUBLIC_BASE_URL` named one: local-api
    /// is its own public URL.
    pub fn default_public_url(&mut self, url: &str) {
        if self.settings.auth.oidc_issuer.is_none() {
            self.settings.auth.oidc_issuer = Some(url.trim_end_matches('/').to_owned());
        }
    }
}

impl Wiring for LocalWiring {
    fn settings(&self) -> Result<Settings, InitError> {
        Ok(self.settings.clone())
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    fn messages(&self) -> Result<Arc<dyn MessageStore>, InitError> {
        Ok(self.messages.clone())
    }

    fn users(&self) -> Result<Arc<dyn UserStore>, InitError> {
        Ok(self.users.clone())
    }

    fn refresh_tokens(&self) -> Result<Arc<dyn RefreshTokenStore>, InitError> {
        Ok(self.refresh_tokens.clone())
    }

    fn rate_limiter(&self) -> Result<Arc<dyn RateLimiter>, InitError> {
        Ok(self.rate_limiter.clone())
    }

    fn tasks(&self) -> Result<Arc<dyn TaskStore>, InitError> {
        Ok(self.tasks.clone())
    }

    fn queue(&self) -> Result<Arc<dyn TaskQueue>, InitError> {
        Ok(self.queue.clone())
    }

    fn codes(&self) -> Result<Arc<dyn CodeStore>, InitError> {
        Ok(self.codes.clone())
    }

    fn mailer(&self) -> Result<Arc<dyn Mailer>, InitError> {
        Ok(self.mailer.clone())
    }

    fn totp_secrets(&self) -> Result<Arc<SecretBox>, InitError> {
        Ok(self.totp_secrets.clone())
    }

    fn issuer(&self) -> Result<TokenIssuer, InitError> {
        Ok(TokenIssuer::new(self.signer.clone(), self.settings.auth.clone()))
    }

    fn oidc_issuer(&self) -> Result<TokenIssuer, InitError> {
        Ok(self.issuer()?.with_rsa(self.rsa_signer.clone()))
    }

    fn oauth_clients(&self) -> Result<Arc<dyn ClientStore>, InitError> {
        Ok(self.clients.clone())
    }

    fn authorizations(&self) -> Result<Arc<dyn AuthorizationStore>, InitError> {
        Ok(self.authorizations.clone())
    }

    async fn rsa_public_keys(&self) -> Result<Vec<RsaPublicKey>, InitError> {
        Ok(vec![self.rsa_signer.public_key()])
    }

    async fn public_keys(&self) -> Result<Vec<PublicKey>, InitError> {
        Ok(std::iter::once(self.public_key()).chain(self.retired_keys.iter().cloned()).collect())
    }
}

/// How often local-api sweeps stale pending tasks (the template's schedule: every 5 minutes).
pub const SWEEP_INTERVAL_SECONDS: &str = "STRATUS_SWEEP_INTERVAL_SECONDS";

/// Starts the worker on the task queue, as the event source mapping would, and the sweeper on
/// its schedule; both stop when the handle is dropped.
pub async fn start_worker(wiring: &LocalWiring) -> Result<WorkerHandle, Error> {
    let interval = std::time::Duration::from_secs(
        stratus_core::config::parsed_or(SWEEP_INTERVAL_SECONDS, 60u64)?.max(1),
    );
    Ok(worker::spawn(
        wiring.consumer.clone(),
        ::worker::build(wiring).await?,
        ::sweeper::build(wiring).await?,
        interval,
    ))
}

fn should_create_tables(choice: CreateTables) -> bool {
    match choice {
        CreateTables::Always => true,
        CreateTables::Never => false,
        CreateTables::WhenLocal => ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"]
            .iter()
            .find_map(|name| stratus_core::config::optional(name))
            .is_some_and(|url| stratus_core::config::is_loopback_url(&url)),
    }
}

/// The handlers by function name, as the route table names them.
#[derive(Clone)]
pub struct Functions(Arc<HashMap<&'static str, Endpoint>>);

impl Functions {
    /// Builds every function on `wiring`, as each builds itself on Lambda.
    pub async fn build(wiring: &LocalWiring) -> Result<Self, Error> {
        let mut endpoints = HashMap::new();
        for name in HTTP_FUNCTIONS {
            endpoints.insert(*name, build_function(name, wiring).await?);
        }
        if let Some(missing) = missing().first() {
            return Err(format!(
                "the route table names function {missing:?}, which local-api does not serve"
            )
            .into());
        }
        Ok(Self(Arc::new(endpoints)))
    }
}

/// Functions the route table names that local-api has no handler for; empty when complete.
pub fn missing() -> Vec<&'static str> {
    ROUTES
        .iter()
        .map(|route| route.function)
        .chain([FALLBACK_FUNCTION])
        .filter(|name| !HTTP_FUNCTIONS.contains(name))
        .collect()
}

pub fn router(functions: Functions) -> axum::Router {
    axum::Router::new().fallback(gateway).with_state(functions)
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    functions: Functions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(functions).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Plays API Gateway: route, build the v2 event, invoke, return the function's response.
async fn gateway(
    State(functions): State<Functions>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, GATEWAY_PAYLOAD_LIMIT).await else {
        return to_axum(
            Problem::payload_too_large("The request body exceeds the gateway's 10 MB limit").into_response(),
        );
    };
    let raw_path = parts.uri.path();
    let (function, route_key, params) = match resolve(parts.method.as_str(), raw_path) {
        Resolution::Found { route, params } => (route.function, route.key(), params),
        Resolution::MethodNotAllowed { .. } | Resolution::NotFound => {
            (FALLBACK_FUNCTION, FALLBACK_ROUTE_KEY.to_owned(), Vec::new())
        }
    };
    let endpoint = functions.0.get(function).expect("every routed function is served (checked when built)");
    // The typed event lambda_http would parse API Gateway's JSON into, converted by the same
    // function the Lambda runtime converts it with (event.rs proves it the same request).
    let request: lambda_http::Request = match event::api_gateway_v2_request(event::Incoming {
        parts: &parts,
        body: &body,
        route_key: &route_key,
        path_params: &params,
        source_ip: peer.ip(),
    }) {
        Ok(event) => lambda_http::request::LambdaRequest::ApiGatewayV2(event).into(),
        Err(error) => return to_axum(Problem::internal(&error).into_response()),
    };
    to_axum(endpoint.call(request).await)
}

fn to_axum(response: stratus_http::http::Response<stratus_http::http::Body>) -> axum::response::Response {
    let (parts, body) = response.into_parts();
    let bytes: Vec<u8> = match body {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(text) => text.into_bytes(),
        lambda_http::Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    let mut response = axum::response::Response::from_parts(parts, AxumBody::from(bytes));
    if response.status() == StatusCode::NOT_MODIFIED {
        response.headers_mut().remove(axum::http::header::CONTENT_LENGTH);
    }
    response
}
