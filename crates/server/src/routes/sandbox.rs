//! The sandbox provider's checkout page (demo and tests only).

use super::{html_failure, redirect};
use crate::error;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use coffee_adapter_sandbox::SandboxAction;
use coffee_domain::ports::ProviderPaymentStatus;
use coffee_domain::ProviderKind;
use serde::Serialize;

#[derive(Serialize)]
struct CheckoutPage {
    payment_id: String,
    description: String,
    amount: String,
    status: &'static str,
    open: bool,
    return_url: String,
}

pub async fn checkout_page(state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    let Some(payment) = state.sandbox.as_ref().and_then(|s| s.payment(&path)) else {
        return html_failure(&state, error::NOT_FOUND);
    };
    let status = match payment.status {
        ProviderPaymentStatus::Pending => "ожидает оплаты",
        ProviderPaymentStatus::WaitingForCapture => "деньги удержаны",
        ProviderPaymentStatus::Succeeded if payment.refunded => "возвращён",
        ProviderPaymentStatus::Succeeded => "оплачен",
        ProviderPaymentStatus::Canceled => "отменён",
        ProviderPaymentStatus::Refunded => "возвращён",
        ProviderPaymentStatus::Other(_) => "неизвестно",
    };
    let page = CheckoutPage {
        payment_id: payment.id.clone(),
        description: payment.description.clone(),
        amount: payment.amount.to_display_rub(),
        status,
        open: payment.status == ProviderPaymentStatus::Pending,
        return_url: format!("/v1/order-status-page?order_id={}", payment.order_id),
    };
    match state.pages.render("sandbox_checkout.html", &page) {
        Ok(html) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(render_error) => {
            tracing::error!(order.id = %payment.order_id, error = %render_error, "sandbox page failed to render");
            html_failure(&state, error::SERVICE_UNAVAILABLE)
        }
    }
}

/// The customer pays, cancels or is declined; the provider's notification then takes the same
/// verify → re-fetch → apply path as a real provider's webhook.
pub async fn act(state: web::Data<AppState>, path: web::Path<(String, String)>) -> HttpResponse {
    let (payment_id, action) = path.into_inner();
    let action = match action.as_str() {
        "pay" => SandboxAction::Pay,
        "cancel" => SandboxAction::Cancel,
        "fail" => SandboxAction::Fail,
        _ => return html_failure(&state, error::NOT_FOUND),
    };
    let Some(sandbox) = state.sandbox.as_ref() else {
        return html_failure(&state, error::NOT_FOUND);
    };
    let Some(payment) = sandbox.payment(&payment_id) else {
        return html_failure(&state, error::NOT_FOUND);
    };
    let notification = match sandbox.act(&payment_id, action) {
        Ok(notification) => notification,
        Err(_) => return html_failure(&state, error::NOT_FOUND),
    };
    match state
        .settlement
        .handle_notification(ProviderKind::Sandbox, &notification)
        .await
    {
        Ok(outcome) => {
            tracing::info!(order.id = %payment.order_id, ?outcome, "sandbox notification handled");
            redirect(
                StatusCode::SEE_OTHER,
                &format!("/v1/order-status-page?order_id={}", payment.order_id),
            )
        }
        Err(settlement_error) => {
            tracing::error!(order.id = %payment.order_id, error = %settlement_error, "sandbox notification failed");
            html_failure(&state, error::SERVICE_UNAVAILABLE)
        }
    }
}
