//! The route table: the one list of (method, path, function) that the local server is built
//! from and that template.yaml and the OpenAPI document are checked against. The list itself
//! (`table.rs`) is written by `make generate` from the functions' descriptions. A crate of its
//! own, on nothing of ours: a new route rebuilds only what reads the table (fallback, local-api).

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

mod table;
pub use table::{FALLBACK_FUNCTION, NON_HTTP_FUNCTIONS, ROUTES};

/// API Gateway's route key for what no route matches (served by [`FALLBACK_FUNCTION`]).
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
    // In one order whatever the table's: an `Allow` header does not change with it.
    allowed.sort_by_key(|method| METHOD_ORDER.iter().position(|m| m.eq_ignore_ascii_case(method)));
    allowed.dedup();
    match best {
        Some((route, params)) => Resolution::Found { route, params },
        None if allowed.is_empty() => Resolution::NotFound,
        None => Resolution::MethodNotAllowed { allowed },
    }
}

/// The order `Allow` lists methods in: reads before writes.
const METHOD_ORDER: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

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
