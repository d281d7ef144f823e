//! POST /add: submit `a + b`, get a task id at once; a worker computes it from the queue.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use stratus_auth::Authenticator;
use stratus_core::clock::Clock;
use stratus_core::domain::{Idempotency, Number, Task, TaskId, TaskOutcome, TaskStatus};
use stratus_core::ports::{QueueError, RateLimit, RateLimiter, Submitted, TaskQueue, TaskStore};
use stratus_http::Problem;
use stratus_http::guard::authenticate;
use stratus_http::http::{self, Endpoint, HandlerResult, Request, StatusCode};
use stratus_http::openapi::{
    BadRequest, InternalServerError, PayloadTooLarge, ServiceUnavailable, TooManyRequests, Unauthorized,
    UnprocessableEntity, UnsupportedMediaType,
};
use stratus_http::problem::FieldErrors;
use stratus_wiring::{InitError, Wiring};
use utoipa::ToSchema;

/// Room for two operands of the largest size a Number allows.
const BODY_LIMIT: usize = 16 * 1024;
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

struct Deps {
    tasks: Arc<dyn TaskStore>,
    queue: Arc<dyn TaskQueue>,
    rate_limiter: Arc<dyn RateLimiter>,
    auth: Authenticator,
    clock: Arc<dyn Clock>,
    limit: RateLimit,
}

/// The two numbers to add.
// Operands stay raw JSON until parsed by `Number`: serde would read them through f64.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AddRequest {
    #[schema(value_type = Number)]
    a: Box<RawValue>,
    #[schema(value_type = Number)]
    b: Box<RawValue>,
}

/// A task taken on: where to poll for its result.
#[derive(Serialize, ToSchema)]
struct Accepted {
    task_id: TaskId,
    status: TaskStatus,
}

stratus_http::openapi_part!(handle);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps {
        tasks: wiring.tasks()?,
        queue: wiring.queue()?,
        rate_limiter: wiring.rate_limiter()?,
        auth: wiring.authenticator().await?,
        clock: wiring.clock(),
        limit: wiring.settings()?.add_limit,
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

fn accepted(id: TaskId, status: TaskStatus) -> http::Response<http::Body> {
    let body = Accepted { task_id: id, status };
    http::with_location(http::json_response(StatusCode::ACCEPTED, &body), &format!("/result/{id}"))
}

/// Add two numbers, asynchronously
///
/// Answers at once with the task's id; a worker computes the exact sum from the queue. Poll
/// `Location` for the result. The same Idempotency-Key from the same user within 24 hours
/// answers the same task and queues nothing; with a different body it is 422.
#[utoipa::path(
    post,
    path = "/add",
    operation_id = "add",
    tag = "tasks",
    request_body(content = AddRequest, content_type = "application/json"),
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false,
            description = "Makes retries safe: 1 to 255 visible ASCII characters, scoped to the caller for 24 hours",
            min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$"),
    ),
    responses(
        (status = 202, description = "Taken on; the task is pending (or, for a repeated Idempotency-Key, as it stands)",
            body = Accepted,
            headers(("Location" = String, description = "`/result/{task_id}`")),
            links(("GetResult" = (operation_id = "result", parameters(("task_id" = "$response.body#/task_id")))))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let caller = authenticate(&deps.auth, &request).await?;
    let now = deps.clock.now();
    deps.rate_limiter.enforce(&format!("add:user:{}", caller.username), deps.limit, now).await?;
    let body: AddRequest = http::json_body(&request, BODY_LIMIT)?;
    let mut errors = FieldErrors::default();
    let a = errors.check("a", Number::from_json(&body.a));
    let b = errors.check("b", Number::from_json(&body.b));
    let (Some(a), Some(b)) = (a, b) else {
        return Err(errors.into_problem("The operands must be JSON numbers"));
    };
    let malformed_key = |reason: String| {
        Problem::bad_request("The Idempotency-Key header is malformed")
            .with_field_error("Idempotency-Key", reason)
    };
    let idempotency = match request.headers().get(IDEMPOTENCY_KEY) {
        // A key we cannot read must not be taken for no key: that would enqueue a duplicate.
        Some(value) => {
            let key = value.to_str().map_err(|_| malformed_key("must be visible ASCII".to_owned()))?;
            Some(
                Idempotency::new(caller.username.clone(), key, &a, &b)
                    .map_err(|error| malformed_key(error.to_string()))?,
            )
        }
        None => None,
    };

    let task = Task::new(caller.username, a, b, now);
    match deps.tasks.create(&task, idempotency.as_ref(), now).await? {
        Submitted::Created => {}
        Submitted::Existing(id) => {
            let status = deps.tasks.get(&id, now).await?.map_or(TaskStatus::Pending, |task| task.status);
            return Ok(accepted(id, status));
        }
        Submitted::KeyReused => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "This Idempotency-Key was used with a different request",
            ));
        }
    }
    if let Err(error) = deps.queue.enqueue(&task.id).await {
        // Nobody would ever compute it: take the task back so none is left pending forever.
        if let Err(cleanup) = deps.tasks.discard(&task, idempotency.as_ref()).await {
            tracing::warn!(task_id = %task.id, error = %cleanup, "could not take back a task that was never queued; marking it failed");
            // A failed task tells its owner the truth where a pending one would wait for nothing.
            let failed = TaskOutcome::Failed("the task could not be queued".to_owned());
            if let Err(marking) = deps.tasks.complete(&task.id, &failed, deps.clock.now()).await {
                tracing::error!(
                    task_id = %task.id, discard = %cleanup, mark_failed = %marking,
                    "a task that was never enqueued could be neither discarded nor marked failed"
                );
            }
        }
        return Err(match error {
            QueueError::Unavailable(_) => Problem::unavailable(&error),
            // No such queue, or no right to send to it: the stack's, not briefly the queue's.
            QueueError::Refused(_) => Problem::internal(&error),
        });
    }
    Ok(accepted(task.id, TaskStatus::Pending))
}
