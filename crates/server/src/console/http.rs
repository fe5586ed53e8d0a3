//! The console at the HTTP edge: the session cookie, and the extractors that turn a request
//! into a [`Caller`] — [`Operator`] for pages (no session: to the login page) and
//! [`ApiCaller`] for the JSON API (no valid bearer token: 401).

use super::{auth, Caller, Console};
use crate::edge::ClientAddr;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use std::future::Future;
use std::pin::Pin;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "coffee_admin";
/// The login form's nonce cookie (double submit: the form carries the same value).
pub const LOGIN_COOKIE: &str = "coffee_admin_login";

/// Why a console request is refused before its handler runs; mapped to HTTP in
/// `crate::error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A page without a valid session: to the login page, back to `next` afterwards.
    #[error("no session")]
    NoSession { next: String, expired: bool },
    /// The JSON API without a valid bearer token.
    #[error("no valid API token")]
    Unauthorized,
    /// A state-changing form without the session's CSRF token.
    #[error("missing or wrong CSRF token")]
    Csrf,
    /// The accounts store cannot be reached.
    #[error("accounts unavailable")]
    Unavailable,
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Strict, only under `/admin`, Secure on
/// https. No `Max-Age`: the idle timeout ends it on the server.
pub fn session_cookie(token: &str, secure: bool) -> String {
    cookie(SESSION_COOKIE, token, secure, None)
}

/// `Set-Cookie` that removes a cookie.
pub fn removed_cookie(name: &str, secure: bool) -> String {
    cookie(name, "", secure, Some(0))
}

/// `Set-Cookie` for the login form's nonce (10 minutes).
pub fn login_cookie(nonce: &str, secure: bool) -> String {
    cookie(LOGIN_COOKIE, nonce, secure, Some(600))
}

fn cookie(name: &str, value: &str, secure: bool, max_age: Option<u32>) -> String {
    let mut text = format!("{name}={value}; Path=/admin; HttpOnly; SameSite=Strict");
    if let Some(seconds) = max_age {
        text.push_str(&format!("; Max-Age={seconds}"));
    }
    if secure {
        text.push_str("; Secure");
    }
    text
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie_value(request: &HttpRequest, name: &str) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

fn client_ip(request: &HttpRequest) -> Option<String> {
    ClientAddr::of(request).0.map(|ip| ip.to_string())
}

fn console_of(request: &HttpRequest) -> Result<web::Data<Console>, Rejection> {
    request
        .app_data::<web::Data<Console>>()
        .cloned()
        .ok_or(Rejection::Unavailable)
}

/// Checks a form's CSRF token against the caller's session. API tokens carry no CSRF token
/// and need none (no browser sends them by itself).
pub fn check_csrf(caller: &Caller, submitted: &str) -> Result<(), Rejection> {
    match &caller.session {
        Some(keys) if auth::same_secret(&keys.csrf, submitted) => Ok(()),
        Some(_) => Err(Rejection::Csrf),
        None => Ok(()),
    }
}

/// A signed-in user, for the console's pages.
#[derive(Debug, Clone)]
pub struct Operator(pub Caller);

impl FromRequest for Operator {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Rejection>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let console = console_of(&request)?;
            let next = match request.query_string() {
                "" => request.path().to_owned(),
                query => format!("{}?{query}", request.path()),
            };
            let Some(token) = cookie_value(&request, SESSION_COOKIE) else {
                return Err(Rejection::NoSession {
                    next,
                    expired: false,
                });
            };
            match console.caller_of_session(&token, client_ip(&request)).await {
                Ok(Some(caller)) => Ok(Operator(caller)),
                Ok(None) => Err(Rejection::NoSession {
                    next,
                    expired: true,
                }),
                Err(error) => {
                    tracing::error!(%error, "console session lookup failed");
                    Err(Rejection::Unavailable)
                }
            }
        })
    }
}

/// A caller of the JSON API: `Authorization: Bearer <API token>`.
#[derive(Debug, Clone)]
pub struct ApiCaller(pub Caller);

impl FromRequest for ApiCaller {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Rejection>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let console = console_of(&request)?;
            let bearer = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|token| !token.is_empty())
                .map(str::to_owned);
            let Some(token) = bearer else {
                return Err(Rejection::Unauthorized);
            };
            match console.caller_of_token(&token, client_ip(&request)).await {
                Ok(Some(caller)) => Ok(ApiCaller(caller)),
                Ok(None) => Err(Rejection::Unauthorized),
                Err(error) => {
                    tracing::error!(%error, "API token lookup failed");
                    Err(Rejection::Unavailable)
                }
            }
        })
    }
}
