//! The route table. make generate writes this from functions/*/function.toml: edit those, not this.

use super::Route;

/// Every (method, path) API Gateway routes to a function, in the functions' order.
pub const ROUTES: &[Route] = &[
    Route { method: "POST", path: "/add", function: "add" },
    Route { method: "GET", path: "/authorize", function: "authorize" },
    Route { method: "POST", path: "/authorize", function: "authorize" },
    Route { method: "POST", path: "/users/me/password", function: "change-password" },
    Route { method: "POST", path: "/messages", function: "create-message" },
    Route { method: "DELETE", path: "/users/me", function: "delete-account" },
    Route { method: "GET", path: "/openapi.json", function: "docs" },
    Route { method: "GET", path: "/docs", function: "docs" },
    Route { method: "GET", path: "/docs/{asset}", function: "docs" },
    Route { method: "GET", path: "/oauth/logout", function: "end-session" },
    Route { method: "POST", path: "/oauth/logout", function: "end-session" },
    Route { method: "POST", path: "/password/forgot", function: "forgot-password" },
    Route { method: "GET", path: "/messages/{digest}", function: "get-message" },
    Route { method: "GET", path: "/users/{username}", function: "get-user" },
    Route { method: "GET", path: "/health", function: "health" },
    Route { method: "GET", path: "/.well-known/jwks.json", function: "jwks" },
    Route { method: "GET", path: "/.well-known/openid-configuration", function: "jwks" },
    Route { method: "GET", path: "/.well-known/oauth-authorization-server", function: "jwks" },
    Route { method: "GET", path: "/users", function: "list-users" },
    Route { method: "POST", path: "/login", function: "login" },
    Route { method: "POST", path: "/login/mfa", function: "login-mfa" },
    Route { method: "POST", path: "/logout", function: "logout" },
    Route { method: "GET", path: "/users/me", function: "me" },
    Route { method: "GET", path: "/getUserData", function: "me" },
    Route { method: "POST", path: "/oauth/clients", function: "oauth-clients" },
    Route { method: "GET", path: "/oauth/clients/{client_id}", function: "oauth-clients" },
    Route { method: "PUT", path: "/oauth/clients/{client_id}", function: "oauth-clients" },
    Route { method: "DELETE", path: "/oauth/clients/{client_id}", function: "oauth-clients" },
    Route { method: "POST", path: "/oauth/introspect", function: "oauth-introspect" },
    Route { method: "POST", path: "/oauth/revoke", function: "oauth-revoke" },
    Route { method: "POST", path: "/oauth/token", function: "oauth-token" },
    Route { method: "POST", path: "/token/refresh", function: "refresh-token" },
    Route { method: "POST", path: "/register", function: "register" },
    Route { method: "POST", path: "/users/me/email/verify/resend", function: "resend-verification" },
    Route { method: "POST", path: "/password/reset", function: "reset-password" },
    Route { method: "GET", path: "/result/{task_id}", function: "result" },
    Route { method: "POST", path: "/users/me/mfa/totp", function: "totp-mfa" },
    Route { method: "POST", path: "/users/me/mfa/totp/confirm", function: "totp-mfa" },
    Route { method: "DELETE", path: "/users/me/mfa/totp", function: "totp-mfa" },
    Route { method: "PATCH", path: "/users/{username}", function: "update-user" },
    Route { method: "GET", path: "/oauth/userinfo", function: "userinfo" },
    Route { method: "POST", path: "/oauth/userinfo", function: "userinfo" },
    Route { method: "POST", path: "/users/me/email/verify", function: "verify-email" },
];

/// Serves API Gateway's `$default` route: every request the table does not match.
pub const FALLBACK_FUNCTION: &str = "fallback";

/// Functions no HTTP route reaches (a queue consumer, a schedule, a custom resource).
pub const NON_HTTP_FUNCTIONS: &[&str] = &["signing-keys", "sweeper", "worker"];
