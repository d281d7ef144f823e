//! The embedded backend: everything in process memory, same contracts as the AWS adapters; and
//! the local-only mailers (`mail`).

pub mod mail;
pub mod oauth;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Mutex;

use async_trait::async_trait;

use stratus_core::domain::{Digest, StoredMessage};
use stratus_core::ports::{Found, MessageStore, PutOutcome, StoreError};

#[derive(Default)]
pub struct MemoryMessageStore {
    messages: Mutex<HashMap<Digest, Found>>,
}

fn live(found: &Found, now: OffsetDateTime) -> bool {
    found.expires_at.is_none_or(|at| at > now)
}

#[async_trait]
impl MessageStore for MemoryMessageStore {
    async fn put(
        &self,
        stored: &StoredMessage,
        expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<PutOutcome, StoreError> {
        let mut messages = self.messages.lock().expect("no panic while holding the lock");
        let found = Found { message: stored.message().clone(), expires_at };
        Ok(match messages.entry(stored.digest()) {
            Entry::Occupied(slot) if live(slot.get(), now) => PutOutcome::AlreadyStored,
            Entry::Occupied(mut slot) => {
                slot.insert(found);
                PutOutcome::Created
            }
            Entry::Vacant(slot) => {
                slot.insert(found);
                PutOutcome::Created
            }
        })
    }

    async fn get(&self, digest: &Digest, now: OffsetDateTime) -> Result<Option<Found>, StoreError> {
        let messages = self.messages.lock().expect("no panic while holding the lock");
        Ok(messages.get(digest).filter(|found| live(found, now)).cloned())
    }
}

use std::collections::BTreeMap;

use time::OffsetDateTime;

use stratus_core::domain::{Email, PasswordHash, TotpEnrollment, User, Username};
use stratus_core::ports::CodePurpose;
use stratus_core::ports::{
    AccessChange, AccessChanged, Checked, CodeRecord, CodeStore, CreateUserError, Deleted, Page,
    RateDecision, RateLimit, RateLimiter, RefreshRecord, RefreshTokenStore, Spend, UserStore, rate_window,
};

#[derive(Default)]
pub struct MemoryUserStore {
    inner: Mutex<Users>,
}

#[derive(Default)]
struct Users {
    by_name: BTreeMap<Username, User>,
    /// The uniqueness guard for emails, by [`stratus_core::domain::Email::key`], naming the account.
    emails: HashMap<String, Username>,
    /// How many accounts are active admins: changed under the same lock as the accounts, so a
    /// change that would leave none is refused however many race.
    active_admins: u64,
}

/// +1 when `after` is an active admin and `before` was not, -1 the other way round, else 0.
fn admin_delta(before: Option<&User>, after: Option<&User>) -> i64 {
    let active = |user: Option<&User>| i64::from(user.is_some_and(User::is_active_admin));
    active(after) - active(before)
}

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn create(&self, user: &User) -> Result<(), CreateUserError> {
        let mut users = self.inner.lock().expect("no panic while holding the lock");
        if users.by_name.contains_key(&user.username) {
            return Err(CreateUserError::UsernameTaken);
        }
        match users.emails.entry(user.email.key()) {
            Entry::Occupied(_) => return Err(CreateUserError::EmailTaken),
            Entry::Vacant(slot) => slot.insert(user.username.clone()),
        };
        users.by_name.insert(user.username.clone(), user.clone());
        if user.is_active_admin() {
            users.active_admins += 1;
        }
        Ok(())
    }

    async fn get(&self, username: &Username) -> Result<Option<User>, StoreError> {
        Ok(self.inner.lock().expect("no panic while holding the lock").by_name.get(username).cloned())
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let users = self.inner.lock().expect("no panic while holding the lock");
        Ok(users.emails.get(&email.key()).and_then(|name| users.by_name.get(name)).cloned())
    }

