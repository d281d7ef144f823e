//! A CloudFormation custom resource (`Custom::SigningKeys`) run at deploy time: it reads the
//! signing key's public half from KMS once and answers it, with any retired keys, as a JWK Set
//! (attribute `Jwks`). The template puts that set in every verifier's `SIGNING_JWKS`, so no
//! function calls KMS at cold start, and the verifiers' roles need no KMS right at all.
//!
//! Whatever happens, CloudFormation gets an answer: a custom resource that never answers holds
//! the stack for an hour.

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceRequest, CloudFormationCustomResourceResponse,
    CloudFormationCustomResourceResponseStatus,
};
use std::sync::Arc;

use serde::Deserialize;
use stratus_auth::keys::{JwkSet, PublicKey, PublicKeySource};
use stratus_wiring::InitError;
use stratus_wiring::aws::AwsWiring;
use stratus_wiring::lambda_init::EventHandler;

/// The attribute the template reads: `!GetAtt SigningKeys.Jwks`.
pub const JWKS_ATTRIBUTE: &str = "Jwks";

/// What the template gives the resource.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Properties {
    /// The KMS key that signs now.
    pub key_arn: String,
    /// A JWK Set of keys that no longer sign but whose tokens may still be live (a rotation's old
    /// key, copied from `/.well-known/jwks.json`); empty when there is none.
    #[serde(default)]
    pub retired_keys: String,
}

pub type Request = CloudFormationCustomResourceRequest<serde_json::Value, Properties>;

pub struct SigningKeys {
    /// KMS on AWS.
    keys: Arc<dyn PublicKeySource>,
    http: reqwest::Client,
}

pub async fn build(wiring: &AwsWiring) -> Result<SigningKeys, InitError> {
    Ok(SigningKeys { keys: wiring.public_key_source(), http: reqwest::Client::builder().build()? })
}

impl EventHandler for SigningKeys {
    type Event = Request;
    /// What CloudFormation was told (it reads the PUT, not this; the invocation log shows it).
    type Output = CloudFormationCustomResourceResponse;

    async fn handle(&self, request: Request) -> CloudFormationCustomResourceResponse {
        let (response_url, response) = self.answer(request).await;
        match self
            .http
            .put(&response_url)
            .body(serde_json::to_vec(&response).expect("serializes"))
            .send()
            .await
        {
            Ok(reply) if reply.status().is_success() => {
                tracing::info!(status = ?response.status, "answered CloudFormation");
            }
            Ok(reply) => tracing::error!(status = %reply.status(), "CloudFormation refused the answer"),
            Err(error) => tracing::error!(%error, "cannot reach CloudFormation's response URL"),
        }
        response
    }
}

impl SigningKeys {
    /// Where to send the answer, and the answer.
    pub async fn answer(&self, request: Request) -> (String, CloudFormationCustomResourceResponse) {
        let mut response = CloudFormationCustomResourceResponse::default();
        let (url, properties) = match request {
            CloudFormationCustomResourceRequest::Create(create) => {
                response.stack_id = create.stack_id;
                response.request_id = create.request_id;
                response.logical_resource_id = create.logical_resource_id;
                (create.response_url, Some(create.resource_properties))
            }
            CloudFormationCustomResourceRequest::Update(update) => {
                response.stack_id = update.stack_id;
                response.request_id = update.request_id;
                response.logical_resource_id = update.logical_resource_id;
                (update.response_url, Some(update.resource_properties))
            }
            // Nothing was created: the keys belong to KMS and the set lives in the stack.
            CloudFormationCustomResourceRequest::Delete(delete) => {
                response.stack_id = delete.stack_id;
                response.request_id = delete.request_id;
                response.logical_resource_id = delete.logical_resource_id;
                response.physical_resource_id = delete.physical_resource_id;
                (delete.response_url, None)
            }
            _ => {
                response.status = CloudFormationCustomResourceResponseStatus::Failed;
                response.reason = Some("unknown request type".into());
                return (String::new(), response);
            }
        };
        if let Some(properties) = properties {
            match self.jwks(&properties).await {
                Ok((current, jwks)) => {
                    response.physical_resource_id = format!("signing-keys-{current}");
                    response.data.insert(JWKS_ATTRIBUTE.into(), jwks);
                }
                Err(reason) => {
                    tracing::error!(%reason, "cannot publish the signing keys");
                    response.status = CloudFormationCustomResourceResponseStatus::Failed;
                    response.reason = Some(reason);
                    response.physical_resource_id = "signing-keys-failed".into();
                }
            }
        }
        (url, response)
    }

    /// The current key's id and the set.
    async fn jwks(&self, properties: &Properties) -> Result<(String, String), String> {
        let current = self.keys.public_key(&properties.key_arn).await?;
        let retired: Vec<PublicKey> = match properties.retired_keys.trim() {
            "" => Vec::new(),
            set => JwkSet::parse_keys(set).map_err(|e| format!("RetiredKeys: {e}"))?,
        };
        let current_id = current.key_id.clone();
        let keys: Vec<PublicKey> = std::iter::once(current)
            .chain(retired.into_iter().filter(|key| key.key_id != current_id))
            .collect();
        let set = serde_json::to_string(&JwkSet::new(&keys)).expect("a JWK Set serializes");
        Ok((current_id, set))
    }
}
