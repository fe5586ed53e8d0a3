//! Customer-facing pages and texts (Russian). Templates live in the top-level `templates/`
//! folder and are compiled into the binary, so `coffee-pay` runs from any directory.

use chrono::{DateTime, FixedOffset, Utc};
use coffee_domain::services::checkout::OrderView;
use coffee_domain::{
    Branding, FailureReason, OrderStatus, PaymentMethod, PaymentState, ReceiptPolicy,
};
use serde::Serialize;
use tera::{Context, Tera};

const TEMPLATES: [(&str, &str); 17] = [
    (
        "admin/fleet_merchant.html",
        include_str!("../../../templates/admin/fleet_merchant.html"),
    ),
    (
        "admin/fleet_device.html",
        include_str!("../../../templates/admin/fleet_device.html"),
    ),
    (
        "admin/fleet_drink.html",
        include_str!("../../../templates/admin/fleet_drink.html"),
    ),
    (
        "admin/fleet_switch.html",
        include_str!("../../../templates/admin/fleet_switch.html"),
    ),
    (
        "admin/fleet.html",
        include_str!("../../../templates/admin/fleet.html"),
    ),
    (
        "admin/jobs.html",
        include_str!("../../../templates/admin/jobs.html"),
    ),
    (
        "admin/order.html",
        include_str!("../../../templates/admin/order.html"),
    ),
    (
        "admin/confirm.html",
        include_str!("../../../templates/admin/confirm.html"),
    ),
    (
        "admin/orders.html",
        include_str!("../../../templates/admin/orders.html"),
    ),
    (
        "admin/base.html",
        include_str!("../../../templates/admin/base.html"),
    ),
    (
        "admin/login.html",
        include_str!("../../../templates/admin/login.html"),
    ),
    (
        "admin/overview.html",
        include_str!("../../../templates/admin/overview.html"),
    ),
    ("demo.html", include_str!("../../../templates/demo.html")),
    ("base.html", include_str!("../../../templates/base.html")),
    ("error.html", include_str!("../../../templates/error.html")),
    ("order.html", include_str!("../../../templates/order.html")),
    (
        "sandbox_checkout.html",
        include_str!("../../../templates/sandbox_checkout.html"),
    ),
];