    async fn mark_email_verified(&self, user: &User) -> Result<bool, StoreError> {
        let mut users = self.inner.lock().expect("no panic while holding the lock");
        let stored =
            users.by_name.get_mut(&user.username).filter(|s| s.id == user.id && s.email == user.email);
        Ok(stored.map(|stored| stored.email_verified = true).is_some())
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

    async fn set_password(
        &self,
        user: &User,
        hash: &PasswordHash,
        generation: uuid::Uuid,
    ) -> Result<bool, StoreError> {
        let mut users = self.inner.lock().expect("no panic while holding the lock");
        let as_read = |stored: &&mut User| {
            stored.id == user.id && [user.session_generation, generation].contains(&stored.session_generation)
        };
        Ok(users
            .by_name
            .get_mut(&user.username)
            .filter(as_read)
            .map(|stored| {
                stored.password_hash = hash.clone();
                stored.session_generation = generation;
            })
            .is_some())
    }

    async fn delete(&self, user: &User) -> Result<Deleted, StoreError> {
        let mut users = self.inner.lock().expect("no panic while holding the lock");
        let Some(stored) = users.by_name.get(&user.username).filter(|stored| stored.id == user.id) else {
            return Ok(Deleted::Gone);
        };
        let delta = admin_delta(Some(stored), None);
        if delta < 0 && users.active_admins <= 1 {
            return Ok(Deleted::LastActiveAdmin);
        }
        let removed = users.by_name.remove(&user.username).expect("just seen");
        users.emails.remove(&removed.email.key());
        users.active_admins = users.active_admins.saturating_add_signed(delta);
        Ok(Deleted::Deleted)
    }

    async fn change_access(
        &self,
        read: &User,
        change: AccessChange,
        generation: uuid::Uuid,
    ) -> Result<AccessChanged, StoreError> {
        let mut users = self.inner.lock().expect("no panic while holding the lock");
        // Decided on the account as it is now, under the lock: `read` may be stale.
        let Some(stored) = users.by_name.get(&read.username).filter(|stored| stored.id == read.id) else {
            return Ok(AccessChanged::NoSuchUser);
        };
        let mut after = change.applied_to(stored);
        let delta = admin_delta(Some(stored), Some(&after));
        if delta < 0 && users.active_admins <= 1 {
            return Ok(AccessChanged::LastActiveAdmin);
        }
        if after.disabled != stored.disabled {
            after.session_generation = generation;
        }
        users.by_name.insert(after.username.clone(), after.clone());
        users.active_admins = users.active_admins.saturating_add_signed(delta);
        Ok(AccessChanged::Changed(after))
    }

    async fn active_admins(&self) -> Result<u64, StoreError> {
        Ok(self.inner.lock().expect("no panic while holding the lock").active_admins)
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

    async fn begin_totp(&self, user: &User, sealed_secret: &str) -> Result<bool, StoreError> {
        let mut users = self.inner.lock().expect("no panic while holding the lock");
        let Some(stored) = users.by_name.get_mut(&user.username).filter(|s| s.id == user.id) else {
            return Ok(false);
        };
        if stored.mfa_enabled() {
            return Ok(false);
        }
        stored.totp = Some(TotpEnrollment {
            sealed_secret: sealed_secret.to_owned(),
            confirmed: false,
            last_step: 0,
            recovery_codes: Vec::new(),
        });
        Ok(true)
    }

    async fn confirm_totp(
        &self,
        user: &User,
        step: i64,
        recovery_hashes: &[String],
        generation: uuid::Uuid,
    ) -> Result<bool, StoreError> {
        let mut users = self.inner.lock().expect("no panic while holding the lock");
        let Some(read) = &user.totp else { return Ok(false) };
        let stored = users.by_name.get_mut(&user.username).filter(|s| {
            s.id == user.id
                && s.totp.as_ref().is_some_and(|t| {
                    !t.confirmed && t.sealed_secret == read.sealed_secret && t.last_step < step
                })
        });
        Ok(stored
            .map(|stored| {
                stored.session_generation = generation;
                let totp = stored.totp.as_mut().expect("checked above");
                totp.confirmed = true;
                totp.last_step = step;
                totp.recovery_codes = recovery_hashes.to_vec();
            })
            .is_some())
    }

    async fn use_totp_step(&self, user: &User, step: i64) -> Result<bool, StoreError> {
        let mut users = self.inner.lock().expect("no panic while holding the lock");
        let totp = enabled_totp(&mut users, user).filter(|t| t.last_step < step);
        Ok(totp.map(|totp| totp.last_step = step).is_some())
    }

    async fn spend_recovery_code(&self, user: &User, hash: &str) -> Result<bool, StoreError> {
        let mut users = self.inner.lock().expect("no panic while holding the lock");
        let Some(totp) = enabled_totp(&mut users, user) else { return Ok(false) };
        let before = totp.recovery_codes.len();
        totp.recovery_codes.retain(|stored| stored != hash);
        Ok(totp.recovery_codes.len() < before)
    }

    async fn remove_totp(&self, user: &User, generation: uuid::Uuid) -> Result<bool, StoreError> {
        let mut users = self.inner.lock().expect("no panic while holding the lock");
        if enabled_totp(&mut users, user).is_none() {
            return Ok(false);
        }
        let stored = users.by_name.get_mut(&user.username).expect("enabled_totp found it");
        stored.session_generation = generation;
        Ok(stored.totp.take().is_some())
    }
}

/// The user's TOTP when it is on and still the one `user` was read with.
fn enabled_totp<'a>(users: &'a mut Users, user: &User) -> Option<&'a mut TotpEnrollment> {
    let read = user.totp.as_ref()?;
    users
        .by_name
        .get_mut(&user.username)
        .filter(|s| s.id == user.id)
        .and_then(|s| s.totp.as_mut())
        .filter(|t| t.confirmed && t.sealed_secret == read.sealed_secret)
}

