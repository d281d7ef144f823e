//! The route table: the one list of (method, path, function) that the local server is built
//! from and that template.yaml and the OpenAPI document are checked against. The list itself
//! (`table.rs`) is written by `make generate` from the functions' descriptions. A crate of its
//! own, on nothing of ours: a new route rebuilds only what reads the table (fallback, local-api).

use std::collections::HashMap;
use std::sync::LazyLock;

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
    for route in candidates(raw_path) {
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

/// The routes a path can match: those whose first segment is the path's, and those whose first
/// segment is a parameter. local-api resolves every request, and trying each of the table's
/// routes in turn was a measurable part of a request's time there (BENCHMARKS.md).
fn candidates(raw_path: &str) -> impl Iterator<Item = &'static Route> {
    static BY_FIRST_SEGMENT: LazyLock<HashMap<&'static str, Vec<&'static Route>>> = LazyLock::new(|| {
        let mut index: HashMap<&'static str, Vec<&'static Route>> = HashMap::new();
        for route in ROUTES.iter().filter(|route| !is_parameter(first_segment(route.path))) {
            index.entry(first_segment(route.path)).or_default().push(route);
        }
        index
    });
    static PARAMETER_FIRST: LazyLock<Vec<&'static Route>> =
        LazyLock::new(|| ROUTES.iter().filter(|route| is_parameter(first_segment(route.path))).collect());
    let literal = BY_FIRST_SEGMENT.get(first_segment(raw_path)).map(Vec::as_slice).unwrap_or_default();
    literal.iter().chain(PARAMETER_FIRST.iter()).copied()
}

/// `messages` for `/messages/abc`; empty for `/` or a path without a leading slash.
fn first_segment(path: &str) -> &str {
    path.split('/').nth(1).unwrap_or_default()
}

fn is_parameter(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
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
    fn the_index_finds_what_a_scan_of_the_table_finds() {
        // Every route, by a path made from its template, and paths near them: the index must
        // give what trying every route gives.
        let scan = |method: &str, path: &str| {
            ROUTES
                .iter()
                .filter(|route| {
                    route.method.eq_ignore_ascii_case(method) && match_path(route.path, path).is_some()
                })
                .map(|route| route.function)
                .collect::<std::collections::BTreeSet<_>>()
        };
        for route in ROUTES {
            let path = route
                .path
                .split('/')
                .map(|segment| if is_parameter(segment) { "x" } else { segment })
                .collect::<Vec<_>>()
                .join("/");
            for probe in [path.clone(), format!("{path}/more"), path.to_uppercase()] {
                let indexed: std::collections::BTreeSet<&str> = candidates(&probe)
                    .filter(|r| {
                        r.method.eq_ignore_ascii_case(route.method) && match_path(r.path, &probe).is_some()
                    })
                    .map(|r| r.function)
                    .collect();
                assert_eq!(indexed, scan(route.method, &probe), "{} {probe}", route.method);
            }
        }
        assert_eq!(resolve("GET", ""), Resolution::NotFound);
        assert_eq!(resolve("GET", "/"), Resolution::NotFound);
        assert_eq!(resolve("GET", "health"), Resolution::NotFound);
    }

    #[test]
    fn table_has_no_duplicate_route_keys() {
        let mut keys: Vec<_> = ROUTES.iter().map(Route::key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), ROUTES.len());
    }
}
