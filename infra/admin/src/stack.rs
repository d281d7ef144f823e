//! The deployed stack as the operations see it, and the one way they change it: a CloudFormation
//! change set on the stack's own template with some parameters changed and every other one kept
//! (`UsePreviousValue`), which is what `sam deploy` sends too. Nothing is built or uploaded, and
//! no other parameter can move by accident.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter};
use time::OffsetDateTime;

/// What an operation reads before it decides anything.
#[derive(Debug, Clone)]
pub struct Live {
    pub name: String,
    pub status: String,
    pub parameters: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
    /// When the last create or update of the whole stack finished, if the stack's events say.
    pub settled_at: Option<OffsetDateTime>,
}

impl Live {
    pub fn parameter(&self, key: &str) -> Result<&str, String> {
        self.parameters.get(key).map(String::as_str).ok_or_else(|| {
            format!("stack {} has no parameter {key}: deploy this version's template first", self.name)
        })
    }

    pub fn output(&self, key: &str) -> Result<&str, String> {
        self.outputs
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| format!("stack {} has no output {key}", self.name))
    }

    /// Whether nothing is under way: an operation changes only a stack at rest. A rolled-back
    /// update counts (the parameters are the ones before it), a failed rollback does not.
    pub fn at_rest(&self) -> bool {
        matches!(
            self.status.as_str(),
            "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE" | "IMPORT_COMPLETE"
        )
    }
}

pub struct Stacks {
    client: Client,
    poll: Duration,
}

impl Stacks {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        // CloudFormation takes seconds to minutes; every few seconds is often enough to look.
        let poll = std::env::var("STRATUS_ADMIN_POLL_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map_or(Duration::from_secs(5), Duration::from_millis);
        Self { client: Client::new(sdk), poll }
    }

    pub async fn read(&self, name: &str) -> Result<Live, String> {
        let described = self
            .client
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| format!("stack {name}: {}", stratus_aws::error_text(&e)))?;
        let stack = described.stacks().first().ok_or_else(|| format!("no stack {name}"))?;
        let events = self
            .client
            .describe_stack_events()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| format!("stack {name}'s events: {}", stratus_aws::error_text(&e)))?;
        // Newest first: the stack's own latest CREATE_COMPLETE or UPDATE_COMPLETE.
        let settled_at = events
            .stack_events()
            .iter()
            .find(|event| {
                event.resource_type() == Some("AWS::CloudFormation::Stack")
                    && event.logical_resource_id() == stack.stack_name()
                    && event.resource_status().is_some_and(|s| {
                        matches!(
                            s.as_str(),
                            "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE"
                        )
                    })
            })
            .and_then(|event| event.timestamp())
            .and_then(|at| OffsetDateTime::from_unix_timestamp(at.secs()).ok());
        Ok(Live {
            name: name.to_owned(),
            status: stack.stack_status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            parameters: stack
                .parameters()
                .iter()
                .filter_map(|p| {
                    Some((p.parameter_key()?.to_owned(), p.parameter_value().unwrap_or_default().to_owned()))
                })
                .collect(),
            outputs: stack
                .outputs()
                .iter()
                .filter_map(|o| {
                    Some((o.output_key()?.to_owned(), o.output_value().unwrap_or_default().to_owned()))
                })
                .collect(),
            settled_at,
        })
    }

    /// Sets `changes` on the stack and waits until the update has finished. With `dry_run`,
    /// shows what CloudFormation would change and changes nothing.
    pub async fn change(
        &self,
        live: &Live,
        changes: &BTreeMap<String, String>,
        dry_run: bool,
    ) -> Result<Live, String> {
        if !live.at_rest() {
            return Err(format!(
                "stack {} is {}: wait until it is at rest (or repair it), then run this again",
                live.name, live.status
            ));
        }
        for key in changes.keys() {
            live.parameter(key)?;
        }
        // Unique beyond this stack: CloudFormation scopes a change set's name to its stack, but
        // an emulator may look it up by name alone (moto does), and two stacks changed in the
        // same millisecond then had one name, and one of them the other's change.
        let name = format!(
            "stratus-admin-{}-{}",
            OffsetDateTime::now_utc().unix_timestamp_nanos(),
            std::process::id()
        );
        let parameters = live.parameters.keys().map(|key| match changes.get(key) {
            Some(new) => Parameter::builder().parameter_key(key).parameter_value(new).build(),
            None => Parameter::builder().parameter_key(key).use_previous_value(true).build(),
        });
        self.client
            .create_change_set()
            .stack_name(&live.name)
            .change_set_name(&name)
            .change_set_type(ChangeSetType::Update)
            .use_previous_template(true)
            .capabilities(Capability::CapabilityIam)
            .capabilities(Capability::CapabilityAutoExpand)
            .set_parameters(Some(parameters.collect()))
            .description("stratus-admin: parameters changed, template kept")
            .send()
            .await
            .map_err(|e| {
                format!("creating a change set on {}: {}", live.name, stratus_aws::error_text(&e))
            })?;
        let planned = loop {
            let described = self
                .client
                .describe_change_set()
                .stack_name(&live.name)
                .change_set_name(&name)
                .send()
                .await
                .map_err(|e| format!("change set {name}: {}", stratus_aws::error_text(&e)))?;
            match described.status() {
                Some(ChangeSetStatus::CreateComplete) => break described,
                Some(ChangeSetStatus::Failed) => {
                    let reason = described.status_reason().unwrap_or_default().to_owned();
                    let _ = self
                        .client
                        .delete_change_set()
                        .stack_name(&live.name)
                        .change_set_name(&name)
                        .send()
                        .await;
                    if reason.contains("didn't contain changes") || reason.contains("No updates") {
                        println!("  CloudFormation: nothing to change");
                        return Ok(live.clone());
                    }
                    return Err(format!("CloudFormation cannot make change set {name}: {reason}"));
                }
                _ => tokio::time::sleep(self.poll).await,
            }
        };
        for change in planned.changes() {
            if let Some(resource) = change.resource_change() {
                println!(
                    "  CloudFormation will {} {} ({}){}",
                    resource.action().map_or("change", |a| a.as_str()).to_lowercase(),
                    resource.logical_resource_id().unwrap_or_default(),
                    resource.resource_type().unwrap_or_default(),
                    match resource.replacement().map(|r| r.as_str()) {
                        Some("True") => ", replacing it",
                        _ => "",
                    }
                );
            }
        }
        if dry_run {
            let _ =
                self.client.delete_change_set().stack_name(&live.name).change_set_name(&name).send().await;
            return Ok(live.clone());
        }
        self.client
            .execute_change_set()
            .stack_name(&live.name)
            .change_set_name(&name)
            .send()
            .await
            .map_err(|e| format!("executing change set {name}: {}", stratus_aws::error_text(&e)))?;
        loop {
            let now = self.read(&live.name).await?;
            if now.status.ends_with("_IN_PROGRESS") {
                tokio::time::sleep(self.poll).await;
                continue;
            }
            return match now.status.as_str() {
                "UPDATE_COMPLETE" => Ok(now),
                other => Err(format!(
                    "stack {} ended {other}: the change did not take (see its events); the stack keeps its \
                     previous parameters, so running this again starts the step again",
                    live.name
                )),
            };
        }
    }
}
