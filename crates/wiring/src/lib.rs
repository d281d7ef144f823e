//! How a function gets its dependencies: it asks a [`Wiring`] for the ports it needs, once per
//! cold start. On Lambda the wiring is [`aws::AwsWiring`] (SDK clients, built on first
//! request, so a function reads only its own variables and touches only its own services);
//! locally it is local-api's wiring (memory, or the local engines). A function's `build` is the
//! one place its dependencies are spelled out.

use std::future::Future;
use std::sync::Arc;

use stratus_auth::keys::{PublicKey, RsaPublicKey};
use stratus_auth::oauth::tokens::TokenRegistry;
use stratus_auth::sealing::SecretBox;
use stratus_auth::{Authenticator, TokenIssuer, TokenVerifier};
use stratus_core::clock::Clock;
use stratus_core::config::Settings;
use stratus_core::ports::{
    AuthorizationStore, ClientStore, CodeStore, Mailer, MessageStore, RateLimiter, RefreshTokenStore,
    TaskQueue, TaskStore, UserStore,
};

pub mod aws;
pub mod lambda_init;

/// Why a function could not be built: a missing or invalid setting (`ConfigError`), or a
/// dependency that could not be reached.
pub type InitError = Box<dyn std::error::Error + Send + Sync>;

pub trait Wiring: Send + Sync {
    /// The one typed settings tree, read and checked once per cold start: every call after the
    /// first answers the same tree.
    fn settings(&self) -> Result<Settings, InitError>;
    fn clock(&self) -> Arc<dyn Clock>;
    fn messages(&self) -> Result<Arc<dyn MessageStore>, InitError>;
    fn users(&self) -> Result<Arc<dyn UserStore>, InitError>;
    fn refresh_tokens(&self) -> Result<Arc<dyn RefreshTokenStore>, InitError>;
    fn rate_limiter(&self) -> Result<Arc<dyn RateLimiter>, InitError>;
    fn tasks(&self) -> Result<Arc<dyn TaskStore>, InitError>;
    fn queue(&self) -> Result<Arc<dyn TaskQueue>, InitError>;
    /// The hashes of mailed one-time codes.
    fn codes(&self) -> Result<Arc<dyn CodeStore>, InitError>;
    fn mailer(&self) -> Result<Arc<dyn Mailer>, InitError>;
    /// Seals and opens TOTP secrets. Costs nothing until first used.
    fn totp_secrets(&self) -> Result<Arc<SecretBox>, InitError>;
    /// Signs access tokens: only login and refresh ask for one.
    fn issuer(&self) -> Result<TokenIssuer, InitError>;
    /// Signs access tokens and ID tokens, RS256 as well as ES256: the OAuth token endpoint.
    fn oidc_issuer(&self) -> Result<TokenIssuer, InitError>;
    /// The registered OAuth clients.
    fn oauth_clients(&self) -> Result<Arc<dyn ClientStore>, InitError>;
    /// The OpenID Provider's codes, browser sessions and consents.
    fn authorizations(&self) -> Result<Arc<dyn AuthorizationStore>, InitError>;
    /// The RS256 public keys ID tokens may be signed with: what the JWKS publishes beside the
    /// ES256 ones.
    fn rsa_public_keys(&self) -> impl Future<Output = Result<Vec<RsaPublicKey>, InitError>> + Send;
    /// The public keys tokens may be signed with, the current one first: what the JWKS
    /// publishes and the verifiers accept.
    fn public_keys(&self) -> impl Future<Output = Result<Vec<PublicKey>, InitError>> + Send;
    /// Checks access tokens against the public signing keys.
    fn verifier(&self) -> impl Future<Output = Result<TokenVerifier, InitError>> + Send {
        async move { Ok(TokenVerifier::new(&self.public_keys().await?, &self.settings()?.auth)) }
    }
    /// Revocation's and introspection's view of clients and tokens.
    fn token_registry(&self) -> impl Future<Output = Result<TokenRegistry, InitError>> + Send {
        async move {
            Ok(TokenRegistry {
                clients: self.oauth_clients()?,
                verifier: self.verifier().await?,
                refresh_tokens: self.refresh_tokens()?,
                users: self.users()?,
                clock: self.clock(),
                session_max_lifetime: self.settings()?.auth.session_max_lifetime,
            })
        }
    }
    /// Checks a request's token and the account it speaks for (`stratus_auth::guard`).
    fn authenticator(&self) -> impl Future<Output = Result<Authenticator, InitError>> + Send {
        async move {
            let verifier = self.verifier().await?;
            Ok(Authenticator::new(verifier, self.users()?, self.refresh_tokens()?, self.clock()))
        }
    }
}
