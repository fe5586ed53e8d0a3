//! The operator console's accounts at the HTTP edge: login, sessions, CSRF, throttling and the
//! audit trail (`docs/console.md`).

use crate::helpers::{spawn_app, TestApp};
use coffee_domain::ports::{AuditLog, AuditQuery};
use coffee_domain::{MerchantKey, Role};
use coffee_server::config::Config;
use coffee_server::console::Console;
use std::collections::HashMap;

pub const PASSWORD: &str = "кофе-без-сахара-42";

/// The console over the test app's store and clock, as the server builds it.
pub fn console_of(app: &TestApp) -> Console {
    Console {
        accounts: app.store.clone(),
        audit: app.store.clone(),
        queries: app.store.clone(),
        clock: app.clock.clone(),
        settings: Config::from_vars(&HashMap::new()).unwrap().console,
        secure_cookies: false,
    }
}

pub async fn add_admin(app: &TestApp, name: &str) {
    console_of(app)
        .add_user(name, Role::Admin, PASSWORD)
        .await
        .unwrap();
}

pub async fn add_merchant_user(app: &TestApp, name: &str, merchant: &str) {
    console_of(app)
        .add_user(
            name,
            Role::Merchant(MerchantKey::parse(merchant).unwrap()),
            PASSWORD,
        )
        .await
        .unwrap();
}

/// A signed-in browser: its session cookie and the CSRF token its pages carry.
pub struct Signed {
    pub cookie: String,
    pub csrf: String,
}

