//! The ports the functions talk through. Each has an in-memory adapter (the embedded backend
//! for local runs and fast tests) and an AWS adapter; both pass one contract suite.

use async_trait::async_trait;

use crate::domain::{ClientId, Digest, Message, OAuthClient, Scopes, StoredMessage};

/// Why a store call failed. Client mistakes never get here: they are refused before any I/O.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttled, timed out, connection refused: worth a retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug, a bad configuration or a corrupt item.
    #[error("store failure: {0}")]
    Internal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    AlreadyStored,
}

/// A stored message and, when messages expire, when this one does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub message: Message,
    pub expires_at: Option<OffsetDateTime>,
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores the message under its digest, until `expires_at` if given. Telling "created" from
    /// "already stored" is atomic: of any number of concurrent puts of one new message exactly
    /// one sees `Created`. A message whose expiry has passed counts as absent: storing it again
    /// creates it anew.
    async fn put(
        &self,
        message: &StoredMessage,
        expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<PutOutcome, StoreError>;

    /// The message, unless absent or expired.
    async fn get(&self, digest: &Digest, now: OffsetDateTime) -> Result<Option<Found>, StoreError>;
}

use time::OffsetDateTime;

use crate::domain::{PasswordHash, Role, User, Username};

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("username taken")]
    UsernameTaken,
    #[error("email taken")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of a listing and where the next starts, if anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Username>,
}

/// A change to what an account may do; a field left out stays as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccessChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

impl AccessChange {
    /// The account as it is once the change is applied to `user` (the session generation aside).
    pub fn applied_to(self, user: &User) -> User {
        User {
            role: self.role.unwrap_or(user.role),
            disabled: self.disabled.unwrap_or(user.disabled),
            ..user.clone()
        }
    }
}

/// What [`UserStore::change_access`] did.
// One is returned per request and matched at once, never stored: boxing the account would
// only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessChanged {
    /// Done, or there was nothing to change: the account as it is now.
    Changed(User),
    /// No such account (or the name now belongs to another): nothing was written.
    NoSuchUser,
    /// The change would leave no active admin: nothing was written.
    LastActiveAdmin,
}