/// Customer-facing error texts (kept from the original's copy).
pub mod texts {
    pub const ORDER_NOT_FOUND: &str = "Заказ не найден. Пожалуйста, отсканируйте QR-код снова.";
    pub const ORDER_EXPIRED: &str = "Время заказа истекло. Пожалуйста, создайте новый заказ.";
    pub const ORDER_NOT_PAYABLE: &str = "Этот заказ уже нельзя оплатить.";
    pub const PAYMENT_CREATION_FAILED: &str =
        "Не удалось создать платеж. Пожалуйста, попробуйте позже.";
    pub const SERVICE_UNAVAILABLE: &str =
        "Сервис временно недоступен. Пожалуйста, попробуйте позже.";
    pub const INVALID_REQUEST: &str = "Некорректный запрос. Пожалуйста, попробуйте снова.";
    pub const MISSING_CREDENTIALS: &str =
        "Платежная система не настроена. Обратитесь к администратору.";
    pub const MISSING_ORDER_ID: &str =
        "Отсутствует идентификатор заказа. Пожалуйста, попробуйте снова.";
    pub const MISSING_PARAMETERS: &str =
        "Отсутствуют обязательные параметры запроса. Пожалуйста, отсканируйте QR-код снова.";
    pub const INVALID_PARAMETERS: &str =
        "Некорректный QR-код. Пожалуйста, отсканируйте QR-код снова.";
    pub const DEVICE_NOT_FOUND: &str =
        "Устройство не найдено. Пожалуйста, обратитесь к администратору.";
    pub const MERCHANT_EXPIRED: &str =
        "Доступ к устройству запрещен. Пожалуйста, обратитесь к администратору.";
    pub const DEVICE_OFFLINE: &str =
        "Автомат не в сети. Пожалуйста, попробуйте другой автомат или обратитесь к администратору.";
    pub const HEARTBEAT_CHECK_FAILED: &str =
        "Не удалось проверить статус автомата. Пожалуйста, попробуйте позже.";
    pub const PRICE_UNAVAILABLE: &str =
        "Не удалось узнать цену напитка. Пожалуйста, попробуйте позже.";
    pub const DRINK_NOT_FOUND: &str =
        "Этот напиток не продаётся на автомате. Пожалуйста, выберите другой.";
    pub const SIZE_NOT_SOLD: &str =
        "Этот размер напитка не продаётся. Пожалуйста, выберите другой.";
    pub const INVALID_EMAIL: &str =
        "Некорректный формат email. Пожалуйста, введите корректный email.";
    pub const INVALID_PHONE: &str =
        "Некорректный номер телефона. Введите номер в формате +79001234567.";
    pub const METHOD_UNAVAILABLE: &str =
        "Этот способ оплаты недоступен на этом автомате. Пожалуйста, оплатите картой.";
    pub const CONTACT_REQUIRED: &str = "Email или телефон обязателен для получения чека.";
    pub const PAYMENT_FAILED_RETRY: &str =
        "Оплата не прошла, деньги не списаны. Можно повторить оплату.";
    pub const TOO_MANY_PENDING_PAYMENTS: &str =
        "Сейчас на этом автомате слишком много неоплаченных заказов. Попробуйте через несколько минут.";
    pub const NOT_FOUND: &str = "Страница не найдена.";
    pub const METHOD_NOT_ALLOWED: &str = "Этот адрес не принимает такой запрос.";
    pub const PAYLOAD_TOO_LARGE: &str = "Слишком большой запрос.";
    pub const CONSOLE_UNAUTHORIZED: &str = "Нужно войти в консоль.";
    pub const CONSOLE_CSRF: &str =
        "Форма устарела или отправлена не со страницы консоли. Откройте страницу заново.";
    pub const CONSOLE_FORBIDDEN: &str = "Недостаточно прав.";
    pub const CONSOLE_LOCKED_OUT: &str =
        "Слишком много неудачных попыток входа. Вход временно заблокирован, попробуйте позже";
    pub const CONSOLE_WRONG_CREDENTIALS: &str = "Неверное имя или пароль.";
    pub const CONSOLE_SESSION_EXPIRED: &str = "Сессия истекла. Войдите снова.";
    pub const TOO_MANY_REQUESTS: &str =
        "Слишком много запросов. Пожалуйста, подождите немного и попробуйте снова.";
}

pub struct Pages {
    tera: Tera,
}

#[derive(Debug, thiserror::Error)]
#[error("template error: {0}")]
pub struct PageError(#[from] tera::Error);

impl Pages {
    pub fn load() -> Result<Self, PageError> {
        let mut tera = Tera::default();
        tera.register_filter("linkify", crate::linkify::linkify_filter);
        tera.add_raw_templates(TEMPLATES.to_vec())?;
        Ok(Self { tera })
    }

    pub fn render<T: Serialize>(&self, template: &str, data: &T) -> Result<String, PageError> {
        Ok(self
            .tera
            .render(template, &Context::from_serialize(data)?)?)
    }

    /// The friendly error page; falls back to plain text if rendering itself fails.
    pub fn error(&self, status_code: u16, message: &str) -> String {
        self.device_error(status_code, message, None)
    }

    /// The error page about a known device: with the device's own error text (e.g. its
    /// support phone) when it has one.
    pub fn device_error(
        &self,
        status_code: u16,
        message: &str,
        branding: Option<&Branding>,
    ) -> String {
        #[derive(Serialize)]
        struct ErrorPage<'a> {
            status_code: u16,
            message: &'a str,
            /// Plain text; the template links and escapes it.
            client_error_info: Option<&'a str>,
        }
        self.render(
            "error.html",
            &ErrorPage {
                status_code,
                message,
                client_error_info: branding.and_then(|b| b.client_error_info.as_deref()),
            },
        )
        .unwrap_or_else(|_| format!("{status_code}: {message}"))
    }
}

