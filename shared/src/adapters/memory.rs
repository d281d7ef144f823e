//! The embedded backend: everything in process memory, same contracts as the AWS adapters.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{Digest, Message, StoredMessage};
use crate::ports::{MessageStore, PutOutcome, StoreError};

#[derive(Default)]
pub struct MemoryMessageStore {
    messages: Mutex<HashMap<Digest, Message>>,
}

#[async_trait]
impl MessageStore for MemoryMessageStore {
    async fn put(&self, stored: &StoredMessage) -> Result<PutOutcome, StoreError> {
        let mut messages = self.messages.lock().expect("no panic while holding the lock");
        Ok(match messages.entry(stored.digest()) {
            Entry::Occupied(_) => PutOutcome::AlreadyStored,
            Entry::Vacant(slot) => {
                slot.insert(stored.message().clone());
                PutOutcome::Created
            }
        })
    }

    async fn get(&self, digest: &Digest) -> Result<Option<Message>, StoreError> {
        let messages = self.messages.lock().expect("no panic while holding the lock");
        Ok(messages.get(digest).cloned())
    }
}

use std::collections::{BTreeMap, HashSet};

use time::OffsetDateTime;

use crate::domain::{PasswordHash, Role, User, Username};
use crate::ports::{
    CreateUserError, Page, RateDecision, RateLimit, RateLimiter, RefreshRecord, RefreshTokenStore, Spend,
    UserStore, rate_window,
};

#[derive(Default)]
pub struct MemoryUserStore {
    inner: Mutex<Users>,
}

#[derive(Default)]
struct Users {
    by_name: BTreeMap<Username, User>,
    /// The uniqueness guard for emails, by [`crate::domain::Email::key`].
    emails: HashSet<String>,
}

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn create(&self, user: &User) -> Result<(), CreateUserError> {
        let mut users = self.inner.lock().expect("no panic while holding the lock");
        if users.by_name.contains_key(&user.username) {
            return Err(CreateUserError::UsernameTaken);
        }
        if !users.emails.insert(user.email.key()) {
            return Err(CreateUserError::EmailTaken);
        }
        users.by_name.insert(user.username.clone(), user.clone());
        Ok(())
    }

    async fn get(&self, username: &Username) -> Result<Option<User>, StoreError> {
        Ok(self.inner.lock().expect("no panic while holding the lock").by_name.get(username).cloned())
    }

    async fn record_login(
        &self,
        username: &Username,
        at: OffsetDateTime,
        rehashed: Option<&PasswordHash>,
    ) -> Result<(), StoreError> {
        let mut users = self.inner.lock().expect("no panic while holding the lock");
        if let Some(user) = users.by_name.get_mut(username) {
            user.last_login = Some(at);
            if let Some(hash) = rehashed {
                user.password_hash = hash.clone();
            }
        }
        Ok(())
    }

    async fn set_role(&self, username: &Username, role: Role) -> Result<bool, StoreError> {
        let mut users = self.inner.lock().expect("no panic while holding the lock");
        Ok(users.by_name.get_mut(username).map(|user| user.role = role).is_some())
    }

    async fn list(&self, limit: usize, after: Option<&Username>) -> Result<Page<User>, StoreError> {
        use std::ops::Bound;
        let users = self.inner.lock().expect("no panic while holding the lock");
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut rest = users.by_name.range((start, Bound::Unbounded)).map(|(_, user)| user);
        let items: Vec<User> = rest.by_ref().take(limit).cloned().collect();
        let next = match rest.next() {
            Some(_) => items.last().map(|user| user.username.clone()),
            None => None,
        };
        Ok(Page { items, next })
    }
}

#[derive(Default)]
pub struct MemoryRefreshTokenStore {
    inner: Mutex<RefreshTokens>,
}

#[derive(Default)]
struct RefreshTokens {
    tokens: HashMap<[u8; 32], (RefreshRecord, bool)>,
    revoked_families: HashMap<uuid::Uuid, OffsetDateTime>,
}

#[async_trait]
impl RefreshTokenStore for MemoryRefreshTokenStore {
    async fn insert(&self, record: &RefreshRecord) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().expect("no panic while holding the lock");
        inner.tokens.insert(record.token_hash, (record.clone(), false));
        Ok(())
    }

    async fn spend(&self, token_hash: &[u8; 32], now: OffsetDateTime) -> Result<Spend, StoreError> {
        let mut inner = self.inner.lock().expect("no panic while holding the lock");
        Ok(match inner.tokens.get_mut(token_hash) {
            Some((record, _)) if record.expires_at <= now => Spend::Unknown,
            Some((record, spent @ false)) => {
                *spent = true;
                Spend::Spent(record.clone())
            }
            Some((record, true)) => Spend::Replayed(record.clone()),
            None => Spend::Unknown,
        })
    }

    async fn revoke_family(&self, family: uuid::Uuid, until: OffsetDateTime) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().expect("no panic while holding the lock");
        inner.revoked_families.insert(family, until);
        Ok(())
    }

    async fn is_family_revoked(&self, family: uuid::Uuid, now: OffsetDateTime) -> Result<bool, StoreError> {
        let inner = self.inner.lock().expect("no panic while holding the lock");
        Ok(inner.revoked_families.get(&family).is_some_and(|until| *until > now))
    }
}

#[derive(Default)]
pub struct MemoryRateLimiter {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(
        &self,
        key: &str,
        limit: RateLimit,
        now: OffsetDateTime,
    ) -> Result<RateDecision, StoreError> {
        let (index, ends) = rate_window(limit, now);
        let mut windows = self.windows.lock().expect("no panic while holding the lock");
        let entry = windows.entry(key.to_owned()).or_insert((index, 0));
        if entry.0 != index {
            *entry = (index, 0);
        }
        entry.1 += 1;
        Ok(if entry.1 > limit.max_hits {
            RateDecision::Limited { retry_after: ends - now }
        } else {
            RateDecision::Allowed
        })
    }
}