/// What [`UserStore::delete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    /// The account was gone already, or the name now belongs to another.
    Gone,
    /// It is the last active admin: nothing was removed.
    LastActiveAdmin,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the user if neither its username nor its email (case-insensitively) is taken.
    /// Atomic: of N concurrent creations of one name exactly one succeeds.
    async fn create(&self, user: &User) -> Result<(), CreateUserError>;

    async fn get(&self, username: &Username) -> Result<Option<User>, StoreError>;

    /// The account registered with this email, compared case-insensitively.
    async fn find_by_email(&self, email: &crate::domain::Email) -> Result<Option<User>, StoreError>;

    /// Records that the user proved they read mail at their address. Only this very account
    /// (by id) and only while its email is still the one the code went to: false otherwise.
    async fn mark_email_verified(&self, user: &User) -> Result<bool, StoreError>;

    /// Stamps `last_login`, and replaces the password hash when its parameters were outdated.
    async fn record_login(
        &self,
        username: &Username,
        at: OffsetDateTime,
        rehashed: Option<&PasswordHash>,
    ) -> Result<(), StoreError>;

    /// Replaces the password hash and moves the account from the session generation it was read
    /// with (`user.session_generation`) to `generation`, which ends every session begun before.
    /// Returns false when the account is gone or its generation moved since it was read: another
    /// password was set first. `generation` is new to this call, so a retry of it (its answer
    /// lost) that finds it in place is this call's own: true.
    async fn set_password(
        &self,
        user: &User,
        hash: &PasswordHash,
        generation: uuid::Uuid,
    ) -> Result<bool, StoreError>;

    /// Removes the account and its email's guard at once, freeing both the username and the
    /// email. Only this very account (by id): `Gone` when it is gone, or the name now belongs
    /// to another. The last active admin is not removed (`LastActiveAdmin`): the account and
    /// the count of active admins change together or not at all.
    async fn delete(&self, user: &User) -> Result<Deleted, StoreError>;

    /// Sets the account's role and disabled flag as `change` says (a field left out stays as
    /// it is), in one write with the count of active admins, so that the count stays exact and
    /// never reaches zero: a change that would leave no active admin writes nothing and answers
    /// `LastActiveAdmin`, however many such changes race. `read` is the caller's read of the
    /// account: the write is conditioned on it, and the store reads again and re-decides if the
    /// account changed meanwhile. Only this very account (by id): `NoSuchUser` otherwise. A
    /// change of the disabled flag moves the account to session generation `generation`: every
    /// session begun before ends, so one from before a disable never works again.
    async fn change_access(
        &self,
        read: &User,
        change: AccessChange,
        generation: uuid::Uuid,
    ) -> Result<AccessChanged, StoreError>;

    /// How many accounts are active admins (role admin, not disabled), exactly.
    async fn active_admins(&self) -> Result<u64, StoreError>;

    /// Users in a stable order, `limit` at most, starting after `after`.
    async fn list(&self, limit: usize, after: Option<&Username>) -> Result<Page<User>, StoreError>;

    /// Starts (or restarts) setting up an authenticator: a pending enrolment with this sealed
    /// secret. Only this very account, and only while TOTP is not on: false otherwise.
    async fn begin_totp(&self, user: &User, sealed_secret: &str) -> Result<bool, StoreError>;

    /// Turns TOTP on with the recovery codes' hashes, the first code having been for `step`, and
    /// moves the account to session generation `generation` (sessions begun with the password
    /// alone end). Only if the pending enrolment is still the one `user` holds: false otherwise.
    async fn confirm_totp(
        &self,
        user: &User,
        step: i64,
        recovery_hashes: &[String],
        generation: uuid::Uuid,
    ) -> Result<bool, StoreError>;

    /// Records that a code for `step` was accepted, atomically: of two uses of one code (or of
    /// an older one) at most one gets true.
    async fn use_totp_step(&self, user: &User, step: i64) -> Result<bool, StoreError>;

    /// Spends a recovery code by its hash, atomically: false when it is not (or no longer) there.
    async fn spend_recovery_code(&self, user: &User, hash: &str) -> Result<bool, StoreError>;

    /// Turns TOTP off for this very account, if it is still the enrolment `user` was read with,
    /// and moves it to session generation `generation`: false when it was not on, or was
    /// replaced meanwhile.
    async fn remove_totp(&self, user: &User, generation: uuid::Uuid) -> Result<bool, StoreError>;
}

/// Where the data key that seals secrets at rest comes from (`stratus_auth::sealing`).
#[async_trait]
pub trait DataKeySource: Send + Sync {
    /// The 32-byte key. With `create`, one is made if the stack has none yet; without, a stack
    /// with none is an error (nothing can have been sealed).
    async fn data_key(&self, create: bool) -> Result<Vec<u8>, StoreError>;
}

/// A refresh token as stored: only its SHA-256, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    pub token_hash: [u8; 32],
    pub username: Username,
    /// Every token rotated from one login shares the family; reuse of a spent one revokes it.
    pub family: uuid::Uuid,
    /// The login the family comes from: its age is capped however often it is refreshed.
    pub family_started_at: OffsetDateTime,
    /// The user's session generation at that login (`User::session_generation`).
    pub generation: uuid::Uuid,
    pub expires_at: OffsetDateTime,
    /// The OAuth client the family was granted to; `None` for the API's own login, whose
    /// tokens refresh at `POST /token/refresh` and nowhere else.
    pub client: Option<ClientGrant>,
}

/// What an OAuth client was granted: the refresh token of the grant renews exactly this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientGrant {
    pub client_id: ClientId,
    pub scope: Scopes,
    /// When the user authenticated (OpenID Connect's `auth_time`).
    pub auth_time: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spend {
    /// The token was live and is now spent; here is what it was issued for.
    Spent(RefreshRecord),
    /// The token had been spent before: a replay, so its family must be revoked.
    Replayed(RefreshRecord),
    /// No such token, or it has expired.
    Unknown,
}

