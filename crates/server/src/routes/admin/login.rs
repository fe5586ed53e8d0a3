//! `/admin/login` and `/admin/logout`.

use super::{page_with_status, CallerView};
use crate::console::http::{
    check_csrf, cookie_value, login_cookie, removed_cookie, session_cookie, Operator, Rejection,
    LOGIN_COOKIE, SESSION_COOKIE,
};
use crate::console::{auth, Console, LoginError};
use crate::edge::ClientAddr;
use crate::pages::texts;
use crate::state::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

#[derive(Serialize)]
struct LoginPage<'a> {
    caller: Option<CallerView>,
    nonce: &'a str,
    next: &'a str,
    name: &'a str,
    message: Option<String>,
}

/// Where to go after login: only a path inside the console, never another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with("/admin")
                && !path.starts_with("/admin/login")
                && !path.contains("//")
                && !path.contains('\\') =>
        {
            path
        }
        _ => "/admin",
    }
}

fn login_form(
    state: &AppState,
    console: &Console,
    status: StatusCode,
    next: &str,
    name: &str,
    message: Option<String>,
) -> HttpResponse {
    let nonce = auth::new_token();
    let mut response = page_with_status(
        state,
        status,
        "admin/login.html",
        &LoginPage {
            caller: None,
            nonce: &nonce,
            next,
            name,
            message,
        },
    );
    if let Ok(value) = header::HeaderValue::from_str(&login_cookie(&nonce, console.secure_cookies))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /admin/login`: the form (with a nonce cookie against login CSRF).
pub async fn login_page(
    state: web::Data<AppState>,
    console: web::Data<Console>,
    query: web::Query<LoginQuery>,
) -> HttpResponse {
    let message = query
        .expired
        .is_some()
        .then(|| texts::CONSOLE_SESSION_EXPIRED.to_owned());
    let next = safe_next(query.next.as_deref());
    login_form(&state, &console, StatusCode::OK, next, "", message)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// `POST /admin/login`: checks the nonce, the throttle and the password; a success sets the
/// session cookie and goes on to `next`.
pub async fn login(
    request: HttpRequest,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, Rejection> {
    let form = form.into_inner();
    let nonce = cookie_value(&request, LOGIN_COOKIE).unwrap_or_default();
    if nonce.is_empty() || !auth::same_secret(&nonce, &form.csrf) {
        return Err(Rejection::Csrf);
    }
    let ip = ClientAddr::of(&request).0.map(|ip| ip.to_string());
    let next = safe_next(Some(&form.next));
    match console.login(form.name.trim(), &form.password, ip).await {
        Ok((session, _user)) => {
            let secure = console.secure_cookies;
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, next))
                .append_header((header::SET_COOKIE, session_cookie(&session.token, secure)))
                .append_header((header::SET_COOKIE, removed_cookie(LOGIN_COOKIE, secure)))
                .finish())
        }
        Err(LoginError::LockedOut) => Ok(login_form(
            &state,
            &console,
            StatusCode::TOO_MANY_REQUESTS,
            next,
            &form.name,
            Some(format!(
                "{} (через {} мин.).",
                texts::CONSOLE_LOCKED_OUT,
                console.settings.lockout_minutes
            )),
        )),
        Err(LoginError::WrongCredentials) => Ok(login_form(
            &state,
            &console,
            StatusCode::UNAUTHORIZED,
            next,
            &form.name,
            Some(texts::CONSOLE_WRONG_CREDENTIALS.to_owned()),
        )),
        Err(LoginError::Storage(error)) => {
            tracing::error!(%error, "console login failed");
            Err(Rejection::Unavailable)
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /admin/logout`: ends the session and removes the cookie.
pub async fn logout(
    Operator(caller): Operator,
    console: web::Data<Console>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, Rejection> {
    check_csrf(&caller, &form.csrf)?;
    console.logout(&caller).await.map_err(|error| {
        tracing::error!(%error, "console logout failed");
        Rejection::Unavailable
    })?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/admin/login"))
        .append_header((
            header::SET_COOKIE,
            removed_cookie(SESSION_COOKIE, console.secure_cookies),
        ))
        .finish())
}