#[derive(Default)]
pub struct MemoryCodeStore {
    codes: Mutex<HashMap<(&'static str, Username), LiveCodes>>,
}

/// A user's codes for one purpose, oldest first, and the attempts they have left together.
struct LiveCodes {
    codes: Vec<([u8; 32], OffsetDateTime)>,
    attempts_left: u32,
}

impl LiveCodes {
    fn is_live(&self, code_hash: &[u8; 32], now: OffsetDateTime) -> bool {
        self.codes.iter().any(|(hash, expires_at)| hash == code_hash && *expires_at > now)
    }
}

#[async_trait]
impl CodeStore for MemoryCodeStore {
    async fn issue(&self, record: &CodeRecord) -> Result<(), StoreError> {
        let mut codes = self.codes.lock().expect("no panic while holding the lock");
        let slot = codes
            .entry((record.purpose.as_str(), record.username.clone()))
            .or_insert(LiveCodes { codes: Vec::new(), attempts_left: 0 });
        // Codes out of attempts stay dead: re-arming must not bring them back.
        if slot.attempts_left == 0 {
            slot.codes.clear();
        }
        slot.codes.retain(|(hash, _)| *hash != record.code_hash);
        slot.codes.push((record.code_hash, record.expires_at));
        let drop = slot.codes.len().saturating_sub(record.purpose.live_codes().max(1));
        slot.codes.drain(..drop);
        slot.attempts_left = record.attempts_left;
        Ok(())
    }