#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    async fn insert(&self, record: &RefreshRecord) -> Result<(), StoreError>;

    /// Marks the token spent, atomically: of two concurrent spends one gets `Spent` and the
    /// other `Replayed`. With an `owner`, only that user's token is spent, in the same
    /// conditional write: another user's token is `Unknown` and left untouched.
    async fn spend(
        &self,
        token_hash: &[u8; 32],
        owner: Option<&Username>,
        now: OffsetDateTime,
    ) -> Result<Spend, StoreError>;

    /// The live token's record and whether it was spent, without spending it: for
    /// introspection and revocation, which must not use a token up.
    async fn peek(
        &self,
        token_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<(RefreshRecord, bool)>, StoreError>;

    /// Revokes every token of the family, present and future, until `until`.
    async fn revoke_family(&self, family: uuid::Uuid, until: OffsetDateTime) -> Result<(), StoreError>;

    async fn is_family_revoked(&self, family: uuid::Uuid, now: OffsetDateTime) -> Result<bool, StoreError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max_hits: u32,
    pub window: time::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    Limited { retry_after: time::Duration },
}

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one hit against `key` in the fixed window that holds `now`, if the window has room:
    /// a refused hit counts for nothing, so a full window stays exactly full.
    async fn hit(&self, key: &str, limit: RateLimit, now: OffsetDateTime)
    -> Result<RateDecision, StoreError>;

    /// Takes back a hit counted at `at`: the request turned out not to count (a login that
    /// succeeded, an attempt another limit refused).
    async fn release(&self, key: &str, limit: RateLimit, at: OffsetDateTime) -> Result<(), StoreError>;

    /// Marks `key` as used, remembered until `until`, atomically: of any number of claims of one
    /// key, concurrent or not, exactly one gets true. For what must work once, such as a login's
    /// `mfa_token`: a limit of one, kept for as long as the thing could still be presented, so
    /// it lives in the same short-lived keyed store as the windows.
    async fn claim_once(&self, key: &str, until: OffsetDateTime) -> Result<bool, StoreError>;

    /// Gives a claim back: what it guarded was not used after all (a wrong code with a login's
    /// `mfa_token`, which the user may retry). A key never claimed stays unclaimed.
    async fn release_claim(&self, key: &str) -> Result<(), StoreError>;

    /// Counts one hit; `Limited` when the window had no room for it (the HTTP layer answers that
    /// with 429 and Retry-After).
    async fn enforce(&self, key: &str, limit: RateLimit, now: OffsetDateTime) -> Result<(), LimitError> {
        match self.hit(key, limit, now).await? {
            RateDecision::Allowed => Ok(()),
            RateDecision::Limited { retry_after } => Err(LimitError::Limited { retry_after }),
        }
    }
}

/// Why [`RateLimiter::enforce`] did not count a hit.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// The window is full: try again after `retry_after`.
    #[error("rate limited; retry in {retry_after}")]
    Limited { retry_after: time::Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a signature could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// KMS throttled, timed out or could not be reached: worth a retry.
    #[error("signing key unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a missing grant, a disabled or deleted key, a malformed signature.
    #[error("signing failed: {0}")]
    Failed(String),
}

/// Signs JWS signing input with the private key. On AWS the key never leaves KMS.
#[async_trait]
pub trait TokenSigner: Send + Sync {
    /// The `kid` verifiers know this key by.
    fn key_id(&self) -> &str;

