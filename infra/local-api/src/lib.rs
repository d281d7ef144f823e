//! Every route of the route table in one process, on the same handlers the Lambda functions
//! run. Each request is shaped exactly as API Gateway HTTP API (payload v2) delivers it, and
//! converted by lambda_http just as in Lambda, so what passes here passes there.

pub mod event;
pub mod worker;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body as AxumBody;
use axum::extract::{ConnectInfo, State};
use shared::Problem;
use shared::adapters::dynamodb::{
    DynamoMessageStore, DynamoRateLimiter, DynamoRefreshTokenStore, DynamoTaskStore, DynamoUserStore, tables,
};
use shared::adapters::memory::{
    MemoryMessageStore, MemoryQueue, MemoryRateLimiter, MemoryRefreshTokenStore, MemoryTaskStore,
    MemoryUserStore,
};
use shared::adapters::sqs::SqsTaskQueue;
use shared::auth::keys::{LocalSigner, PublicKey};
use shared::auth::{AuthConfig, TokenIssuer, TokenVerifier};
use shared::clock::{Clock, SystemClock};
use shared::http::{Endpoint, StatusCode};
use shared::ports::{MessageStore, RateLimiter, RefreshTokenStore, UserStore};
use shared::ports::{RateLimit, TaskQueue, TaskStore};
use shared::routes::{FALLBACK_FUNCTION, FALLBACK_ROUTE_KEY, ROUTES, Resolution, resolve};
pub use worker::{Consumer, WorkerHandle};

