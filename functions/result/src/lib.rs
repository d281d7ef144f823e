//! GET /result/{task_id}: a task's state, for its owner or an admin. Another user's task is
//! reported absent, not forbidden, so ids cannot be probed.

use std::sync::Arc;

use serde::Serialize;
use shared::Problem;
use shared::auth::{TokenVerifier, authenticate};
use shared::clock::Clock;
use shared::domain::{Number, Task, TaskId, TaskStatus};
use shared::http::{self, Endpoint, HandlerResult, HeaderValue, Request, StatusCode, header};
use shared::ports::TaskStore;
use shared::{InitError, Wiring};
use time::OffsetDateTime;

struct Deps {
    tasks: Arc<dyn TaskStore>,
    verifier: TokenVerifier,
    clock: Arc<dyn Clock>,
}

#[derive(Serialize)]
struct TaskView {
    task_id: TaskId,
    status: TaskStatus,
    ready: bool,
    successful: bool,
    value: Option<Number>,
    error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    completed_at: Option<OffsetDateTime>,
}

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
    let deps = Deps { tasks: wiring.tasks()?, verifier: wiring.verifier().await?, clock: wiring.clock() };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let principal = authenticate(&deps.verifier, &request)?;
    let id = TaskId::parse(&http::path_param(&request, "task_id")?).map_err(|error| {
        Problem::bad_request("The task id is malformed").with_field_error("task_id", error.to_string())
    })?;
    let not_found = || Problem::not_found(format!("No task {id}"));
    let task = deps.tasks.get(&id, deps.clock.now()).await?.ok_or_else(not_found)?;
    if task.owner != principal.username && !principal.is_admin() {
        return Err(not_found());
    }
    let mut response = http::json_response(StatusCode::OK, &TaskView::from(task));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}