/// The value of `name="field" value="…"` in a page.
pub fn hidden_value(html: &str, field: &str) -> Option<String> {
    let marker = format!("name=\"{field}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// Opens the login form and submits it; returns the answer.
pub async fn try_login(app: &TestApp, name: &str, password: &str) -> reqwest::Response {
    let form = app.get("/admin/login").await;
    let nonce_cookie = cookie_pair(&set_cookies(&form)[0]);
    let nonce = hidden_value(&form.text().await.unwrap(), "csrf").unwrap();
    app.client
        .post(format!("{}/admin/login", app.address))
        .header("cookie", nonce_cookie)
        .form(&[
            ("csrf", nonce.as_str()),
            ("next", "/admin"),
            ("name", name),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

/// Signs in and reads the CSRF token from the overview page.
pub async fn login(app: &TestApp, name: &str) -> Signed {
    let response = try_login(app, name, PASSWORD).await;
    assert_eq!(response.status().as_u16(), 303);
    let session = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("coffee_admin="))
        .unwrap();
    let cookie = cookie_pair(&session);
    let page = get_page(app, &cookie, "/admin").await;
    assert_eq!(page.status().as_u16(), 200);
    let csrf = hidden_value(&page.text().await.unwrap(), "csrf").unwrap();
    Signed { cookie, csrf }
}

pub async fn get_page(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

pub async fn post_form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.address))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    let mut actions: Vec<String> = app
        .store
        .entries(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {}", e.actor, e.action))
        .collect();
    actions.reverse();
    actions
}

#[tokio::test]
async fn a_page_without_a_session_redirects_to_the_login_page() {
    let app = spawn_app().await;
    let response = app.get("/admin?tab=1").await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        response.headers()["location"],
        "/admin/login?next=%2Fadmin%3Ftab%3D1"
    );
    let login = app.get("/admin/login").await;
    assert_eq!(login.status().as_u16(), 200);
    let html = login.text().await.unwrap();
    assert!(html.contains("Вход в консоль"));
}

#[tokio::test]
async fn a_user_signs_in_with_a_strict_http_only_cookie_and_signs_out() {
    let app = spawn_app().await;
    add_admin(&app, "anna").await;
    let response = try_login(&app, "anna", PASSWORD).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/admin");
    let session = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("coffee_admin="))
        .unwrap();
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(session.contains("Path=/admin"), "{session}");
    assert!(!session.contains("Secure"), "plain http: {session}");

    let signed = login(&app, "anna").await;
    let overview = get_page(&app, &signed.cookie, "/admin").await;
    assert!(overview.text().await.unwrap().contains("anna"));

    let out = post_form(
        &app,
        &signed.cookie,
        "/admin/logout",
        &[("csrf", &signed.csrf)],
    )
    .await;
    assert_eq!(out.status().as_u16(), 303);
    assert_eq!(out.headers()["location"], "/admin/login");
    let after = get_page(&app, &signed.cookie, "/admin").await;
    assert_eq!(after.status().as_u16(), 303, "the session ended");
    let actions = audit_actions(&app).await;
    assert_eq!(actions, ["anna login", "anna login", "anna logout"]);
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_base_url_is_https() {
    let app = crate::helpers::app(&crate::helpers::shop_fleet())
        .var("BASE_URL", "https://pay.example.com")
        .spawn()
        .await;
    add_admin(&app, "anna").await;
    let response = try_login(&app, "anna", PASSWORD).await;
    let session = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("coffee_admin="))
        .unwrap();
    assert!(session.ends_with("; Secure"), "{session}");
}

#[tokio::test]
async fn a_wrong_password_or_unknown_name_is_refused_with_one_message_and_audited() {
    let app = spawn_app().await;
    add_admin(&app, "anna").await;
    for (name, password) in [("anna", "wrong password"), ("nobody", PASSWORD)] {
        let response = try_login(&app, name, password).await;
        assert_eq!(response.status().as_u16(), 401);
        assert!(set_cookies(&response)
            .iter()
            .all(|c| !c.starts_with("coffee_admin=")));
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("Неверное имя или пароль."));
    }
    assert_eq!(
        audit_actions(&app).await,
        ["anna login_failed", "nobody login_failed"]
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_account_out_even_with_the_right_password() {
    let app = spawn_app().await;
    add_admin(&app, "anna").await;
    for _ in 0..5 {
        let response = try_login(&app, "anna", "wrong password").await;
        assert_eq!(response.status().as_u16(), 401);
    }
    let locked = try_login(&app, "anna", PASSWORD).await;
    assert_eq!(locked.status().as_u16(), 429);
    let html = locked.text().await.unwrap();
    assert!(html.contains("Вход временно заблокирован"), "{html}");
    assert!(html.contains("через 15 мин."), "{html}");
    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(
        try_login(&app, "anna", PASSWORD).await.status().as_u16(),
        303
    );
    assert!(audit_actions(&app)
        .await
        .contains(&"anna login_locked_out".to_owned()));
}

#[tokio::test]
async fn many_failures_from_one_address_lock_that_address_out() {
    let app = crate::helpers::app(&crate::helpers::shop_fleet())
        .var("ADMIN_LOGIN_MAX_FAILURES_PER_IP", "3")
        .spawn()
        .await;
    add_admin(&app, "anna").await;
    for name in ["a1", "a2", "a3"] {
        assert_eq!(try_login(&app, name, "x").await.status().as_u16(), 401);
    }
    assert_eq!(
        try_login(&app, "anna", PASSWORD).await.status().as_u16(),
        429
    );
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in_and_loses_their_session() {
    let app = spawn_app().await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    console_of(&app).disable_user("anna").await.unwrap();
    assert_eq!(
        get_page(&app, &signed.cookie, "/admin")
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(
        try_login(&app, "anna", PASSWORD).await.status().as_u16(),
        401
    );
}

#[tokio::test]
async fn an_idle_session_expires_and_the_login_page_says_so() {
    let app = spawn_app().await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    app.clock.advance(chrono::Duration::hours(7));
    assert_eq!(
        get_page(&app, &signed.cookie, "/admin")
            .await
            .status()
            .as_u16(),
        200,
        "seven idle hours are within the default eight"
    );
    app.clock
        .advance(chrono::Duration::hours(8) + chrono::Duration::minutes(1));
    let expired = get_page(&app, &signed.cookie, "/admin").await;
    assert_eq!(expired.status().as_u16(), 303);
    let location = expired.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.ends_with("&expired=1"), "{location}");
    let page = app.get(&location).await.text().await.unwrap();
    assert!(page.contains("Сессия истекла"));
}

#[tokio::test]
async fn logout_without_the_right_csrf_token_is_forbidden_and_keeps_the_session() {
    let app = spawn_app().await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    for form in [vec![], vec![("csrf", "forged")]] {
        let response = post_form(&app, &signed.cookie, "/admin/logout", &form).await;
        assert_eq!(response.status().as_u16(), 403);
    }
    assert_eq!(
        get_page(&app, &signed.cookie, "/admin")
            .await
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn a_login_form_not_from_our_page_is_forbidden() {
    let app = spawn_app().await;
    add_admin(&app, "anna").await;
    let response = app
        .client
        .post(format!("{}/admin/login", app.address))
        .form(&[("csrf", "x"), ("name", "anna"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
}

#[tokio::test]
async fn login_goes_back_only_to_console_paths() {
    let app = spawn_app().await;
    add_admin(&app, "anna").await;
    let form = app.get("/admin/login?next=//evil.example").await;
    let html = form.text().await.unwrap();
    assert!(
        html.contains("name=\"next\" value=\"&#x2F;admin\""),
        "{html}"
    );
}

#[tokio::test]
async fn html_in_a_tried_name_is_escaped_on_the_login_page() {
    let app = spawn_app().await;
    let response = try_login(&app, "<script>alert(1)</script>", "x").await;
    let html = response.text().await.unwrap();
    assert!(!html.contains("<script>alert(1)"));
    assert!(html.contains("&lt;script&gt;"));
}
