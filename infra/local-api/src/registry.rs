//! Every HTTP function local-api serves, by route-table name, with the `build` it is made by
//! on Lambda too and its part of the OpenAPI document. make generate writes this from functions/*/function.toml: edit those, not this.

use crate::{Endpoint, InitError, LocalWiring};

/// The HTTP functions, by route-table name.
pub const HTTP_FUNCTIONS: &[&str] = &[
    "add",
    "change-password",
    "create-message",
    "delete-account",
    "docs",
    "fallback",
    "forgot-password",
    "get-message",
    "get-user",
    "health",
    "jwks",
    "list-users",
    "login",
    "login-mfa",
    "logout",
    "me",
    "refresh-token",
    "register",
    "resend-verification",
    "reset-password",
    "result",
    "totp-mfa",
    "update-user",
    "verify-email",
];

pub(crate) async fn build_function(name: &str, wiring: &LocalWiring) -> Result<Endpoint, InitError> {
    match name {
        "add" => add::build(wiring).await,
        "change-password" => change_password::build(wiring).await,
        "create-message" => create_message::build(wiring).await,
        "delete-account" => delete_account::build(wiring).await,
        "docs" => docs::build(wiring).await,
        "fallback" => fallback::build(wiring).await,
        "forgot-password" => forgot_password::build(wiring).await,
        "get-message" => get_message::build(wiring).await,
        "get-user" => get_user::build(wiring).await,
        "health" => health::build(wiring).await,
        "jwks" => jwks::build(wiring).await,
        "list-users" => list_users::build(wiring).await,
        "login" => login::build(wiring).await,
        "login-mfa" => login_mfa::build(wiring).await,
        "logout" => logout::build(wiring).await,
        "me" => me::build(wiring).await,
        "refresh-token" => refresh_token::build(wiring).await,
        "register" => register::build(wiring).await,
        "resend-verification" => resend_verification::build(wiring).await,
        "reset-password" => reset_password::build(wiring).await,
        "result" => result::build(wiring).await,
        "totp-mfa" => totp_mfa::build(wiring).await,
        "update-user" => update_user::build(wiring).await,
        "verify-email" => verify_email::build(wiring).await,
        other => Err(format!("local-api has no function {other:?}").into()),
    }
}

pub(crate) fn openapi_parts() -> Vec<utoipa::openapi::OpenApi> {
    vec![
        add::openapi(),
        change_password::openapi(),
        create_message::openapi(),
        delete_account::openapi(),
        docs::openapi(),
        fallback::openapi(),
        forgot_password::openapi(),
        get_message::openapi(),
        get_user::openapi(),
        health::openapi(),
        jwks::openapi(),
        list_users::openapi(),
        login::openapi(),
        login_mfa::openapi(),
        logout::openapi(),
        me::openapi(),
        refresh_token::openapi(),
        register::openapi(),
        resend_verification::openapi(),
        reset_password::openapi(),
        result::openapi(),
        totp_mfa::openapi(),
        update_user::openapi(),
        verify_email::openapi(),
    ]
}