    async fn check(
        &self,
        purpose: CodePurpose,
        username: &Username,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Checked, StoreError> {
        let mut codes = self.codes.lock().expect("no panic while holding the lock");
        let Some(live) = codes.get_mut(&(purpose.as_str(), username.clone())) else {
            return Ok(Checked::NoCode);
        };
        if live.attempts_left == 0 || live.codes.iter().all(|(_, expires_at)| *expires_at <= now) {
            return Ok(Checked::NoCode);
        }
        live.attempts_left -= 1;
        Ok(if live.is_live(code_hash, now) { Checked::Right } else { Checked::Wrong })
    }

    async fn spend(
        &self,
        purpose: CodePurpose,
        username: &Username,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut codes = self.codes.lock().expect("no panic while holding the lock");
        let Entry::Occupied(slot) = codes.entry((purpose.as_str(), username.clone())) else {
            return Ok(false);
        };
        if !slot.get().is_live(code_hash, now) {
            return Ok(false);
        }
        slot.remove();
        Ok(true)
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

    async fn spend(
        &self,
        token_hash: &[u8; 32],
        owner: Option<&Username>,
        now: OffsetDateTime,
    ) -> Result<Spend, StoreError> {
        let mut inner = self.inner.lock().expect("no panic while holding the lock");
        Ok(match inner.tokens.get_mut(token_hash) {
            Some((record, _)) if record.expires_at <= now => Spend::Unknown,
            Some((record, _)) if owner.is_some_and(|owner| *owner != record.username) => Spend::Unknown,
            Some((record, spent @ false)) => {
                *spent = true;
                Spend::Spent(record.clone())
            }
            Some((record, true)) => Spend::Replayed(record.clone()),
            None => Spend::Unknown,
        })
    }

    async fn peek(
        &self,
        token_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<(RefreshRecord, bool)>, StoreError> {
        let inner = self.inner.lock().expect("no panic while holding the lock");
        Ok(inner.tokens.get(token_hash).filter(|(record, _)| record.expires_at > now).cloned())
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
    /// Claimed keys and until when they are remembered.
    claimed: Mutex<HashMap<String, OffsetDateTime>>,
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
        if entry.1 >= limit.max_hits {
            return Ok(RateDecision::Limited { retry_after: ends - now });
        }
        entry.1 += 1;
        Ok(RateDecision::Allowed)
    }

    async fn release(&self, key: &str, limit: RateLimit, at: OffsetDateTime) -> Result<(), StoreError> {
        let (index, _) = rate_window(limit, at);
        let mut windows = self.windows.lock().expect("no panic while holding the lock");
        if let Some(entry) = windows.get_mut(key)
            && entry.0 == index
        {
            entry.1 = entry.1.saturating_sub(1);
        }
        Ok(())
    }

    async fn claim_once(&self, key: &str, until: OffsetDateTime) -> Result<bool, StoreError> {
        let mut claimed = self.claimed.lock().expect("no panic while holding the lock");
        // Forgetting what has expired keeps a long-running local server's memory bounded.
        let now = OffsetDateTime::now_utc();
        claimed.retain(|_, kept_until| *kept_until > now);
        Ok(claimed.insert(key.to_owned(), until).is_none())
    }

    async fn release_claim(&self, key: &str) -> Result<(), StoreError> {
        self.claimed.lock().expect("no panic while holding the lock").remove(key);
        Ok(())
    }
}

use std::collections::VecDeque;
use std::time::{Duration as StdDuration, Instant};

use stratus_core::domain::{Idempotency, Task, TaskId, TaskOutcome, TaskStatus};
use stratus_core::ports::{QueueError, Requeue, Submitted, TaskMessage, TaskQueue, TaskStore};

#[derive(Default)]
pub struct MemoryTaskStore {
    inner: Mutex<TasksState>,
}

#[derive(Default)]
struct TasksState {
    tasks: HashMap<TaskId, Task>,
    /// (owner, key) → (task, request fingerprint, expiry)
    keys: HashMap<(Username, String), (TaskId, String, OffsetDateTime)>,
}

#[async_trait]
impl TaskStore for MemoryTaskStore {
    async fn create(
        &self,
        task: &Task,
        idempotency: Option<&Idempotency>,
        now: OffsetDateTime,
    ) -> Result<Submitted, StoreError> {
        let mut state = self.inner.lock().expect("no panic while holding the lock");
        if let Some(idempotency) = idempotency {
            let slot = (idempotency.owner.clone(), idempotency.key.clone());
            if let Some((existing, fingerprint, expires)) = state.keys.get(&slot)
                && *expires > now
            {
                return Ok(if *fingerprint == idempotency.fingerprint {
                    Submitted::Existing(*existing)
                } else {
                    Submitted::KeyReused
                });
            }
            state.keys.insert(slot, (task.id, idempotency.fingerprint.clone(), now + Idempotency::WINDOW));
        }
        state.tasks.insert(task.id, task.clone());
        Ok(Submitted::Created)
    }

    async fn get(&self, id: &TaskId, now: OffsetDateTime) -> Result<Option<Task>, StoreError> {
        let state = self.inner.lock().expect("no panic while holding the lock");
        Ok(state.tasks.get(id).filter(|task| task.expires_at > now).cloned())
    }

    async fn complete(
        &self,
        id: &TaskId,
        outcome: &TaskOutcome,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = self.inner.lock().expect("no panic while holding the lock");
        match state.tasks.get_mut(id) {
            Some(task) if task.status == TaskStatus::Pending => {
                task.complete(outcome.clone(), at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn discard(&self, task: &Task, idempotency: Option<&Idempotency>) -> Result<(), StoreError> {
        let mut state = self.inner.lock().expect("no panic while holding the lock");
        state.tasks.remove(&task.id);
        if let Some(idempotency) = idempotency {
            let slot = (idempotency.owner.clone(), idempotency.key.clone());
            if state.keys.get(&slot).is_some_and(|(id, _, _)| *id == task.id) {
                state.keys.remove(&slot);
            }
        }
        Ok(())
    }

    async fn stale(&self, before: OffsetDateTime, limit: usize) -> Result<Vec<TaskId>, StoreError> {
        let state = self.inner.lock().expect("no panic while holding the lock");
        let mut waiting: Vec<(OffsetDateTime, TaskId)> = state
            .tasks
            .values()
            .filter_map(|task| {
                task.pending_since.filter(|since| *since < before).map(|since| (since, task.id))
            })
            .collect();
        waiting.sort();
        Ok(waiting.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    async fn requeue(&self, id: &TaskId, at: OffsetDateTime, max: u32) -> Result<Requeue, StoreError> {
        let mut state = self.inner.lock().expect("no panic while holding the lock");
        Ok(match state.tasks.get_mut(id) {
            Some(task) if task.status == TaskStatus::Pending && task.requeues < max => {
                task.requeues += 1;
                task.pending_since = Some(at);
                Requeue::Requeued
            }
            Some(task) if task.status == TaskStatus::Pending => Requeue::Exhausted,
            _ => Requeue::NotPending,
        })
    }
}

/// A queue with SQS's delivery rules: a received message is hidden for the visibility timeout
/// and comes back unless deleted; after `max_receives` receives it goes to the dead-letter list.
pub struct MemoryQueue {
    inner: Mutex<QueueState>,
    arrived: tokio::sync::Notify,
    visibility: StdDuration,
    max_receives: u32,
}

#[derive(Default)]
struct QueueState {
    sent: u64,
    messages: VecDeque<Queued>,
    dead: Vec<Queued>,
}

#[derive(Debug, Clone)]
struct Queued {
    id: String,
    body: String,
    receives: u32,
    visible_at: Instant,
    receipt: String,
    sent_at: OffsetDateTime,
}

/// One delivery of a message, as a consumer sees it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub receive_count: u32,
    pub sent_at: OffsetDateTime,
}

impl MemoryQueue {
    pub fn new(visibility: StdDuration, max_receives: u32) -> Self {
        Self { inner: Mutex::default(), arrived: tokio::sync::Notify::new(), visibility, max_receives }
    }

    pub fn send(&self, body: String) {
        let mut state = self.inner.lock().expect("no panic while holding the lock");
        state.sent += 1;
        let id = uuid::Uuid::new_v4().to_string();
        state.messages.push_back(Queued {
            id,
            body,
            receives: 0,
            visible_at: Instant::now(),
            receipt: String::new(),
            sent_at: OffsetDateTime::now_utc(),
        });
        drop(state);
        self.arrived.notify_one();
    }

    /// Up to `max` visible messages, each hidden for the visibility timeout from now on.
    pub fn receive(&self, max: usize) -> Vec<Delivery> {
        let now = Instant::now();
        let mut state = self.inner.lock().expect("no panic while holding the lock");
        let (dead, live): (Vec<Queued>, Vec<Queued>) = std::mem::take(&mut state.messages)
            .into_iter()
            .partition(|m| m.visible_at <= now && m.receives >= self.max_receives);
        state.dead.extend(dead);
        state.messages = live.into();
        let mut deliveries = Vec::new();
        for message in state.messages.iter_mut().filter(|m| m.visible_at <= now).take(max) {
            message.receives += 1;
            message.visible_at = now + self.visibility;
            message.receipt = uuid::Uuid::new_v4().to_string();
            deliveries.push(Delivery {
                message_id: message.id.clone(),
                receipt_handle: message.receipt.clone(),
                body: message.body.clone(),
                receive_count: message.receives,
                sent_at: message.sent_at,
            });
        }
        deliveries
    }

    /// Deletes a received message; a stale receipt (the message was received again since) does nothing.
    pub fn delete(&self, receipt_handle: &str) {
        let mut state = self.inner.lock().expect("no panic while holding the lock");
        state.messages.retain(|m| m.receipt != receipt_handle);
    }

    /// Waits until a message may have arrived, or `timeout` passed.
    pub async fn wait(&self, timeout: StdDuration) {
        let _ = tokio::time::timeout(timeout, self.arrived.notified()).await;
    }

    /// Bodies of the messages that went to the dead-letter list.
    pub fn dead_letters(&self) -> Vec<String> {
        self.inner
            .lock()
            .expect("no panic while holding the lock")
            .dead
            .iter()
            .map(|m| m.body.clone())
            .collect()
    }

    /// Messages ever sent, and messages still queued (visible or in flight).
    pub fn counts(&self) -> (u64, usize) {
        let state = self.inner.lock().expect("no panic while holding the lock");
        (state.sent, state.messages.len())
    }
}

#[async_trait]
impl TaskQueue for MemoryQueue {
    async fn enqueue(&self, id: &TaskId) -> Result<(), QueueError> {
        let body = serde_json::to_string(&TaskMessage { task_id: *id })
            .map_err(|e| QueueError::Refused(e.to_string()))?;
        self.send(body);
        Ok(())
    }
}
