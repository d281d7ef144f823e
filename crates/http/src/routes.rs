//! The route table: the one list of (method, path, function) that the local server is built
//! from and that template.yaml and the OpenAPI document are checked against.

use percent_encoding::percent_decode_str;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// API Gateway syntax: literal segments and `{name}` parameters.
    pub path: &'static str,
    /// The crate under `functions/` (and the binary) that serves the route.
    pub function: &'static str,
}

impl Route {
    /// API Gateway's route key, e.g. `GET /messages/{digest}`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

pub const ROUTES: &[Route] = &[
    Route { method: "POST", path: "/messages", function: "create-message" },
    Route { method: "GET", path: "/messages/{digest}", function: "get-message" },
    Route { method: "POST", path: "/register", function: "register" },
    Route { method: "POST", path: "/login", function: "login" },
    Route { method: "POST", path: "/login/mfa", function: "login-mfa" },
    Route { method: "POST", path: "/token/refresh", function: "refresh-token" },
    Route { method: "POST", path: "/logout", function: "logout" },
    Route { method: "GET", path: "/users/me", function: "me" },
    Route { method: "DELETE", path: "/users/me", function: "delete-account" },
    Route { method: "POST", path: "/users/me/password", function: "change-password" },
    Route { method: "POST", path: "/users/me/email/verify", function: "verify-email" },
    Route { method: "POST", path: "/users/me/email/verify/resend", function: "resend-verification" },
    Route { method: "POST", path: "/users/me/mfa/totp", function: "totp-mfa" },
    Route { method: "DELETE", path: "/users/me/mfa/totp", function: "totp-mfa" },
    Route { method: "POST", path: "/users/me/mfa/totp/confirm", function: "totp-mfa" },
    Route { method: "POST", path: "/password/forgot", function: "forgot-password" },
    Route { method: "POST", path: "/password/reset", function: "reset-password" },
    Route { method: "GET", path: "/getUserData", function: "me" },
    Route { method: "GET", path: "/users", function: "list-users" },
    Route { method: "GET", path: "/users/{username}", function: "get-user" },
    Route { method: "PATCH", path: "/users/{username}", function: "update-user" },
    Route { method: "POST", path: "/add", function: "add" },
    Route { method: "GET", path: "/result/{task_id}", function: "result" },
    Route { method: "GET", path: "/.well-known/jwks.json", function: "jwks" },
    Route { method: "GET", path: "/.well-known/openid-configuration", function: "jwks" },
    Route { method: "GET", path: "/health", function: "health" },
    Route { method: "GET", path: "/openapi.json", function: "docs" },
    Route { method: "GET", path: "/docs", function: "docs" },
    Route { method: "GET", path: "/docs/{asset}", function: "docs" },
];

/// Serves API Gateway's `$default` route: every request the table does not match.
pub const FALLBACK_FUNCTION: &str = "fallback";
pub const FALLBACK_ROUTE_KEY: &str = "$default";

#[derive(Debug, PartialEq, Eq)]
pub enum Resolution {
    Found {
        route: &'static Route,
        params: Vec<(&'static str, String)>,
    },
    /// The path exists but not with this method; carries the methods it has.
    MethodNotAllowed {
        allowed: Vec<&'static str>,
    },
    NotFound,
}

/// Matches a raw (still percent-encoded) request path against the table, as API Gateway does:
/// segment by segment, a `{name}` taking one whole non-empty segment, percent-decoded.
pub fn resolve(method: &str, raw_path: &str) -> Resolution {
    // The methods of the most literal template that matches (`/users/me` over
    // `/users/{username}`): what the path is documented to support.
    let mut allowed: Vec<(usize, &'static str)> = Vec::new();
    let mut best: Option<(&'static Route, Vec<(&'static str, String)>)> = None;
    for route in ROUTES {
        let Some(params) = match_path(route.path, raw_path) else { continue };
        if !route.method.eq_ignore_ascii_case(method) {
            allowed.push((params.len(), route.method));
            continue;
        }
        // As API Gateway does: a literal segment beats a parameter (`/users/me` before
        // `/users/{username}`), whatever the order of the table.
        if best.as_ref().is_none_or(|(_, best_params)| params.len() < best_params.len()) {
            best = Some((route, params));
        }
    }
    let fewest = allowed.iter().map(|(params, _)| *params).min();
    let mut allowed: Vec<&'static str> =
        allowed.into_iter().filter(|(params, _)| Some(*params) == fewest).map(|(_, method)| method).collect();
    allowed.dedup();
    match best {
        Some((route, params)) => Resolution::Found { route, params },
        None if allowed.is_empty() => Resolution::NotFound,
        None => Resolution::MethodNotAllowed { allowed },
    }
}

fn match_path(template: &'static str, raw_path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut wanted = template.split('/');
    let mut given = raw_path.split('/');
    let mut params = Vec::new();
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(params),
            (Some(want), Some(got)) => {
                if let Some(name) = want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                    if got.is_empty() {
                        return None;
                    }
                    params.push((name, percent_decode_str(got).decode_utf8_lossy().into_owned()));
                } else if want != got {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_literal_and_parameter_paths() {
        let Resolution::Found { route, params } = resolve("GET", "/messages/abc") else {
            panic!("expected a match")
        };
        assert_eq!(route.function, "get-message");
        assert_eq!(params, vec![("digest", "abc".to_owned())]);
        assert!(matches!(resolve("POST", "/messages"), Resolution::Found { .. }));
    }

    #[test]
    fn parameters_are_decoded_but_stay_one_segment() {
        let Resolution::Found { params, .. } = resolve("GET", "/messages/%2e%2e%2f") else {
            panic!("expected a match")
        };
        assert_eq!(params[0].1, "../");
        assert_eq!(resolve("GET", "/messages/a/b"), Resolution::NotFound);
        assert_eq!(resolve("GET", "/messages/"), Resolution::NotFound);
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        let Resolution::Found { route, .. } = resolve("GET", "/users/me") else { panic!("expected a match") };
        assert_eq!(route.function, "me");
        let Resolution::Found { route, .. } = resolve("GET", "/users/ada") else {
            panic!("expected a match")
        };
        assert_eq!(route.function, "get-user");
    }

    #[test]
    fn wrong_method_is_told_apart_from_unknown_path() {
        assert_eq!(resolve("DELETE", "/messages"), Resolution::MethodNotAllowed { allowed: vec!["POST"] });
        assert_eq!(resolve("GET", "/nowhere"), Resolution::NotFound);
    }

    #[test]
    fn allowed_methods_are_the_most_literal_templates() {
        assert_eq!(
            resolve("PUT", "/users/me"),
            Resolution::MethodNotAllowed { allowed: vec!["GET", "DELETE"] }
        );
        assert_eq!(
            resolve("PUT", "/users/ada"),
            Resolution::MethodNotAllowed { allowed: vec!["GET", "PATCH"] }
        );
    }

    #[test]
    fn table_has_no_duplicate_route_keys() {
        let mut keys: Vec<_> = ROUTES.iter().map(Route::key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), ROUTES.len());
    }
}
