//! The customer's flow: QR scan → order page → payment.

use super::{device_html_failure, html_failure, json_failure, redirect};
use crate::error::{self, Failure};
use crate::pages::{OrderPage, OrderStatusJson};
use crate::state::AppState;
use crate::urls;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use coffee_domain::services::checkout::{
    OrderView, PaymentRequest, RawScan, ScanError, ScanOutcome,
};
use coffee_domain::{Branding, DeviceUuid, OrderId, PaymentMethod};
use serde::Deserialize;
use std::collections::HashMap;

/// `GET /v1/pay` (and its aliases): the QR code's URL. Extra parameters are ignored.
#[utoipa::path(get, path = "/v1/pay", tag = "customer",
    params(
        ("deviceUuid" = String, Query, description = "the machine's id"),
        ("drinkNo" = String, Query, description = "the drink's number at the machine"),
        ("size" = String, Query, description = "`0` small, `1` medium, `2` big"),
        ("uuid" = String, Query, description = "the machine's order id, 1–255 characters; the same again finds the same order"),
        ("drinkName" = String, Query, description = "the QR's text; never shown"),
    ),
    responses(
        (status = 302, description = "to the order page, or a `custom` device's own system (`Location`)"),
        (status = 400, description = "a parameter missing or invalid (Russian HTML page)"),
        (status = 403, description = "the merchant's subscription ended"),
        (status = 404, description = "unknown device, drink or size"),
        (status = 429, description = "too many scans from this client or for this machine (`Retry-After`)"),
        (status = 503, description = "machine offline, price unknown or storage down"),
    ))]
pub async fn scan(
    state: web::Data<AppState>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let query = query.into_inner();
    let raw = RawScan {
        device_uuid: query.get("deviceUuid").cloned(),
        drink_no: query.get("drinkNo").cloned(),
        size: query.get("size").cloned(),
        machine_order_id: query.get("uuid").cloned(),
        drink_name: query.get("drinkName").cloned(),
    };
    match state.checkout.start_order(raw).await {
        Ok(ScanOutcome::Order(order)) => {
            redirect(StatusCode::FOUND, &urls::order_page_path(order.id))
        }
        Ok(ScanOutcome::External {
            order,
            redirect_url,
            merchant,
        }) => redirect(
            StatusCode::FOUND,
            &urls::custom_redirect(&redirect_url, &order, &merchant),
        ),
        Err(scan_error) => {
            let failure = Failure::from(&scan_error);
            let device = query.get("deviceUuid").map(String::as_str).unwrap_or("");
            if failure.is_server_side() {
                tracing::error!(device, error = %scan_error, "scan failed");
            } else {
                tracing::info!(device, error = %scan_error, "scan refused");
            }
            let branding = if concerns_known_device(&scan_error) {
                device_branding(&state, device).await
            } else {
                None
            };
            device_html_failure(&state, failure, branding.as_ref())
        }
    }
}

/// Whether the scan failed at a device we know (offline, merchant expired, drink not sold …),
/// so its error page may carry the device's own text.
fn concerns_known_device(error: &ScanError) -> bool {
    match error {
        ScanError::MerchantExpired
        | ScanError::DeviceOffline
        | ScanError::HeartbeatCheckFailed(_)
        | ScanError::PriceUnavailable(_)
        | ScanError::UnknownDrink
        | ScanError::SizeNotSold
        | ScanError::Misconfigured(_) => true,
        ScanError::MissingParameter(_)
        | ScanError::InvalidParameter(_)
        | ScanError::UnknownDevice
        | ScanError::Storage(_) => false,
    }
}

/// The device's branding; none when it cannot be read (the page is shown without it).
async fn device_branding(state: &AppState, device: &str) -> Option<Branding> {
    let id = DeviceUuid::parse(device).ok()?;
    match state.catalog.device(&id).await {
        Ok(found) => found.map(|d| d.branding),
        Err(error) => {
            tracing::warn!(device, %error, "error page without the device's text");
            None
        }
    }
}

#[derive(Deserialize)]
pub struct OrderQuery {
    order_id: Option<String>,
}

/// `GET /v1/order-status-page?order_id=…`: the order page.
#[utoipa::path(get, path = "/v1/order-status-page", tag = "customer",
    params(("order_id" = String, Query, description = "our order's UUID")),
    responses(
        (status = 200, description = "the order page (Russian HTML)", content_type = "text/html"),
        (status = 400, description = "no `order_id`"),
        (status = 404, description = "unknown order"),
    ))]
pub async fn order_page(state: web::Data<AppState>, query: web::Query<OrderQuery>) -> HttpResponse {
    let Some(raw) = query.order_id.as_deref().filter(|s| !s.trim().is_empty()) else {
        return html_failure(&state, error::MISSING_ORDER_ID);
    };
    match state.checkout.view_by_reference(raw.trim()).await {
        Ok(Some(view)) => render_view(&state, &view, StatusCode::OK, None),
        Ok(None) => html_failure(&state, error::ORDER_NOT_FOUND),
        Err(error) => {
            tracing::error!(%error, "order page: storage unavailable");
            html_failure(&state, error::SERVICE_UNAVAILABLE)
        }
    }
}