/// The JSON of `GET /v1/order-status/{id}`; the page renders the same data.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderStatusJson {
    pub order_id: String,
    /// `created`, `pending`, `paid`, `make_pending`, `successful`, `not_paid` or `failed`.
    #[schema(value_type = String)]
    pub status: OrderStatus,
    pub drink_name: String,
    pub size: &'static str,
    pub price: i64,
    pub expires_at: String,
    pub receipt_required: bool,
    pub payment_status: &'static str,
    /// The live payment's form, or for SBP its payload (an NSPK link a bank's app opens).
    pub payment_url: Option<String>,
    /// `card` or `sbp`; null before the first payment.
    pub payment_method: Option<&'static str>,
    pub failure_reason: Option<&'static str>,
    /// What the page says (Russian): the device's own text for the status when it has one
    /// (plain text, may hold line breaks), else ours.
    pub message: String,
    pub terminal: bool,
}

impl OrderStatusJson {
    pub fn new(view: &OrderView, now: DateTime<Utc>) -> Self {
        let order = &view.order;
        let payment_url = view
            .payment
            .as_ref()
            .filter(|p| {
                p.state == PaymentState::Pending
                    && order.status == OrderStatus::Pending
                    && !order.is_expired_at(now)
            })
            .map(|p| p.confirmation_url.clone());
        Self {
            order_id: order.id.to_string(),
            status: order.status,
            drink_name: order.drink_name.clone(),
            size: order.size.as_str(),
            price: order.price.kopecks(),
            expires_at: order.expires_at.to_rfc3339(),
            receipt_required: view.receipt_policy == ReceiptPolicy::Required,
            payment_status: view.payment.as_ref().map_or("none", |p| p.state.as_str()),
            payment_url,
            payment_method: view.payment.as_ref().map(|p| p.method().as_str()),
            failure_reason: order.failure_reason.map(FailureReason::as_str),
            message: status_message(view, now),
            terminal: order.status.is_terminal(),
        }
    }
}

/// What the order page says in each situation: the device's own text for the status when it
/// has one — except while a `created` order is expired or after a failed attempt, where ours
/// says what to do — and, for a failed or unpaid order, what becomes of the money after it.
pub fn status_message(view: &OrderView, now: DateTime<Utc>) -> String {
    let order = &view.order;
    let money = view.payment.as_ref().map(|p| p.state);
    let own = view
        .device
        .as_ref()
        .and_then(|d| d.branding.status_text(order.status));
    match (order.status, own) {
        (OrderStatus::Created, _) if order.is_expired_at(now) || failed_attempt(order) => {}
        (OrderStatus::Failed | OrderStatus::NotPaid, Some(text)) => {
            return format!("{text}\n{}", money_note(money));
        }
        (_, Some(text)) => return text.to_owned(),
        (_, None) => {}
    }
    match order.status {
        OrderStatus::Created if order.is_expired_at(now) => texts::ORDER_EXPIRED.into(),
        OrderStatus::Created if failed_attempt(order) => texts::PAYMENT_FAILED_RETRY.into(),
        OrderStatus::Created => "Оплатите заказ, и автомат приготовит напиток.".into(),
        OrderStatus::Pending => "Проверяем оплату заказа...".into(),
        OrderStatus::Paid => "Заказ оплачен, начинаем готовить.".into(),
        OrderStatus::MakePending => "Готовим напиток...".into(),
        OrderStatus::Successful => "Готово! Заберите напиток.".into(),
        OrderStatus::NotPaid => match order.failure_reason {
            Some(FailureReason::PaidAfterExpiry) => {
                format!(
                    "Оплата поступила после истечения времени заказа, напиток не готовится. {}",
                    money_note(money)
                )
            }
            Some(FailureReason::Expired) => "Время заказа истекло, оплата не поступила.".into(),
            _ => "Оплата не прошла. Деньги не списаны.".into(),
        },
        OrderStatus::Failed => match order.failure_reason {
            Some(FailureReason::PaymentRejected) => {
                "Не удалось создать платеж. Деньги не списаны.".into()
            }
            _ => format!("Не удалось приготовить напиток. {}", money_note(money)),
        },
    }
}

/// The last payment attempt was refused or canceled; the order is still payable.
fn failed_attempt(order: &coffee_domain::Order) -> bool {
    matches!(
        order.failure_reason,
        Some(FailureReason::PaymentRejected | FailureReason::PaymentCanceled)
    )
}