    /// ES256: the raw 64-byte `r || s` signature of SHA-256(message).
    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// Fixed-window arithmetic shared by every RateLimiter adapter.
pub fn rate_window(limit: RateLimit, now: OffsetDateTime) -> (i64, OffsetDateTime) {
    let seconds = limit.window.whole_seconds().max(1);
    let index = now.unix_timestamp().div_euclid(seconds);
    let ends = OffsetDateTime::from_unix_timestamp((index + 1) * seconds).unwrap_or(now);
    (index, ends)
}

use crate::domain::{Idempotency, Task, TaskId, TaskOutcome};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    Created,
    /// The same user sent this Idempotency-Key with this request before: that task stands.
    Existing(TaskId),
    /// The key was used before with a different request.
    KeyReused,
}

#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Writes a new pending task, and the idempotency record with it, atomically.
    async fn create(
        &self,
        task: &Task,
        idempotency: Option<&Idempotency>,
        now: OffsetDateTime,
    ) -> Result<Submitted, StoreError>;

    /// The task, unless absent or expired.
    async fn get(&self, id: &TaskId, now: OffsetDateTime) -> Result<Option<Task>, StoreError>;

    /// Records the outcome of a pending task. False when the task is absent or already done:
    /// a duplicate delivery writes nothing.
    async fn complete(
        &self,
        id: &TaskId,
        outcome: &TaskOutcome,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Removes a task that could not be enqueued, with its idempotency record, so no task is
    /// left pending forever.
    async fn discard(&self, task: &Task, idempotency: Option<&Idempotency>) -> Result<(), StoreError>;

    /// Pending tasks that have waited since before `before`, at most `limit`, oldest first as
    /// far as the store can tell.
    async fn stale(&self, before: OffsetDateTime, limit: usize) -> Result<Vec<TaskId>, StoreError>;

    /// Counts a re-queue of a pending task and restarts its wait, unless it is no longer
    /// pending or has been re-queued `max` times already.
    async fn requeue(&self, id: &TaskId, at: OffsetDateTime, max: u32) -> Result<Requeue, StoreError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// Counted: queue it again.
    Requeued,
    /// Done (or gone) in the meantime: nothing to do.
    NotPending,
    /// Queued `max` times and still pending: give up on it.
    Exhausted,
}

/// Why a task could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue's side, briefly (throttled, a 5xx, no answer): the same call may well succeed
    /// later, so the client is told to retry (503).
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// Refused for good (no such queue, no right to send to it): the stack's configuration, which
    /// a retry does not mend (500).
    #[error("queue refused the message: {0}")]
    Refused(String),
}

#[async_trait]
pub trait TaskQueue: Send + Sync {
    async fn enqueue(&self, id: &TaskId) -> Result<(), QueueError>;
}

/// The queue's redrive policy (`maxReceiveCount`): on the last receive, a task that still fails
/// is marked failed before its message goes to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;

/// What travels on the queue: only the id; the task itself is in the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskMessage {
    pub task_id: TaskId,
}

/// What a mailed one-time code is for; a code redeems only for its own purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    PasswordReset,
    EmailVerification,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password-reset",
            Self::EmailVerification => "email-verification",
        }
    }

    /// How many of a user's codes for this purpose work at once. Anyone may ask for a reset
    /// code for any address, so a new one must not void the mail its owner is reading: the
    /// newest three work, and the oldest is dropped when a fourth is mailed (the per-address
    /// mail limit keeps a stranger from pushing them all out faster than they expire). Only
    /// the signed-in owner asks for a verification code: the newest replaces the last.
    pub fn live_codes(self) -> usize {
        match self {
            Self::PasswordReset => 3,
            Self::EmailVerification => 1,
        }
    }
}

/// A one-time code as stored: only its hash (`stratus_auth::codes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub purpose: CodePurpose,
    pub username: Username,
    pub code_hash: [u8; 32],
    pub expires_at: OffsetDateTime,
    /// Attempts the user's live codes for the purpose survive together, right or wrong.
    pub attempts_left: u32,
}