async fn render_order_page(
    state: &AppState,
    order_id: OrderId,
    status: StatusCode,
    form: Option<(String, &'static str)>,
) -> HttpResponse {
    match state.checkout.view(order_id).await {
        Ok(Some(view)) => render_view(state, &view, status, form),
        Ok(None) => html_failure(state, error::ORDER_NOT_FOUND),
        Err(error) => {
            tracing::error!(order.id = %order_id, %error, "order page: storage unavailable");
            html_failure(state, error::SERVICE_UNAVAILABLE)
        }
    }
}

fn render_view(
    state: &AppState,
    view: &OrderView,
    status: StatusCode,
    form: Option<(String, &'static str)>,
) -> HttpResponse {
    let mut page = OrderPage::new(view, state.clock.now());
    if let Some((contact, message)) = form {
        page.contact = contact;
        page.form_error = message.to_owned();
    }
    match state.pages.render("order.html", &page) {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(error) => {
            tracing::error!(order.id = %view.order.id, %error, "order page failed to render");
            html_failure(state, error::SERVICE_UNAVAILABLE)
        }
    }
}

/// The longest a status request waits for a change (below proxies' usual 60 s).
const MAX_STATUS_WAIT_SECONDS: u64 = 25;

/// How often a waiting status request reads the order again: a change committed by another
/// replica rings no bell here.
const STATUS_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// `GET /v1/order-status/{order_id}?status=…&wait=…`: optionally, wait for a change.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct StatusWait {
    /// The status the caller already shows: with `wait`, the answer comes when the order
    /// has left it.
    status: Option<String>,
    /// The payment status the caller already shows (optional): with `wait`, a change of it
    /// answers too — the money of a failed order coming back, say.
    payment_status: Option<String>,
    /// Seconds to wait for the order to leave `status` (at most 25; 0 or absent: answer at
    /// once). The answer is the order as it is then, changed or not.
    wait: Option<u64>,
}

/// `GET /v1/order-status/{order_id}`: the order as JSON, for the page's live status.
#[utoipa::path(get, path = "/v1/order-status/{order_id}", tag = "customer",
    params(("order_id" = String, Path, description = "our order's UUID"), StatusWait),
    responses(
        (status = 200, description = "the order as the page shows it", body = OrderStatusJson),
        (status = 404, description = "unknown order", body = crate::openapi::ApiError),
        (status = 503, description = "storage unavailable", body = crate::openapi::ApiError),
    ))]
pub async fn order_status(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<StatusWait>,
) -> HttpResponse {
    let Ok(order_id) = OrderId::parse(&path) else {
        return json_failure(error::ORDER_NOT_FOUND);
    };
    let wait = query.wait.unwrap_or(0).min(MAX_STATUS_WAIT_SECONDS);
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
    // Held while waiting, so a change committed between a read and the wait still wakes us.
    let bell = (wait > 0 && query.status.is_some()).then(|| state.order_bells.bell(order_id));
    loop {
        let rung = bell.as_ref().map(|bell| bell.notified());
        tokio::pin!(rung);
        if let Some(rung) = rung.as_mut().as_pin_mut() {
            rung.enable();
        }
        let view = match state.checkout.view(order_id).await {
            Ok(Some(view)) => view,
            Ok(None) => return json_failure(error::ORDER_NOT_FOUND),
            Err(error) => {
                tracing::error!(order.id = %order_id, %error, "order status: storage unavailable");
                return json_failure(error::SERVICE_UNAVAILABLE);
            }
        };
        let json = OrderStatusJson::new(&view, state.clock.now());
        let unchanged = query.status.as_deref() == Some(json.status.as_str())
            && query
                .payment_status
                .as_deref()
                .is_none_or(|known| known == json.payment_status);
        let now = tokio::time::Instant::now();
        match rung.as_mut().as_pin_mut() {
            Some(rung) if unchanged && now < until => {
                let _ = tokio::time::timeout((until - now).min(STATUS_RECHECK), rung).await;
            }
            _ => {
                return HttpResponse::Ok()
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .json(json)
            }
        }
    }
}

/// The body of `POST /v1/initiate-payment`, as JSON or as the page's form.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct InitiatePaymentBody {
    order_id: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    /// The page's single field: an email when it has `@`, else a phone number.
    contact: Option<String>,
    /// `card` (the default) or `sbp` (T-Bank merchants with SBP switched on; else 422
    /// `method_unavailable`). The page's form sends it as the pressed button's value.
    method: Option<String>,
}

/// Where to send the customer to pay.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PaymentRedirectJson {
    /// The provider's (or the sandbox's) checkout page; for SBP our order page, which shows
    /// the QR code.
    pub redirect_url: String,
    /// `card` or `sbp`.
    pub method: &'static str,
    /// SBP only: the payload (an NSPK link) the QR code encodes; a bank's app opens it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbp_payload: Option<String>,
}

