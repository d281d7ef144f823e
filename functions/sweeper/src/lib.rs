//! The scheduled sweeper: no task stays pending for ever. A task can be written and never
//! queued (its add function timed out or crashed between the two steps), or its message can be
//! dead-lettered without the worker ever seeing it (throttled receives count too). Every few
//! minutes this queues again every task that has waited longer than `STALE_TASK_SECONDS`, and
//! fails the ones it has queued `MAX_REQUEUES` times already. Queuing twice is harmless: the
//! worker writes a result once.

use std::sync::Arc;

use serde::Serialize;
use stratus_core::clock::Clock;
use stratus_core::domain::TaskOutcome;
use stratus_core::ports::{Requeue, TaskQueue, TaskStore};
use stratus_wiring::lambda_init::{EventFailed, EventHandler};
use stratus_wiring::{InitError, Wiring};

/// Times a stale task is queued again before it is marked failed.
pub const MAX_REQUEUES: u32 = 3;
/// Tasks handled per invocation; the next run takes the rest.
const BATCH: usize = 500;

pub struct Sweeper {
    tasks: Arc<dyn TaskStore>,
    queue: Arc<dyn TaskQueue>,
    clock: Arc<dyn Clock>,
    stale_after: time::Duration,
}

pub async fn build(wiring: &impl Wiring) -> Result<Sweeper, InitError> {
    Ok(Sweeper {
        tasks: wiring.tasks()?,
        queue: wiring.queue()?,
        clock: wiring.clock(),
        stale_after: wiring.settings()?.stale_task_after,
    })
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Swept {
    pub requeued: usize,
    pub failed: usize,
    /// Tasks that could not be handled this time (the next sweep tries again).
    pub errors: usize,
}

impl EventHandler for Sweeper {
    /// The scheduler's event says nothing the sweep needs.
    type Event = serde_json::Value;
    type Output = Swept;

    async fn handle(&self, _event: serde_json::Value) -> Result<Swept, EventFailed> {
        Ok(self.sweep().await)
    }
}

impl Sweeper {
    pub async fn sweep(&self) -> Swept {
        let now = self.clock.now();
        let mut swept = Swept::default();
        let stale = match self.tasks.stale(now - self.stale_after, BATCH).await {
            Ok(stale) => stale,
            Err(error) => {
                tracing::error!(%error, "could not list the pending tasks");
                swept.errors += 1;
                return swept;
            }
        };
        for id in stale {
            match self.tasks.requeue(&id, now, MAX_REQUEUES).await {
                Ok(Requeue::Requeued) => match self.queue.enqueue(&id).await {
                    Ok(()) => swept.requeued += 1,
                    // Its wait restarted: the next sweep after `stale_after` tries again.
                    Err(error) => {
                        tracing::warn!(task_id = %id, %error, "could not queue a stale task again");
                        swept.errors += 1;
                    }
                },
                Ok(Requeue::NotPending) => {}
                Ok(Requeue::Exhausted) => {
                    let failed = TaskOutcome::Failed(format!(
                        "the task was queued {} times and never processed",
                        MAX_REQUEUES + 1
                    ));
                    match self.tasks.complete(&id, &failed, now).await {
                        Ok(_) => swept.failed += 1,
                        Err(error) => {
                            tracing::error!(task_id = %id, %error, "could not fail an abandoned task");
                            swept.errors += 1;
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(task_id = %id, %error, "could not re-queue a stale task");
                    swept.errors += 1;
                }
            }
        }
        if swept != Swept::default() {
            tracing::info!(
                requeued = swept.requeued,
                failed = swept.failed,
                errors = swept.errors,
                "swept pending tasks"
            );
        }
        swept
    }
}
