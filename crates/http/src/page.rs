//! The hosted pages' HTML: server-rendered, no script, nothing from another host, framing
//! refused; and the cookies they keep (the browser session, and the CSRF token the forms echo).

use std::fmt::Write as _;

use base64::Engine;

use crate::http::{Body, HeaderValue, Request, Response, StatusCode, header, header_str};

/// The pages' only style, allowed by its hash: no other style and no script can run.
const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}\
h1{font-size:1.4rem}label{display:block;margin-top:1rem;font-weight:600}\
input{display:block;width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;margin-top:.25rem}\
button{margin-top:1.25rem;margin-right:.5rem;padding:.5rem 1.25rem;font-size:1rem}\
[role=alert]{border-left:4px solid #b00020;padding:.5rem .75rem;background:#fdecee;margin:1rem 0}\
ul{padding-left:1.25rem}";

/// `Content-Security-Policy` of every page. No `form-action`: Chromium applies it to the
/// redirect that follows a form's post too, and the redirect goes to the client's own URI.
pub fn content_security_policy() -> String {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, STYLE.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(hash.as_ref());
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page: its title, an error to announce (screen readers read `role="alert"` at once), and
/// its body (already HTML).
pub fn render(status: StatusCode, csp: &str, title: &str, error: Option<&str>, body: &str) -> Response<Body> {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body><main><h1>{title}</h1>",
        title = escape(title)
    );
    if let Some(error) = error {
        let _ = write!(html, "<p role=\"alert\" id=\"error\">{}</p>", escape(error));
    }
    html.push_str(body);
    html.push_str("</main></body></html>");
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, csp)
        .header(header::X_FRAME_OPTIONS, "DENY")
        .header(header::CACHE_CONTROL, "no-store")
        // Not `no-referrer`: under it a browser sends `Origin: null` with the forms' posts, and
        // the origin check refuses those. Other origins still see nothing of the page's URL.
        .header(header::REFERRER_POLICY, "same-origin")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(Body::Text(html))
        .expect("static parts are valid")
}

/// A `303 See Other` to `location`: after a form's post, the browser follows with a GET.
pub fn see_other(location: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Empty)
        .expect("a redirect URI is a valid header value")
}

/// The cookies of the hosted pages. On https they have the `__Host-` prefix and `Secure`, so
/// no subdomain can set them and no plain-http request carries them; local-api on plain http
/// (loopback) uses the same cookies without both, as browsers accept there.
#[derive(Debug, Clone)]
pub struct Cookies {
    secure: bool,
}

/// The browser session's cookie, and the CSRF token's.
pub const SESSION: &str = "stratus-session";
pub const CSRF: &str = "stratus-csrf";

impl Cookies {
    /// For pages served from `issuer`.
    pub fn for_issuer(issuer: &str) -> Self {
        Self { secure: issuer.starts_with("https://") }
    }

    fn name(&self, base: &str) -> String {
        if self.secure { format!("__Host-{base}") } else { base.to_owned() }
    }

    /// The value of cookie `base` the request carries.
    pub fn read<'a>(&self, request: &'a Request, base: &str) -> Option<&'a str> {
        let name = self.name(base);
        request
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(found, _)| *found == name)
            .map(|(_, value)| value)
            .filter(|value| !value.is_empty())
    }

    /// `Set-Cookie` for `base` = `value`, living `max_age` seconds (0 removes it). The session
    /// cookie is `SameSite=Lax`, so the client's redirect to /authorize carries it; the CSRF
    /// cookie is `Strict`, so no other site's form post carries it.
    pub fn set(&self, base: &str, value: &str, max_age: i64) -> HeaderValue {
        let same_site = if base == CSRF { "Strict" } else { "Lax" };
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie = format!(
            "{}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}",
            self.name(base)
        );
        HeaderValue::from_str(&cookie).expect("cookie values are base64url")
    }
}

/// The CSRF token a page's form carries: the browser's own, from its CSRF cookie (double
/// submit), or a new one that the response hands it.
pub struct CsrfToken {
    value: String,
    fresh: bool,
}

impl CsrfToken {
    /// The token for a page answering `request`.
    pub fn of(cookies: &Cookies, request: &Request) -> Self {
        match cookies.read(request, CSRF) {
            Some(value) => Self { value: value.to_owned(), fresh: false },
            None => Self { value: stratus_auth::oauth::random_token(), fresh: true },
        }
    }

    /// A form posting to `action`: the token and the `hidden` pairs as hidden inputs, then
    /// `fields`.
    pub fn form(&self, action: &str, hidden: &[(&str, &str)], fields: &str) -> String {
        let mut pairs = vec![("csrf", self.value.as_str())];
        pairs.extend_from_slice(hidden);
        format!(
            "<form method=\"post\" action=\"{}\">{}{fields}</form>",
            escape(action),
            hidden_inputs(&pairs)
        )
    }

    /// Gives a new token's cookie to the browser with `response`, to live `max_age` seconds.
    pub fn hand_out(&self, cookies: &Cookies, response: &mut Response<Body>, max_age: i64) {
        if self.fresh {
            response.headers_mut().append(header::SET_COOKIE, cookies.set(CSRF, &self.value, max_age));
        }
    }
}

/// Whether the form's CSRF field matches the CSRF cookie (double submit), in constant time.
pub fn csrf_matches(cookie: Option<&str>, field: Option<&str>) -> bool {
    match (cookie, field) {
        (Some(cookie), Some(field)) if !cookie.is_empty() => {
            aws_lc_rs::constant_time::verify_slices_are_equal(cookie.as_bytes(), field.as_bytes()).is_ok()
        }
        _ => false,
    }
}

/// The hidden inputs that carry `pairs` through a form.
pub fn hidden_inputs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| {
            format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(name), escape(value))
        })
        .collect()
}

/// The request's `Origin` when a browser sent one that is not `issuer`'s: a cross-site post.
pub fn foreign_origin<'a>(request: &'a Request, issuer: &str) -> Option<&'a str> {
    header_str(request, header::ORIGIN).filter(|origin| {
        *origin == "null"
            || !(issuer == *origin || issuer.strip_prefix(*origin).is_some_and(|path| path.starts_with('/')))
    })
}