/// API Gateway refuses payloads over 10 MB before any function sees them.
pub const GATEWAY_PAYLOAD_LIMIT: usize = 10 * 1024 * 1024;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone)]
pub enum Backend {
    /// Everything in process memory; nothing else needed.
    Memory,
    /// DynamoDB (and later SQS) reached through the standard AWS environment variables.
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

/// What the functions are wired to.
pub struct Ports {
    pub messages: Arc<dyn MessageStore>,
    pub users: Arc<dyn UserStore>,
    pub refresh_tokens: Arc<dyn RefreshTokenStore>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub clock: Arc<dyn Clock>,
    /// Locally the signing key is in process: generated at start, or read from the PKCS#8 file
    /// named by `STRATUS_SIGNING_KEY_FILE` so tokens survive a restart.
    pub signer: Arc<LocalSigner>,
    pub auth: AuthConfig,
    pub tasks: Arc<dyn TaskStore>,
    pub queue: Arc<dyn TaskQueue>,
    /// Where the local worker takes task messages from.
    pub consumer: Consumer,
    pub add_limit: RateLimit,
}

/// Visibility timeout of the local task queues, in seconds: how long a failed message stays
/// hidden before it is retried.
pub const QUEUE_VISIBILITY_SECONDS: &str = "STRATUS_QUEUE_VISIBILITY_SECONDS";

fn queue_visibility() -> Result<std::time::Duration, Error> {
    Ok(std::time::Duration::from_secs(shared::config::parsed_or(QUEUE_VISIBILITY_SECONDS, 30u64)?))
}

/// A PKCS#8 P-256 key (PEM or DER) for local-api to sign with instead of a fresh one.
pub const SIGNING_KEY_FILE: &str = "STRATUS_SIGNING_KEY_FILE";

fn local_signer() -> Result<Arc<LocalSigner>, Error> {
    Ok(Arc::new(match shared::config::optional(SIGNING_KEY_FILE) {
        Some(path) => LocalSigner::from_file(std::path::Path::new(&path))?,
        None => LocalSigner::generate(),
    }))
}

impl Ports {
    pub fn public_key(&self) -> PublicKey {
        self.signer.public_key()
    }
}

impl Ports {
    pub async fn build(backend: &Backend) -> Result<Self, Error> {
        match backend {
            Backend::Memory => {
                let queue = Arc::new(MemoryQueue::new(queue_visibility()?, ::worker::MAX_RECEIVES));
                Ok(Self {
                    tasks: Arc::new(MemoryTaskStore::default()),
                    queue: queue.clone(),
                    consumer: Consumer::Memory(queue),
                    add_limit: add::rate_limit_from_env()?,
                    messages: Arc::new(MemoryMessageStore::default()),
                    users: Arc::new(MemoryUserStore::default()),
                    refresh_tokens: Arc::new(MemoryRefreshTokenStore::default()),
                    rate_limiter: Arc::new(MemoryRateLimiter::default()),
                    clock: Arc::new(SystemClock),
                    signer: local_signer()?,
                    auth: AuthConfig::from_env()?,
                })
            }
            Backend::Aws(options) => {
                let sdk = shared::aws::sdk_config().await;
                let dynamodb = shared::aws::dynamodb(&sdk);
                let table = |spec: &tables::TableSpec| {
                    shared::config::optional(spec.env_var)
                        .unwrap_or_else(|| format!("{}{}", options.table_prefix, spec.local_name))
                };
                if should_create_tables(options.create_tables) {
                    for spec in tables::ALL {
                        tables::ensure_table(&dynamodb, &table(spec), spec).await?;
                    }
                }
                let sqs = aws_sdk_sqs::Client::new(&sdk);
                let queue_url = match shared::config::optional(shared::aws::TASKS_QUEUE_URL) {
                    Some(url) => url,
                    None if should_create_tables(options.create_tables) => {
                        let visibility = match options.queue_visibility {
                            Some(visibility) => visibility,
                            None => queue_visibility()?,
                        };
                        create_queues(&sqs, &format!("{}tasks", options.table_prefix), visibility).await?
                    }
                    None => return Err(format!("{} is required", shared::aws::TASKS_QUEUE_URL).into()),
                };
                Ok(Self {
                    tasks: Arc::new(DynamoTaskStore::new(dynamodb.clone(), table(&tables::TASKS))),
                    queue: Arc::new(SqsTaskQueue::new(sqs.clone(), queue_url.clone())),
                    consumer: Consumer::Sqs { client: sqs, queue_url },
                    add_limit: add::rate_limit_from_env()?,
                    messages: Arc::new(DynamoMessageStore::new(dynamodb.clone(), table(&tables::MESSAGES))),
                    users: Arc::new(DynamoUserStore::new(dynamodb.clone(), table(&tables::USERS))),
                    refresh_tokens: Arc::new(DynamoRefreshTokenStore::new(
                        dynamodb.clone(),
                        table(&tables::REFRESH_TOKENS),
                    )),
                    rate_limiter: Arc::new(DynamoRateLimiter::new(
                        dynamodb.clone(),
                        table(&tables::RATE_LIMITS),
                    )),
                    clock: Arc::new(SystemClock),
                    signer: local_signer()?,
                    auth: AuthConfig::from_env()?,
                })
            }
        }
    }
}

/// The task queue `name` and its dead-letter queue `name-dlq`, as the template declares them:
/// redrive after three receives. Returns the task queue's URL. For local engines only.
pub async fn create_queues(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility: std::time::Duration,
) -> Result<String, Error> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let dlq_url =
        sqs.create_queue().queue_name(format!("{name}-dlq")).send().await?.queue_url.unwrap_or_default();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or("the dead-letter queue has no ARN")?;
    let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": ::worker::MAX_RECEIVES.to_string() });
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(QueueAttributeName::VisibilityTimeout, visibility.as_secs().to_string())
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    Ok(url)
}

/// Starts the worker on the task queue, as the event source mapping would; stops when dropped.
pub fn start_worker(ports: &Ports) -> WorkerHandle {
    worker::spawn(
        ports.consumer.clone(),
        ::worker::Deps { tasks: ports.tasks.clone(), clock: ports.clock.clone() },
    )
}

