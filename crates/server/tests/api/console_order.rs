//! The console's order page and the operator's actions: confirmed, CSRF-checked, audited,
//! carried out by the domain — and refused, doing nothing, when the order changed meanwhile.

use crate::console::{add_admin, add_merchant_user, get_page, login, post_form, Signed};
use crate::helpers::{app, shop_fleet, spawn_app, TestApp};
use coffee_domain::{JobKind, SimulatedOutcome};
use coffee_test_support::fixtures::{device, drink};

/// An order of `device` paid (with `email` for the receipt) and left to the machine.
async fn paid_order(app: &TestApp, device: &str, uuid: &str, email: Option<&str>) -> String {
    let order = app.scan(device, "1", "1", uuid).await;
    let redirect: serde_json::Value = app.initiate(&order, email).await.json().await.unwrap();
    app.pay(redirect["redirect_url"].as_str().unwrap(), "pay")
        .await;
    order
}

async fn order_page(app: &TestApp, signed: &Signed, order: &str, query: &str) -> String {
    let response = get_page(
        app,
        &signed.cookie,
        &format!("/admin/orders/{order}{query}"),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.unwrap()
}

async fn act(app: &TestApp, signed: &Signed, order: &str, action: &str) -> reqwest::Response {
    post_form(
        app,
        &signed.cookie,
        &format!("/admin/orders/{order}/actions"),
        &[("csrf", &signed.csrf), ("action", action)],
    )
    .await
}

fn jobs_of_kind(app: &TestApp, order: &str, kind: JobKind) -> usize {
    app.store
        .all_jobs()
        .iter()
        .filter(|j| j.order_id.to_string() == order && j.kind == kind)
        .count()
}

/// The shop fleet with a machine that never reports back (its orders stay `make_pending`).
fn with_silent_machine() -> crate::helpers::AppBuilder {
    app(&shop_fleet()
        .device(
            device("dev-silent", "shop")
                .simulated_outcome(SimulatedOutcome::Silent)
                .dispense_deadline_seconds(3600),
        )
        .drink(drink("dev-silent", "1").name("Американо").medium(9000)))
}

#[tokio::test]
async fn an_admin_refunds_a_successful_order_after_confirming_and_the_timeline_grows() {
    let app = spawn_app().await;
    let order = paid_order(&app, "dev-1", "refund-me", None).await;
    app.wait_for_status(&order, "successful").await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    let before = order_page(&app, &signed, &order, "").await;
    assert!(before.contains("Вернуть деньги полностью"));
    let lines_before = before.matches("<li>").count();

    let confirm = order_page(&app, &signed, &order, "/confirm?action=refund").await;
    assert!(confirm.contains("Вся сумма вернётся покупателю"));
    assert!(confirm.contains("name=\"action\" value=\"refund\""));

    let done = act(&app, &signed, &order, "refund").await;
    assert_eq!(done.status().as_u16(), 303);
    assert_eq!(
        done.headers()["location"].to_str().unwrap(),
        format!("/admin/orders/{order}?result=done")
    );
    app.wait_for_payment_status(&order, "refunded").await;
    let after = order_page(&app, &signed, &order, "?result=done").await;
    assert!(after.contains("Сделано."));
    assert!(after.contains("оператор anna: полный возврат денег поставлен в очередь"));
    assert!(after.contains("консоль: anna"));
    assert!(after.contains("возвращено"));
    assert!(
        !after.contains("Вернуть деньги полностью"),
        "nothing left to refund"
    );
    assert!(after.matches("<li>").count() > lines_before);
    assert_eq!(jobs_of_kind(&app, &order, JobKind::RefundPayment), 1);
}

#[tokio::test]
async fn concurrent_refunds_refund_once_and_the_others_are_told_the_order_changed() {
    let app = spawn_app().await;
    let order = paid_order(&app, "dev-1", "twice", None).await;
    app.wait_for_status(&order, "successful").await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    let (a, b, c, d, e) = tokio::join!(
        act(&app, &signed, &order, "refund"),
        act(&app, &signed, &order, "refund"),
        act(&app, &signed, &order, "refund"),
        act(&app, &signed, &order, "refund"),
        act(&app, &signed, &order, "refund"),
    );
    let responses = [a, b, c, d, e];
    let results: Vec<String> = responses
        .iter()
        .map(|r| r.headers()["location"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        results
            .iter()
            .filter(|l| l.ends_with("result=done"))
            .count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        results
            .iter()
            .filter(|l| l.ends_with("result=refused"))
            .count(),
        4
    );
    assert_eq!(jobs_of_kind(&app, &order, JobKind::RefundPayment), 1);
    let page = order_page(&app, &signed, &order, "?result=refused").await;
    assert!(page.contains("Действие не выполнено: состояние заказа изменилось"));
}

#[tokio::test]
async fn marking_a_make_pending_order_failed_returns_the_money_like_a_machine_report() {
    let app = with_silent_machine().spawn().await;
    let order = paid_order(&app, "dev-silent", "silent-1", None).await;
    app.wait_for_status(&order, "make_pending").await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    let page = order_page(&app, &signed, &order, "").await;
    assert!(
        page.contains("Отметить: напиток выдан") && page.contains("Отметить: напиток не выдан")
    );
    assert_eq!(
        act(&app, &signed, &order, "mark_failed").await.headers()["location"]
            .to_str()
            .unwrap(),
        format!("/admin/orders/{order}?result=done")
    );
    app.wait_for_status(&order, "failed").await;
    app.wait_for_payment_status(&order, "refunded").await;
    let refused = act(&app, &signed, &order, "mark_dispensed").await;
    assert!(refused.headers()["location"]
        .to_str()
        .unwrap()
        .ends_with("result=refused"));
    let page = order_page(&app, &signed, &order, "").await;
    assert!(page.contains("оператор anna: напиток не приготовлен"));
}

#[tokio::test]
async fn marking_a_make_pending_order_dispensed_finishes_it() {
    let app = with_silent_machine().spawn().await;
    let order = paid_order(&app, "dev-silent", "silent-2", None).await;
    app.wait_for_status(&order, "make_pending").await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    act(&app, &signed, &order, "mark_dispensed").await;
    app.wait_for_status(&order, "successful").await;
}

#[tokio::test]
async fn resending_the_make_command_of_an_order_whose_fate_is_unknown_warns_sends_once_and_is_offered_once(
) {
    use coffee_domain::ports::{OrderChange, OrderRepository};
    let app = with_silent_machine().spawn().await;
    let order = paid_order(&app, "dev-silent", "lost-answer", None).await;
    app.wait_for_status(&order, "make_pending").await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    let page = order_page(&app, &signed, &order, "").await;
    assert!(
        !page.contains("Отправить команду приготовления ещё раз"),
        "a command the machine accepted is not resent"
    );
    // The command's answer was lost, as the worker records it.
    let id = coffee_domain::OrderId::parse(&order).unwrap();
    let mut lost = OrderChange::new(id);
    lost.make_outcome_unknown = true;
    app.store.apply(lost).await.unwrap();

    let page = order_page(&app, &signed, &order, "").await;
    assert!(page.contains("Отправить команду приготовления ещё раз"));
    let confirm = order_page(&app, &signed, &order, "/confirm?action=resend_make_command").await;
    assert!(confirm.contains("покупатель получит второй"));
    let (a, b, c) = tokio::join!(
        act(&app, &signed, &order, "resend_make_command"),
        act(&app, &signed, &order, "resend_make_command"),
        act(&app, &signed, &order, "resend_make_command"),
    );
    let done = [a, b, c]
        .iter()
        .filter(|r| {
            r.headers()["location"]
                .to_str()
                .unwrap()
                .ends_with("result=done")
        })
        .count();
    assert_eq!(done, 1);
    assert_eq!(jobs_of_kind(&app, &order, JobKind::ResendMakeCommand), 1);
    let mut page = String::new();
    for _ in 0..100 {
        page = order_page(&app, &signed, &order, "").await;
        if page.contains("автомат принял повторную команду приготовления")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(page.contains("оператор anna: повторная отправка команды приготовления"));
    assert!(page.contains("автомат принял повторную команду приготовления"));
    assert!(
        !page.contains("Отправить команду приготовления ещё раз"),
        "once per order"
    );
    assert_eq!(app.status(&order).await["status"], "make_pending");
}

#[tokio::test]
async fn an_action_without_the_right_csrf_token_is_forbidden_and_changes_nothing() {
    let app = spawn_app().await;
    let order = paid_order(&app, "dev-1", "csrf", None).await;
    app.wait_for_status(&order, "successful").await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    for form in [
        vec![("action", "refund")],
        vec![("csrf", "forged"), ("action", "refund")],
    ] {
        let response = post_form(
            &app,
            &signed.cookie,
            &format!("/admin/orders/{order}/actions"),
            &form,
        )
        .await;
        assert_eq!(response.status().as_u16(), 403);
    }
    assert_eq!(jobs_of_kind(&app, &order, JobKind::RefundPayment), 0);
    assert_eq!(app.status(&order).await["payment_status"], "succeeded");
}

#[tokio::test]
async fn a_merchant_user_guessing_another_merchants_order_gets_404_everywhere() {
    let app = spawn_app().await;
    let foreign = paid_order(&app, "dev-strict", "foreign", Some("ivan@example.ru")).await;
    add_merchant_user(&app, "shopkeeper", "shop").await;
    let signed = login(&app, "shopkeeper").await;
    for path in [
        format!("/admin/orders/{foreign}"),
        format!("/admin/orders/{foreign}/confirm?action=refund"),
        "/admin/orders/00000000-0000-0000-0000-000000000000".to_owned(),
        "/admin/orders/not-an-id".to_owned(),
    ] {
        let response = get_page(&app, &signed.cookie, &path).await;
        assert_eq!(response.status().as_u16(), 404, "{path}");
    }
    let post = act(&app, &signed, &foreign, "release_hold").await;
    assert_eq!(post.status().as_u16(), 404);
    assert_eq!(jobs_of_kind(&app, &foreign, JobKind::CancelPayment), 0);
}

#[tokio::test]
async fn the_receipt_contact_is_whole_for_an_admin_and_masked_for_a_merchant() {
    let app = spawn_app().await;
    let order = paid_order(&app, "dev-strict", "receipt", Some("ivan@example.ru")).await;
    add_admin(&app, "anna").await;
    add_merchant_user(&app, "strict-user", "strict").await;
    let admin = login(&app, "anna").await;
    let merchant = login(&app, "strict-user").await;
    assert!(order_page(&app, &admin, &order, "")
        .await
        .contains("ivan@example.ru"));
    let masked = order_page(&app, &merchant, &order, "").await;
    assert!(!masked.contains("ivan@example.ru"));
    assert!(masked.contains("i***@example.ru"));
}

#[tokio::test]
async fn html_in_an_order_is_escaped_on_its_page() {
    let app = spawn_app().await;
    let order = app
        .scan(
            "dev-1",
            "1",
            "1",
            "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
        )
        .await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    let page = order_page(&app, &signed, &order, "").await;
    assert!(!page.contains("<img src=x"));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
}
