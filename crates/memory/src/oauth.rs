//! The OAuth provider's stores in process memory: same contracts as the DynamoDB adapters
//! (`stratus_aws::dynamodb::oauth`).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;

use stratus_core::domain::{ClientId, OAuthClient, Scopes};
use stratus_core::ports::{
    AuthorizationStore, BrowserSession, ClientStore, ClientWriteError, CodeGrant, CodeRedemption, StoreError,
};

#[derive(Default)]
pub struct MemoryClientStore {
    clients: Mutex<HashMap<ClientId, OAuthClient>>,
}

#[async_trait]
impl ClientStore for MemoryClientStore {
    async fn create(&self, client: &OAuthClient) -> Result<(), StoreError> {
        let mut clients = self.clients.lock().expect("no panic while holding the lock");
        if clients.contains_key(&client.id) {
            return Err(StoreError::Internal(format!("client id {} is taken", client.id)));
        }
        clients.insert(client.id.clone(), client.clone());
        Ok(())
    }

    async fn get(&self, id: &ClientId) -> Result<Option<OAuthClient>, StoreError> {
        Ok(self.clients.lock().expect("no panic while holding the lock").get(id).cloned())
    }

    async fn replace(&self, client: &OAuthClient) -> Result<(), ClientWriteError> {
        let mut clients = self.clients.lock().expect("no panic while holding the lock");
        match clients.get_mut(&client.id) {
            Some(stored) => {
                *stored = client.clone();
                Ok(())
            }
            None => Err(ClientWriteError::NotFound),
        }
    }

    async fn delete(&self, id: &ClientId) -> Result<bool, StoreError> {
        Ok(self.clients.lock().expect("no panic while holding the lock").remove(id).is_some())
    }
}

#[derive(Default)]
pub struct MemoryAuthorizationStore {
    inner: Mutex<Authorizations>,
}

#[derive(Default)]
struct Authorizations {
    /// Each code with whether it was used.
    codes: HashMap<[u8; 32], (CodeGrant, bool)>,
    sessions: HashMap<[u8; 32], BrowserSession>,
    consents: HashMap<(uuid::Uuid, ClientId), Scopes>,
}

#[async_trait]
impl AuthorizationStore for MemoryAuthorizationStore {
    async fn issue_code(&self, grant: &CodeGrant) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().expect("no panic while holding the lock");
        // Overwriting would make a used code redeemable again; codes are random, so a taken
        // hash is a bug.
        if inner.codes.contains_key(&grant.code_hash) {
            return Err(StoreError::Internal(
                "an authorization code with this hash was issued before".into(),
            ));
        }
        inner.codes.insert(grant.code_hash, (grant.clone(), false));
        Ok(())
    }

    async fn peek_code(
        &self,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<(CodeGrant, bool)>, StoreError> {
        let inner = self.inner.lock().expect("no panic while holding the lock");
        Ok(match inner.codes.get(code_hash) {
            Some((grant, true)) => Some((grant.clone(), true)),
            Some((grant, false)) if grant.expires_at > now => Some((grant.clone(), false)),
            _ => None,
        })
    }

    async fn redeem_code(
        &self,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<CodeRedemption, StoreError> {
        let mut inner = self.inner.lock().expect("no panic while holding the lock");
        Ok(match inner.codes.get_mut(code_hash) {
            Some((grant, true)) => CodeRedemption::Reused(grant.clone()),
            Some((grant, _)) if grant.expires_at <= now => CodeRedemption::Unknown,
            Some((grant, used)) => {
                *used = true;
                CodeRedemption::Redeemed(grant.clone())
            }
            None => CodeRedemption::Unknown,
        })
    }

    async fn put_session(&self, session: &BrowserSession) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().expect("no panic while holding the lock");
        inner.sessions.insert(session.id_hash, session.clone());
        Ok(())
    }

    async fn session(
        &self,
        id_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<BrowserSession>, StoreError> {
        let inner = self.inner.lock().expect("no panic while holding the lock");
        Ok(inner.sessions.get(id_hash).filter(|session| session.expires_at > now).cloned())
    }

    async fn end_session(&self, id_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.inner.lock().expect("no panic while holding the lock").sessions.remove(id_hash);
        Ok(())
    }

    async fn consent(&self, user_id: uuid::Uuid, client_id: &ClientId) -> Result<Option<Scopes>, StoreError> {
        let inner = self.inner.lock().expect("no panic while holding the lock");
        Ok(inner.consents.get(&(user_id, client_id.clone())).cloned())
    }

    async fn record_consent(
        &self,
        user_id: uuid::Uuid,
        client_id: &ClientId,
        scope: &Scopes,
    ) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().expect("no panic while holding the lock");
        inner.consents.insert((user_id, client_id.clone()), scope.clone());
        Ok(())
    }
}