fn should_create_tables(choice: CreateTables) -> bool {
    match choice {
        CreateTables::Always => true,
        CreateTables::Never => false,
        CreateTables::WhenLocal => ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"]
            .iter()
            .find_map(|name| shared::config::optional(name))
            .is_some_and(|url| is_loopback_url(&url)),
    }
}

fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The handlers by function name, as the route table names them.
#[derive(Clone)]
pub struct Functions(Arc<HashMap<&'static str, Endpoint>>);

impl Functions {
    pub fn new(ports: &Ports) -> Self {
        let verifier = || TokenVerifier::new(&ports.public_key(), &ports.auth);
        let issuer = || TokenIssuer::new(ports.signer.clone(), ports.auth.clone());
        let endpoints: HashMap<&'static str, Endpoint> = HashMap::from([
            ("create-message", create_message::endpoint(ports.messages.clone())),
            ("get-message", get_message::endpoint(ports.messages.clone())),
            (
                "register",
                register::endpoint(register::Deps {
                    users: ports.users.clone(),
                    rate_limiter: ports.rate_limiter.clone(),
                    verifier: verifier(),
                    clock: ports.clock.clone(),
                    config: ports.auth.clone(),
                }),
            ),
            (
                "login",
                login::endpoint(login::Deps {
                    users: ports.users.clone(),
                    refresh_tokens: ports.refresh_tokens.clone(),
                    rate_limiter: ports.rate_limiter.clone(),
                    issuer: issuer(),
                    clock: ports.clock.clone(),
                }),
            ),
            (
                "refresh-token",
                refresh_token::endpoint(refresh_token::Deps {
                    users: ports.users.clone(),
                    refresh_tokens: ports.refresh_tokens.clone(),
                    issuer: issuer(),
                    clock: ports.clock.clone(),
                }),
            ),
            (
                "logout",
                logout::endpoint(logout::Deps {
                    refresh_tokens: ports.refresh_tokens.clone(),
                    verifier: verifier(),
                    clock: ports.clock.clone(),
                    config: ports.auth.clone(),
                }),
            ),
            ("me", me::endpoint(me::Deps { users: ports.users.clone(), verifier: verifier() })),
            (
                "list-users",
                list_users::endpoint(list_users::Deps { users: ports.users.clone(), verifier: verifier() }),
            ),
            (
                "get-user",
                get_user::endpoint(get_user::Deps { users: ports.users.clone(), verifier: verifier() }),
            ),
            (
                "add",
                add::endpoint(add::Deps {
                    tasks: ports.tasks.clone(),
                    queue: ports.queue.clone(),
                    rate_limiter: ports.rate_limiter.clone(),
                    verifier: verifier(),
                    clock: ports.clock.clone(),
                    limit: ports.add_limit,
                }),
            ),
            (
                "result",
                result::endpoint(result::Deps {
                    tasks: ports.tasks.clone(),
                    verifier: verifier(),
                    clock: ports.clock.clone(),
                }),
            ),
            ("health", health::endpoint()),
            ("docs", docs::endpoint()),
            (FALLBACK_FUNCTION, fallback::endpoint()),
        ]);
        let functions = Self(Arc::new(endpoints));
        if let Some(missing) = functions.missing().first() {
            panic!("the route table names function {missing:?}, which local-api does not serve");
        }
        functions
    }

    /// Functions the route table names that have no handler here; empty when complete.
    pub fn missing(&self) -> Vec<&'static str> {
        ROUTES
            .iter()
            .map(|route| route.function)
            .chain([FALLBACK_FUNCTION])
            .filter(|name| !self.0.contains_key(name))
            .collect()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.keys().copied().collect()
    }
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
    let endpoint = functions.0.get(function).expect("every routed function is served (checked at start)");
    let event = event::api_gateway_v2(&parts, &body, &route_key, &params, peer.ip());
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(request) => request,
        Err(error) => return to_axum(Problem::internal(&error).into_response()),
    };
    to_axum(endpoint.call(request).await)
}

fn to_axum(response: shared::http::Response<shared::http::Body>) -> axum::response::Response {
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
