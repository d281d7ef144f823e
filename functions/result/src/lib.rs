//! GET /result/{task_id}: a task's state, for its owner or an admin. Another user's task is
//! reported absent, not forbidden, so ids cannot be probed.

use std::sync::Arc;

use serde::Serialize;
use stratus_auth::Authenticator;
use stratus_core::clock::Clock;
use stratus_core::domain::{Number, Task, TaskId, TaskStatus};
use stratus_core::ports::TaskStore;
use stratus_http::Problem;
use stratus_http::guard::authenticate;
use stratus_http::http::{self, Endpoint, HandlerResult, HeaderValue, Request, StatusCode, header};
use stratus_http::openapi::{BadRequest, InternalServerError, NotFound, ServiceUnavailable, Unauthorized};
use stratus_wiring::{InitError, Wiring};
use time::OffsetDateTime;
use utoipa::ToSchema;

struct Deps {
    tasks: Arc<dyn TaskStore>,
    auth: Authenticator,
    clock: Arc<dyn Clock>,
}

/// A task as its owner sees it.
#[derive(Serialize, ToSchema)]
struct TaskView {
    task_id: TaskId,
    status: TaskStatus,
    /// Whether the task is done, either way.
    ready: bool,
    /// Whether it is done and succeeded.
    successful: bool,
    /// The exact sum, once succeeded.
    value: Option<Number>,
    /// Why it failed, once failed.
    error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = stratus_http::openapi::Timestamp)]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<stratus_http::openapi::Timestamp>)]
    completed_at: Option<OffsetDateTime>,
}

stratus_http::openapi_part!(handle);

impl From<Task> for TaskView {
    fn from(task: Task) -> Self {
        Self {
            task_id: task.id,
            ready: task.status != TaskStatus::Pending,
            successful: task.status == TaskStatus::Succeeded,
            status: task.status,
            value: task.value,
            error: task.error,
            created_at: task.created_at,
            completed_at: task.completed_at,
        }
    }
}

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps { tasks: wiring.tasks()?, auth: wiring.authenticator().await?, clock: wiring.clock() };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// A task's state and result
///
/// For the task's owner or an admin; another user's task is reported absent.
#[utoipa::path(
    get,
    path = "/result/{task_id}",
    operation_id = "result",
    tag = "tasks",
    security(("bearer" = [])),
    params(("task_id" = TaskId, Path, description = "The id `POST /add` answered")),
    responses(
        (status = 200, description = "The task", body = TaskView,
            headers(("Cache-Control" = String, description = "`private, no-store`"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let caller = authenticate(&deps.auth, &request).await?;
    let id = TaskId::parse(&http::path_param(&request, "task_id")?).map_err(|error| {
        Problem::bad_request("The task id is malformed").with_field_error("task_id", error.to_string())
    })?;
    let not_found = || Problem::not_found(format!("No task {id}"));
    let task = deps.tasks.get(&id, deps.clock.now()).await?.ok_or_else(not_found)?;
    // Names are freed when an account is deleted and may be registered again: a task older than
    // the caller's account was not its own, whatever the name. An admin is one as stored now.
    let owns = task.owner == caller.username && task.created_at >= caller.created_at;
    if !owns && !caller.is_active_admin() {
        return Err(not_found());
    }
    let mut response = http::json_response(StatusCode::OK, &TaskView::from(task));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}
