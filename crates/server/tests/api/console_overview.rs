//! The console's overview and jobs pages: today's and the week's sales, machines, what needs
//! an operator; the queue and its dead jobs, retried from the console.

use crate::console::{add_admin, add_merchant_user, get_page, login, post_form};
use crate::helpers::{spawn_app, start_time, TestApp};
use chrono::Duration;
use coffee_domain::ports::{Claim, JobQueue, OrderChange, OrderRepository};
use coffee_domain::{JobKind, JobState, NewJob, OrderId};

async fn successful_order(app: &TestApp, device: &str, uuid: &str) -> String {
    let order = app.scan(device, "1", "1", uuid).await;
    let redirect: serde_json::Value = app
        .initiate(&order, Some("ivan@example.ru"))
        .await
        .json()
        .await
        .unwrap();
    app.pay(redirect["redirect_url"].as_str().unwrap(), "pay")
        .await;
    app.wait_for_status(&order, "successful").await;
    order
}

#[tokio::test]
async fn the_overview_counts_todays_sales_and_shows_the_machines() {
    let app = spawn_app().await;
    successful_order(&app, "dev-1", "sale-1").await;
    successful_order(&app, "dev-1", "sale-2").await;
    app.scan("dev-broken", "1", "1", "unpaid").await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    let page = get_page(&app, &signed.cookie, "/admin")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Заказов сегодня<b>3</b>"), "{page}");
    assert!(page.contains("Оплачено<b>2</b>"));
    assert!(page.contains("Выручка<b>300,00 ₽</b>"));
    assert!(page.contains("<svg"), "the hourly chart");
    assert!(
        page.contains("<title>13:00 — 300,00 ₽</title>"),
        "10:00 UTC is 13:00 in Moscow"
    );
    assert!(page.contains("dev-broken") && page.contains("dev-strict"));
    assert!(page.contains("в сети"));
}

#[tokio::test]
async fn a_merchant_overview_shows_only_its_own_sales_and_machines() {
    let app = spawn_app().await;
    successful_order(&app, "dev-1", "shop-sale").await;
    add_merchant_user(&app, "strict-user", "strict").await;
    let signed = login(&app, "strict-user").await;
    let page = get_page(&app, &signed.cookie, "/admin")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Заказов сегодня<b>0</b>"));
    assert!(!page.contains("dev-1<") && !page.contains(">dev-1"));
    assert!(page.contains("dev-strict"));
}

/// A job of a new order that died: claimed at its (future) time and buried.
async fn dead_job(app: &TestApp) -> (String, String) {
    let order = app.scan("dev-1", "1", "1", "dead-job").await;
    let id = OrderId::parse(&order).unwrap();
    let later = start_time() + Duration::days(1);
    let mut change = OrderChange::new(id);
    change
        .jobs
        .push(NewJob::at(JobKind::DispenseDeadline, id, later));
    app.store.apply(change).await.unwrap();
    let claimed = app
        .store
        .claim_due(Claim {
            now: later,
            limit: 10,
            lease: Duration::seconds(60),
        })
        .await
        .unwrap();
    let job = claimed
        .into_iter()
        .find(|j| j.order_id == id)
        .expect("the job");
    app.store
        .bury(&job, "machine gone <b>away</b>")
        .await
        .unwrap();
    (order, job.id.to_string())
}

#[tokio::test]
async fn a_dead_job_is_listed_with_its_error_and_retried_from_the_console() {
    let app = spawn_app().await;
    let (order, job) = dead_job(&app).await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    let jobs = get_page(&app, &signed.cookie, "/admin/jobs")
        .await
        .text()
        .await
        .unwrap();
    assert!(jobs.contains("dispense_deadline"));
    assert!(
        jobs.contains("machine gone &lt;b&gt;away&lt;&#x2F;b&gt;"),
        "{jobs}"
    );
    assert!(jobs.contains(&format!("/admin/orders/{order}/jobs/{job}/retry")));
    let overview = get_page(&app, &signed.cookie, "/admin")
        .await
        .text()
        .await
        .unwrap();
    assert!(overview.contains("machine gone"));

    let forged = post_form(
        &app,
        &signed.cookie,
        &format!("/admin/orders/{order}/jobs/{job}/retry"),
        &[("csrf", "forged")],
    )
    .await;
    assert_eq!(forged.status().as_u16(), 403);
    let retried = post_form(
        &app,
        &signed.cookie,
        &format!("/admin/orders/{order}/jobs/{job}/retry"),
        &[("csrf", &signed.csrf)],
    )
    .await;
    assert_eq!(
        retried.headers()["location"].to_str().unwrap(),
        format!("/admin/orders/{order}?result=retried")
    );
    let summary = app
        .store
        .all_jobs()
        .into_iter()
        .find(|j| j.id.to_string() == job)
        .unwrap();
    assert_ne!(summary.state, JobState::Dead);
}

#[tokio::test]
async fn the_queue_depth_is_for_admins_and_a_merchant_sees_only_its_dead_jobs() {
    let app = spawn_app().await;
    dead_job(&app).await;
    add_merchant_user(&app, "strict-user", "strict").await;
    add_merchant_user(&app, "shopkeeper", "shop").await;
    let strict = login(&app, "strict-user").await;
    let page = get_page(&app, &strict.cookie, "/admin/jobs")
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("В очереди"));
    assert!(!page.contains("dispense_deadline"));
    let shop = login(&app, "shopkeeper").await;
    let page = get_page(&app, &shop.cookie, "/admin/jobs")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("dispense_deadline"));
}

#[tokio::test]
async fn the_fleet_page_shows_the_catalogue_without_any_secret() {
    use coffee_test_support::fixtures::{device, merchant};
    let app = crate::helpers::app(
        &crate::helpers::shop_fleet()
            .merchant(merchant("yk").name("<b>Жирный</b> кофе").yookassa(
                "shop-77",
                "very-secret-key",
                1,
            ))
            .device(device("dev-yk", "yk").provider(coffee_domain::ProviderKind::Yookassa)),
    )
    .spawn()
    .await;
    add_admin(&app, "anna").await;
    add_merchant_user(&app, "strict-user", "strict").await;
    let signed = login(&app, "anna").await;
    let page = get_page(&app, &signed.cookie, "/admin/fleet")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("dev-1") && page.contains("Капучино"));
    assert!(page.contains("120,00 ₽"));
    let merchant = login(&app, "strict-user").await;
    let own = get_page(&app, &merchant.cookie, "/admin/fleet")
        .await
        .text()
        .await
        .unwrap();
    assert!(own.contains("dev-strict") && !own.contains("dev-1<"));
    assert!(!page.contains("very-secret-key"));
    assert!(page.contains("магазин shop-77, секретный ключ задан"));
    assert!(page.contains("&lt;b&gt;Жирный&lt;&#x2F;b&gt; кофе"));
}
