//! The one middleware every request passes: it finds who is asking (session cookie, or
//! the single-sign-on proxy's header from the proxy's address only), refuses any
//! state-changing request that comes from another origin or lacks the session's CSRF token,
//! and sets the security headers on every response. Handlers never repeat these checks.

use std::net::SocketAddr;

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::{clean_name, same_secret, Identity, Session, COOKIE};
use super::Shared;

/// A form may be this large (the templates are a few KB; a mail's text for teaching less).
pub(super) const MAX_FORM: usize = 512 * 1024;

/// No inline script or style, nothing from elsewhere, no framing, forms only to us.
pub(super) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(super) async fn guard(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let token = cookie(&parts.headers, COOKIE);
    let mut session = token.as_deref().and_then(|t| state.sessions.get(t));
    let mut token = session.as_ref().and(token);
    let mut new_cookie = None;

    // Single sign-on: the proxy's header names the user, from the proxy's address only.
    if let Some(proxy) = &state.settings.proxy {
        let named = (peer.ip() == proxy.from)
            .then(|| parts.headers.get(proxy.header.as_str()))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(clean_name);
        if let Some(name) = named {
            if session.as_ref().and_then(|s| s.user.as_deref()) != Some(name.as_str()) {
                if let Some(t) = &token {
                    state.sessions.remove(t);
                }
                let (t, s) = state.sessions.create(Some(name));
                new_cookie = Some(t.clone());
                token = Some(t);
                session = Some(s);
            }
        }
    }
    // The login form needs a session for its CSRF token before anyone has signed in.
    if session.is_none() && parts.uri.path() == "/login" && parts.method == Method::GET {
        let (t, s) = state.sessions.create(None);
        new_cookie = Some(t.clone());
        token = Some(t);
        session = Some(s);
    }

    let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let body = if unsafe_method {
        if !same_origin(&parts.headers) {
            return refuse(
                StatusCode::FORBIDDEN,
                "refused: the request came from another site",
            );
        }
        let Ok(bytes) = to_bytes(body, MAX_FORM).await else {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "refused: the form is too large",
            );
        };
        let sent = form_field(&bytes, "csrf");
        let expected = session.as_ref().map(|s: &Session| s.csrf.as_str());
        match (sent, expected) {
            (Some(sent), Some(expected)) if same_secret(&sent, expected) => {}
            _ => {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "refused: the form had expired or did not come from this console; reload the page and try again",
                )
            }
        }
        Body::from(bytes)
    } else {
        body
    };
    parts.extensions.insert(Identity {
        token,
        session,
        peer: peer.ip(),
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if let Some(t) = new_cookie {
        set_cookie(response.headers_mut(), &state, &t);
    }
    secure_headers(response.headers_mut(), &state);
    response
}

fn refuse(status: StatusCode, message: &'static str) -> Response {
    let mut r = (status, message).into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    r
}

/// `Set-Cookie` for a session token.
pub(super) fn set_cookie(headers: &mut HeaderMap, state: &Shared, token: &str) {
    let secure = if state.settings.tls.is_some() || state.settings.proxy.is_some() {
        "; Secure"
    } else {
        ""
    };
    let value = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}");
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.append(header::SET_COOKIE, v);
    }
}

/// A `Set-Cookie` that ends the session cookie.
pub(super) fn clear_cookie(headers: &mut HeaderMap) {
    let value = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.append(header::SET_COOKIE, v);
    }
}

fn secure_headers(h: &mut HeaderMap, state: &Shared) {
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    // Not no-referrer: with it Chromium sends `Origin: null` on our own form posts, which
    // the origin check must refuse. same-origin sends nothing to other sites either.
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::CACHE_CONTROL, "no-store");
    set(
        h,
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    if state.settings.tls.is_some() {
        set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    }
}

/// A cookie's value from the `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Did this request come from a page of ours? The `Origin` header, when the browser sends
/// it, must name the host the request was sent to; without one, the browser's
/// `Sec-Fetch-Site` (when sent) must not say another site.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) => {
            let authority = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
        }
        Some(Err(_)) => false,
        None => !matches!(
            headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
            Some("cross-site" | "same-site")
        ),
    }
}

/// One field of a URL-encoded form (`+` a space, `%XX` a byte, bad UTF-8 replaced), as
/// axum's `Form` reads it.
pub(super) fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_decode() {
        let body = b"text=Hej+med%20dig%21&csrf=abc123&x=%zz";
        assert_eq!(form_field(body, "csrf").as_deref(), Some("abc123"));
        assert_eq!(form_field(body, "text").as_deref(), Some("Hej med dig!"));
        assert_eq!(form_field(body, "x").as_deref(), Some("%zz"));
        assert_eq!(form_field(body, "none"), None);
        assert_eq!(form_field(b"%", "%").as_deref(), Some(""));
    }

    #[test]
    fn only_our_own_origin_may_post() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8025"));
        assert!(
            same_origin(&h),
            "no Origin, no Sec-Fetch-Site: an old browser or curl"
        );
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8025"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; autosvar_session=tok; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("tok"));
    }
}