/// One attempt at a code, counted and compared but not spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// One of the user's live codes: [`CodeStore::spend`] it to use it.
    Right,
    /// None of them: one attempt is gone (and the codes with the last one).
    Wrong,
    /// No live code: never sent, expired, spent or out of attempts. Nothing was compared.
    NoCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeemed {
    /// The code was right and live: it is spent now, with the user's other codes for the purpose.
    Accepted,
    /// A wrong code: one attempt is gone (and the codes with the last one).
    Wrong,
    /// No live code: never sent, expired, spent or out of attempts.
    NoCode,
}

#[async_trait]
pub trait CodeStore: Send + Sync {
    /// Stores the code and re-arms the attempts (`record.attempts_left`). The user's earlier live
    /// codes for the purpose keep working, up to `purpose.live_codes()` codes in all, the oldest
    /// dropped first; codes whose attempts had run out stay dead.
    async fn issue(&self, record: &CodeRecord) -> Result<(), StoreError>;

    /// Counts one attempt against the user's codes for `purpose`, then compares `code_hash` with
    /// the live ones. The count comes first, in one conditional write that needs an attempt
    /// left: of any number of concurrent attempts at most `attempts_left` are compared, and the
    /// rest are `NoCode` unread. A right code counts too, and is not spent. An expired code
    /// counts as absent.
    async fn check(
        &self,
        purpose: CodePurpose,
        username: &Username,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Checked, StoreError>;

    /// Ends every code of the user for `purpose`, if `code_hash` is still a live one of them:
    /// of concurrent spends at most one gets true.
    async fn spend(
        &self,
        purpose: CodePurpose,
        username: &Username,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// [`check`](Self::check), and [`spend`](Self::spend) when right: of two concurrent
    /// redemptions of one code at most one is `Accepted`.
    async fn redeem(
        &self,
        purpose: CodePurpose,
        username: &Username,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Redeemed, StoreError> {
        Ok(match self.check(purpose, username, code_hash, now).await? {
            Checked::Right if self.spend(purpose, username, code_hash, now).await? => Redeemed::Accepted,
            // Spent (or the codes re-issued) between the check and the spend: another request's.
            Checked::Right | Checked::NoCode => Redeemed::NoCode,
            Checked::Wrong => Redeemed::Wrong,
        })
    }
}

/// A mail to one user. `secret` is the code or link in `text`: adapters that log must mask it.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: crate::domain::Email,
    pub subject: String,
    pub text: String,
    pub secret: String,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail").field("to", &self.to).field("subject", &self.subject).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Throttled, sending paused, timed out, unreachable: worth a retry later (503, Retry-After).
    #[error("mail service unavailable: {0}")]
    Unavailable(String),
    /// This mail will not go out, and sending it again would not change that, but nothing is
    /// wrong with the request or with us: the mail service rejected the message (in SES's
    /// sandbox, any recipient not verified), the sender's MAIL FROM domain is not verified, or
    /// the stack is set to mail nobody. Logged; the client is answered as if it had gone, as
    /// docs/api.md says of mail (a 5xx would blame us for the recipient).
    #[error("mail undeliverable: {0}")]
    Undeliverable(String),
    /// Refused for a fault of ours: a missing grant, a missing configuration set, a bad request.
    #[error("mail refused: {0}")]
    Refused(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;
}

/// Where the origin guard's accepted values come from (`stratus_http::origin`): Secrets Manager
/// on AWS, fixed values in tests. Two reads, not one: a cold start waits only for the current
/// value, which is what CloudFront sends outside a rotation.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The value CloudFront is to send now.
    async fn current(&self) -> Result<String, SecretError>;
    /// The value the current one replaced, which CloudFront's edges may still send while a
    /// rotation spreads; `None` for a secret never rotated.
    async fn previous(&self) -> Result<Option<String>, SecretError>;
}

/// Why the origin secret could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretError {
    /// Throttled, a 5xx, no answer in time, no connection: a later read may well succeed.
    #[error("origin secret unavailable: {0}")]
    Unavailable(String),
    /// Anything else (no such secret, no grant, no value): a fault to fix, not to wait out.
    #[error("origin secret unreadable: {0}")]
    Failed(String),
}

/// Why a client could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum ClientWriteError {
    /// No client has the id (an update or delete of one gone meanwhile).
    #[error("no such client")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The registered OAuth clients (RFC 7591 and 7592).
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Stores a new client; ids are random, so one taken is an error of the store's.
    async fn create(&self, client: &OAuthClient) -> Result<(), StoreError>;

