//! The console's order list: filters, search, keyset pages, CSV export, and a merchant
//! account kept to its own merchant's orders.

use crate::console::{add_admin, add_merchant_user, get_page, login, Signed};
use crate::helpers::{spawn_app, TestApp};
use coffee_domain::ports::{AuditLog, AuditQuery};

async fn list(app: &TestApp, signed: &Signed, query: &str) -> String {
    let response = get_page(app, &signed.cookie, &format!("/admin/orders{query}")).await;
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.unwrap()
}

#[tokio::test]
async fn an_admin_finds_an_order_by_its_machine_uuid() {
    let app = spawn_app().await;
    let wanted = app.scan("dev-1", "1", "1", "machine-uuid-7").await;
    let other = app.scan("dev-1", "1", "1", "machine-uuid-8").await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    let all = list(&app, &signed, "").await;
    assert!(all.contains(&wanted[..8]) && all.contains(&other[..8]));
    let found = list(&app, &signed, "?q=machine-uuid-7").await;
    assert!(
        found.contains(&format!("/admin/orders/{wanted}")),
        "{found}"
    );
    assert!(!found.contains(&format!("/admin/orders/{other}")));
    let by_id = list(&app, &signed, &format!("?q={other}")).await;
    assert!(by_id.contains(&format!("/admin/orders/{other}")));
    assert!(!by_id.contains(&format!("/admin/orders/{wanted}")));
}

#[tokio::test]
async fn the_list_filters_by_status_device_and_needs_operator() {
    let app = spawn_app().await;
    let created = app.scan("dev-1", "1", "1", "u-1").await;
    let strict = app.scan("dev-strict", "1", "1", "u-2").await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    let on_strict = list(&app, &signed, "?device=dev-strict").await;
    assert!(on_strict.contains(&strict) && !on_strict.contains(&created));
    let paid = list(&app, &signed, "?status=paid").await;
    assert!(paid.contains("Заказов не найдено"));
    let flagged = list(&app, &signed, "?attention=1").await;
    assert!(flagged.contains("Заказов не найдено"));
    let bad = list(&app, &signed, "?status=nonsense").await;
    assert!(bad.contains("Фильтр не применён: неизвестный статус"));
    assert!(bad.contains(&created));
}

#[tokio::test]
async fn a_merchant_user_sees_only_its_merchants_orders_whatever_it_asks() {
    let app = spawn_app().await;
    let own = app.scan("dev-1", "1", "1", "u-own").await;
    let foreign = app.scan("dev-strict", "1", "1", "u-foreign").await;
    add_merchant_user(&app, "shopkeeper", "shop").await;
    let signed = login(&app, "shopkeeper").await;
    for query in ["", "?merchant=strict", "?device=dev-strict", "?q=u-foreign"] {
        let page = list(&app, &signed, query).await;
        assert!(!page.contains(&foreign), "{query}");
    }
    assert!(list(&app, &signed, "").await.contains(&own));
    let csv = get_page(&app, &signed.cookie, "/admin/orders.csv?merchant=strict")
        .await
        .text()
        .await
        .unwrap();
    assert!(!csv.contains(&foreign));
}

#[tokio::test]
async fn pages_continue_after_the_last_order_shown() {
    let app = spawn_app().await;
    for n in 0..53 {
        app.scan("dev-1", "1", "1", &format!("page-{n:02}")).await;
        app.clock.advance(chrono::Duration::seconds(1));
    }
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    let first = list(&app, &signed, "?device=dev-1").await;
    assert_eq!(
        first.matches("<tr>").count() - 1,
        50,
        "a header and 50 rows"
    );
    assert!(first.contains("page-52") && !first.contains("page-02"));
    let end = first.find("\">Дальше").unwrap();
    let start = first[..end].rfind("href=\"").unwrap() + "href=\"".len();
    let next = first[start..end]
        .replace("&amp;", "&")
        .replace("&#x2F;", "/");
    assert!(
        next.starts_with("/admin/orders?device=dev-1&after="),
        "{next}"
    );
    let second = list(&app, &signed, next.trim_start_matches("/admin/orders")).await;
    for n in 0..3 {
        assert!(second.contains(&format!("page-0{n}")));
    }
    assert!(!second.contains("page-03"));
    assert!(!second.contains("Дальше"));
}

#[tokio::test]
async fn the_csv_export_lists_the_filtered_orders_and_is_audited() {
    let app = spawn_app().await;
    let order = app.scan("dev-1", "1", "1", "=HYPERLINK(1)").await;
    app.scan("dev-strict", "1", "1", "other").await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    let response = get_page(&app, &signed.cookie, "/admin/orders.csv?device=dev-1").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("created_at,order_id,machine_order_id"));
    assert!(lines[1].contains(&order));
    assert!(
        lines[1].contains(",'=HYPERLINK(1),"),
        "never a formula: {csv}"
    );
    assert!(lines[1].contains(",150.00,"), "{csv}");
    let audit = app
        .store
        .entries(&AuditQuery {
            actor: Some("anna".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(audit[0].action, "orders_export");
    assert_eq!(audit[0].detail, "device=dev-1");
}

#[tokio::test]
async fn html_in_an_order_is_escaped_in_the_list() {
    let app = spawn_app().await;
    app.scan("dev-1", "1", "1", "%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        .await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    let page = list(&app, &signed, "").await;
    assert!(!page.contains("<script>alert(1)"));
    assert!(page.contains("&lt;script&gt;alert(1)"));
}

#[tokio::test]
async fn the_order_list_needs_a_session() {
    let app = spawn_app().await;
    let response = app.get("/admin/orders.csv").await;
    assert_eq!(response.status().as_u16(), 303);
}
