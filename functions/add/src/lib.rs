//! POST /add: submit `a + b`, get a task id at once; a worker computes it from the queue.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;
use shared::auth::{TokenVerifier, authenticate};
use shared::clock::Clock;
use shared::domain::{Idempotency, Number, Task, TaskId, TaskOutcome, TaskStatus};
use shared::http::{self, Endpoint, HandlerResult, Request, StatusCode};
use shared::ports::{RateDecision, RateLimit, RateLimiter, Submitted, TaskQueue, TaskStore};
use shared::problem::FieldErrors;
use shared::{InitError, Problem, Wiring};

/// Room for two operands of the largest size a Number allows.
const BODY_LIMIT: usize = 16 * 1024;
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

struct Deps {
    tasks: Arc<dyn TaskStore>,
    queue: Arc<dyn TaskQueue>,
    rate_limiter: Arc<dyn RateLimiter>,
    verifier: TokenVerifier,
    clock: Arc<dyn Clock>,
    limit: RateLimit,
}

/// Operands stay raw JSON until parsed by `Number`: serde would read them through f64.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddRequest {
    a: Box<RawValue>,
    b: Box<RawValue>,
}

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps {
        tasks: wiring.tasks()?,
        queue: wiring.queue()?,
        rate_limiter: wiring.rate_limiter()?,
        verifier: wiring.verifier().await?,
        clock: wiring.clock(),
        limit: wiring.settings()?.add_limit,
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

fn accepted(id: TaskId, status: TaskStatus) -> http::Response<http::Body> {
    let body = serde_json::json!({ "task_id": id, "status": status });
    http::with_location(http::json_response(StatusCode::ACCEPTED, &body), &format!("/result/{id}"))
}

async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let principal = authenticate(&deps.verifier, &request)?;
    let now = deps.clock.now();
    if let RateDecision::Limited { retry_after } =
        deps.rate_limiter.hit(&format!("add:user:{}", principal.username), deps.limit, now).await?
    {
        return Err(http::too_many_requests(retry_after));
    }
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
                Idempotency::new(principal.username.clone(), key, &a, &b)
                    .map_err(|error| malformed_key(error.to_string()))?,
            )
        }
        None => None,
    };

    let task = Task::new(principal.username, a, b, now);
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
            // A failed task tells its owner the truth where a pending one would wait for nothing.
            let failed = TaskOutcome::Failed("the task could not be queued".to_owned());
            if let Err(marking) = deps.tasks.complete(&task.id, &failed, deps.clock.now()).await {
                tracing::error!(
                    task_id = %task.id, discard = %cleanup, mark_failed = %marking,
                    "a task that was never enqueued could be neither discarded nor marked failed"
                );
            }
        }
        return Err(Problem::unavailable(&error));
    }
    Ok(accepted(task.id, TaskStatus::Pending))
}