    async fn get(&self, id: &ClientId) -> Result<Option<OAuthClient>, StoreError>;

    /// Replaces a client's metadata whole, if it still exists.
    async fn replace(&self, client: &OAuthClient) -> Result<(), ClientWriteError>;

    /// Deletes a client; `false` if there was none.
    async fn delete(&self, id: &ClientId) -> Result<bool, StoreError>;
}

/// An authorization code as stored, by its SHA-256: everything it was issued for, so the token
/// endpoint can check the client, the redirect and the PKCE verifier against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeGrant {
    pub code_hash: [u8; 32],
    pub client_id: ClientId,
    pub redirect_uri: crate::domain::RedirectUri,
    /// The PKCE `code_challenge` (S256: base64url of SHA-256 of the verifier).
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub user_id: uuid::Uuid,
    pub username: Username,
    /// The account's session generation at authorization: a password change since voids the code.
    pub generation: uuid::Uuid,
    pub scope: Scopes,
    pub auth_time: OffsetDateTime,
    /// How the user authenticated (RFC 8176: `pwd`, `otp`).
    pub amr: Vec<String>,
    /// The refresh-token family the code's tokens belong to, chosen at issue: a second use of
    /// the code revokes it, and with it everything the first use issued.
    pub family: uuid::Uuid,
    pub expires_at: OffsetDateTime,
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// Live and unused: it is used now. Of concurrent redemptions exactly one gets this.
    Redeemed(CodeGrant),
    /// Used before: a replay, whose first tokens must be revoked.
    Reused(CodeGrant),
    /// Never issued, or expired.
    Unknown,
}

/// A browser's session at the hosted login page, by the SHA-256 of its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    pub id_hash: [u8; 32],
    pub user_id: uuid::Uuid,
    pub username: Username,
    /// The account's session generation at login: a password change since ends the session.
    pub generation: uuid::Uuid,
    pub auth_time: OffsetDateTime,
    pub amr: Vec<String>,
    /// The password was right but the account's second factor is still to come: not a session
    /// any authorization may use yet.
    pub awaiting_second_factor: bool,
    pub expires_at: OffsetDateTime,
}

/// The authorization server's state about users: codes, browser sessions and consents.
#[async_trait]
pub trait AuthorizationStore: Send + Sync {
    async fn issue_code(&self, grant: &CodeGrant) -> Result<(), StoreError>;

    /// The code's grant and whether it was used, without using it: so that everything that
    /// can fail is done before the code is spent. `None` for a code never issued, or expired.
    async fn peek_code(
        &self,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<(CodeGrant, bool)>, StoreError>;

    /// Uses the code, atomically; a used code is remembered for a while after it expires, so a
    /// late replay is still recognised.
    async fn redeem_code(
        &self,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<CodeRedemption, StoreError>;

    /// Stores a session, or replaces the one with the same id (the second factor done).
    async fn put_session(&self, session: &BrowserSession) -> Result<(), StoreError>;

    /// The live session with this id; an expired one is absent.
    async fn session(
        &self,
        id_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<BrowserSession>, StoreError>;

    async fn end_session(&self, id_hash: &[u8; 32]) -> Result<(), StoreError>;

    /// The scopes the user has consented to give the client.
    async fn consent(&self, user_id: uuid::Uuid, client_id: &ClientId) -> Result<Option<Scopes>, StoreError>;

    /// Records the user's consent to `scope` for the client (replacing an earlier one).
    async fn record_consent(
        &self,
        user_id: uuid::Uuid,
        client_id: &ClientId,
        scope: &Scopes,
    ) -> Result<(), StoreError>;
}