/// `POST /v1/initiate-payment`: JSON in → `{redirect_url}` out; the page's form (without
/// JavaScript) → 303 to the provider, or the page again with the problem shown.
#[utoipa::path(post, path = "/v1/initiate-payment", tag = "customer",
    request_body(content = InitiatePaymentBody, description = "JSON, or the order page's form (`application/x-www-form-urlencoded`)"),
    responses(
        (status = 200, description = "the payment to complete; a second call returns the same live payment", body = PaymentRedirectJson),
        (status = 303, description = "the page's form: to the provider"),
        (status = 400, description = "not a request", body = crate::openapi::ApiError),
        (status = 404, description = "unknown order", body = crate::openapi::ApiError),
        (status = 409, description = "the order cannot be paid (paid, expired, ended)", body = crate::openapi::ApiError),
        (status = 422, description = "receipt contact required or invalid, or `method_unavailable` (SBP on a machine without it)", body = crate::openapi::ApiError),
        (status = 429, description = "too many requests, or too many payments waiting on this machine", body = crate::openapi::ApiError),
        (status = 502, description = "the provider refused the payment; the order stays payable", body = crate::openapi::ApiError),
        (status = 503, description = "provider or storage unavailable", body = crate::openapi::ApiError),
    ))]
pub async fn initiate_payment(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let is_form = crate::edge::is_form(&request);
    let parsed: Option<InitiatePaymentBody> = if is_form {
        serde_urlencoded_body(&body)
    } else {
        serde_json::from_slice(&body).ok()
    };
    // Parsed: the extractor's buffer (8 KiB, whatever the body's size) is not kept through
    // the provider's call.
    drop(body);
    let Some(parsed) = parsed else {
        return respond(&state, is_form, None, error::INVALID_REQUEST).await;
    };
    let Some(raw_id) = parsed.order_id.as_deref().filter(|s| !s.trim().is_empty()) else {
        return respond(&state, is_form, None, error::MISSING_ORDER_ID).await;
    };
    let Ok(order_id) = OrderId::parse(raw_id) else {
        return respond(&state, is_form, None, error::ORDER_NOT_FOUND).await;
    };
    let method = match parsed.method.as_deref().map(str::trim) {
        None | Some("") => PaymentMethod::Card,
        Some(raw) => match PaymentMethod::parse(raw) {
            Some(method) => method,
            None => return respond(&state, is_form, None, error::INVALID_REQUEST).await,
        },
    };
    let contact = parsed.contact.clone().unwrap_or_default();
    let (email, phone) = match parsed
        .contact
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(c) if c.contains('@') => (Some(c.to_owned()), parsed.phone),
        Some(c) => (parsed.email, Some(c.to_owned())),
        None => (parsed.email, parsed.phone),
    };
    match state
        .checkout
        .initiate_payment(PaymentRequest {
            order_id,
            email,
            phone,
            return_url: urls::order_page_url(&state.base_url, order_id),
            method,
        })
        .await
    {
        // SBP is paid from our own page (its QR code), so the customer goes back there.
        Ok(redirect_to) if is_form => match redirect_to.method {
            PaymentMethod::Card => redirect(StatusCode::SEE_OTHER, &redirect_to.redirect_url),
            PaymentMethod::Sbp => redirect(StatusCode::SEE_OTHER, &urls::order_page_path(order_id)),
        },
        Ok(redirect_to) => HttpResponse::Ok().json(match redirect_to.method {
            PaymentMethod::Card => PaymentRedirectJson {
                redirect_url: redirect_to.redirect_url,
                method: PaymentMethod::Card.as_str(),
                sbp_payload: None,
            },
            PaymentMethod::Sbp => PaymentRedirectJson {
                redirect_url: urls::order_page_url(&state.base_url, order_id),
                method: PaymentMethod::Sbp.as_str(),
                sbp_payload: Some(redirect_to.redirect_url),
            },
        }),
        Err(initiate_error) => {
            let failure = Failure::from(&initiate_error);
            if failure.is_server_side() {
                tracing::error!(order.id = %order_id, error = %initiate_error, "payment not started");
            } else {
                tracing::info!(order.id = %order_id, error = %initiate_error, "payment refused");
            }
            respond(&state, is_form, Some((order_id, contact)), failure).await
        }
    }
}

async fn respond(
    state: &AppState,
    is_form: bool,
    order: Option<(OrderId, String)>,
    failure: Failure,
) -> HttpResponse {
    match (is_form, order) {
        (false, _) => json_failure(failure),
        (true, Some((order_id, contact))) if failure.status != StatusCode::NOT_FOUND => {
            render_order_page(
                state,
                order_id,
                failure.status,
                Some((contact, failure.message)),
            )
            .await
        }
        (true, _) => html_failure(state, failure),
    }
}

fn serde_urlencoded_body(body: &[u8]) -> Option<InitiatePaymentBody> {
    let pairs: HashMap<String, String> =
        web::Query::<HashMap<String, String>>::from_query(std::str::from_utf8(body).ok()?)
            .ok()?
            .into_inner();
    Some(InitiatePaymentBody {
        order_id: pairs.get("order_id").cloned(),
        email: pairs.get("email").cloned(),
        phone: pairs.get("phone").cloned(),
        contact: pairs.get("contact").cloned(),
        method: pairs.get("method").cloned(),
    })
}