fn money_note(money: Option<PaymentState>) -> &'static str {
    match money {
        Some(PaymentState::Refunded) => "Деньги возвращены.",
        Some(PaymentState::RefundPending | PaymentState::Succeeded) => {
            "Деньги будут возвращены в ближайшее время."
        }
        Some(PaymentState::Authorized) => {
            "Удержанные деньги будут разблокированы в ближайшее время."
        }
        Some(PaymentState::Canceled) => "Деньги не списаны: удержание снято.",
        Some(PaymentState::Pending) | None => "Деньги не списаны.",
    }
}

/// The tone of the status box.
pub fn tone(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Successful => "ok",
        OrderStatus::NotPaid | OrderStatus::Failed => "bad",
        OrderStatus::Pending | OrderStatus::Paid | OrderStatus::MakePending => "wait",
        OrderStatus::Created => "",
    }
}

/// Times on pages are Moscow time, where the machines are.
pub fn moscow_time(at: DateTime<Utc>) -> String {
    match FixedOffset::east_opt(3 * 3600) {
        Some(msk) => at.with_timezone(&msk).format("%H:%M").to_string(),
        None => at.format("%H:%M UTC").to_string(),
    }
}

/// The order page's data.
#[derive(Debug, Serialize)]
pub struct OrderPage {
    #[serde(flatten)]
    pub json: OrderStatusJson,
    pub location: String,
    pub size_label: &'static str,
    pub price_display: String,
    pub tone: &'static str,
    pub can_pay: bool,
    /// The last attempt failed: the button says «Повторить оплату».
    pub retry: bool,
    pub receipt_policy: ReceiptPolicy,
    pub expires_display: String,
    pub minutes_left: i64,
    pub contact: String,
    pub form_error: String,
    /// «Оплатить через СБП» next to the card button.
    pub sbp_available: bool,
    /// The live SBP payment's payload as an inline SVG QR code (drawn here, so the page needs
    /// no script and no image from elsewhere).
    pub sbp_qr: Option<String>,
    /// The device's logo (an http(s) URL).
    pub logo_url: Option<String>,
    /// The device's text for its customers: plain text, linked and escaped by the template.
    pub client_info: Option<String>,
}

impl OrderPage {
    pub fn new(view: &OrderView, now: DateTime<Utc>) -> Self {
        let order = &view.order;
        Self {
            json: OrderStatusJson::new(view, now),
            location: view
                .device
                .as_ref()
                .map(|d| d.location.clone())
                .unwrap_or_default(),
            size_label: order.size.label_ru(),
            price_display: order.price.to_display_rub(),
            tone: tone(order.status),
            can_pay: order.status == OrderStatus::Created && !order.is_expired_at(now),
            retry: failed_attempt(order),
            receipt_policy: view.receipt_policy,
            expires_display: moscow_time(order.expires_at),
            minutes_left: (order.expires_at - now).num_minutes().max(0),
            contact: String::new(),
            form_error: String::new(),
            sbp_available: view.sbp_available,
            sbp_qr: None,
            logo_url: view
                .device
                .as_ref()
                .and_then(|d| d.branding.logo_url.clone()),
            client_info: view
                .device
                .as_ref()
                .and_then(|d| d.branding.client_info.clone()),
        }
        .with_sbp_qr(view)
    }

    fn with_sbp_qr(mut self, view: &OrderView) -> Self {
        let live_sbp = view
            .payment
            .as_ref()
            .is_some_and(|p| p.method() == PaymentMethod::Sbp);
        if live_sbp {
            self.sbp_qr = self.json.payment_url.as_deref().and_then(qr_svg);
        }
        self
    }
}

/// `payload` as an SVG QR code, without the XML declaration so it can sit inside the page.
/// Colours are presentation attributes, not `style`, so the Content-Security-Policy holds.
pub fn qr_svg(payload: &str) -> Option<String> {
    let code = match qrcode::QrCode::new(payload.as_bytes()) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(%error, "SBP payload does not fit a QR code");
            return None;
        }
    };
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    svg.find("<svg").map(|start| svg[start..].to_owned())
}
