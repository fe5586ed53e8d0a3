//! The one mapping from use-case errors to HTTP statuses and customer texts.

use crate::console::http::Rejection;
use crate::pages::texts;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use coffee_domain::services::checkout::{InitiatePaymentError, ScanError};
use coffee_domain::ContactError;

/// How a failure is shown: status, a stable machine-readable code and the Russian text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: &'static str,
}

impl Failure {
    pub const fn new(status: StatusCode, code: &'static str, message: &'static str) -> Self {
        Self {
            status,
            code,
            message,
        }
    }

    pub fn is_server_side(&self) -> bool {
        self.status.is_server_error()
    }
}

impl From<&ScanError> for Failure {
    fn from(error: &ScanError) -> Self {
        use StatusCode as S;
        match error {
            ScanError::MissingParameter(_) => Failure::new(
                S::BAD_REQUEST,
                "missing_parameters",
                texts::MISSING_PARAMETERS,
            ),
            ScanError::InvalidParameter(_) => Failure::new(
                S::BAD_REQUEST,
                "invalid_parameters",
                texts::INVALID_PARAMETERS,
            ),
            ScanError::UnknownDevice => {
                Failure::new(S::NOT_FOUND, "device_not_found", texts::DEVICE_NOT_FOUND)
            }
            ScanError::MerchantExpired => {
                Failure::new(S::FORBIDDEN, "merchant_expired", texts::MERCHANT_EXPIRED)
            }
            ScanError::DeviceOffline => Failure::new(
                S::SERVICE_UNAVAILABLE,
                "device_offline",
                texts::DEVICE_OFFLINE,
            ),
            ScanError::HeartbeatCheckFailed(_) => Failure::new(
                S::SERVICE_UNAVAILABLE,
                "heartbeat_check_failed",
                texts::HEARTBEAT_CHECK_FAILED,
            ),
            ScanError::PriceUnavailable(_) => Failure::new(
                S::SERVICE_UNAVAILABLE,
                "price_unavailable",
                texts::PRICE_UNAVAILABLE,
            ),
            ScanError::UnknownDrink => {
                Failure::new(S::NOT_FOUND, "drink_not_found", texts::DRINK_NOT_FOUND)
            }
            ScanError::SizeNotSold => {
                Failure::new(S::NOT_FOUND, "size_not_sold", texts::SIZE_NOT_SOLD)
            }
            ScanError::Misconfigured(_) => Failure::new(
                S::SERVICE_UNAVAILABLE,
                "misconfigured",
                texts::SERVICE_UNAVAILABLE,
            ),
            ScanError::Storage(_) => Failure::new(
                S::SERVICE_UNAVAILABLE,
                "service_unavailable",
                texts::SERVICE_UNAVAILABLE,
            ),
        }
    }
}

impl From<&InitiatePaymentError> for Failure {
    fn from(error: &InitiatePaymentError) -> Self {
        use StatusCode as S;
        match error {
            InitiatePaymentError::UnknownOrder => {
                Failure::new(S::NOT_FOUND, "order_not_found", texts::ORDER_NOT_FOUND)
            }
            InitiatePaymentError::NotPayable(_) => {
                Failure::new(S::CONFLICT, "order_not_payable", texts::ORDER_NOT_PAYABLE)
            }
            InitiatePaymentError::Expired => {
                Failure::new(S::CONFLICT, "order_expired", texts::ORDER_EXPIRED)
            }
            InitiatePaymentError::MethodUnavailable(_) => Failure::new(
                S::UNPROCESSABLE_ENTITY,
                "method_unavailable",
                texts::METHOD_UNAVAILABLE,
            ),
            InitiatePaymentError::ContactRequired => Failure::new(
                S::UNPROCESSABLE_ENTITY,
                "contact_required",
                texts::CONTACT_REQUIRED,
            ),
            InitiatePaymentError::InvalidContact(ContactError::InvalidEmail) => Failure::new(
                S::UNPROCESSABLE_ENTITY,
                "invalid_email",
                texts::INVALID_EMAIL,
            ),
            InitiatePaymentError::InvalidContact(ContactError::InvalidPhone) => Failure::new(
                S::UNPROCESSABLE_ENTITY,
                "invalid_phone",
                texts::INVALID_PHONE,
            ),
            InitiatePaymentError::ProviderNotConfigured(_)
            | InitiatePaymentError::Misconfigured(_) => Failure::new(
                S::SERVICE_UNAVAILABLE,
                "missing_credentials",
                texts::MISSING_CREDENTIALS,
            ),
            InitiatePaymentError::TooManyPendingPayments => Failure::new(
                S::TOO_MANY_REQUESTS,
                "too_many_pending_payments",
                texts::TOO_MANY_PENDING_PAYMENTS,
            ),
            InitiatePaymentError::ProviderRejected(_) => Failure::new(
                S::BAD_GATEWAY,
                "payment_creation_failed",
                texts::PAYMENT_CREATION_FAILED,
            ),
            InitiatePaymentError::ProviderUnavailable(_) | InitiatePaymentError::Storage(_) => {
                Failure::new(
                    S::SERVICE_UNAVAILABLE,
                    "payment_creation_failed",
                    texts::PAYMENT_CREATION_FAILED,
                )
            }
        }
    }
}

pub const INVALID_REQUEST: Failure = Failure::new(
    StatusCode::BAD_REQUEST,
    "invalid_request",
    texts::INVALID_REQUEST,
);
pub const MISSING_ORDER_ID: Failure = Failure::new(
    StatusCode::BAD_REQUEST,
    "missing_order_id",
    texts::MISSING_ORDER_ID,
);
pub const ORDER_NOT_FOUND: Failure = Failure::new(
    StatusCode::NOT_FOUND,
    "order_not_found",
    texts::ORDER_NOT_FOUND,
);
pub const SERVICE_UNAVAILABLE: Failure = Failure::new(
    StatusCode::SERVICE_UNAVAILABLE,
    "service_unavailable",
    texts::SERVICE_UNAVAILABLE,
);
pub const NOT_FOUND: Failure = Failure::new(StatusCode::NOT_FOUND, "not_found", texts::NOT_FOUND);
pub const METHOD_NOT_ALLOWED: Failure = Failure::new(
    StatusCode::METHOD_NOT_ALLOWED,
    "method_not_allowed",
    texts::METHOD_NOT_ALLOWED,
);
pub const PAYLOAD_TOO_LARGE: Failure = Failure::new(
    StatusCode::PAYLOAD_TOO_LARGE,
    "payload_too_large",
    texts::PAYLOAD_TOO_LARGE,
);
pub const TOO_MANY_REQUESTS: Failure = Failure::new(
    StatusCode::TOO_MANY_REQUESTS,
    "too_many_requests",
    texts::TOO_MANY_REQUESTS,
);

pub const CONSOLE_UNAUTHORIZED: Failure = Failure::new(
    StatusCode::UNAUTHORIZED,
    "unauthorized",
    texts::CONSOLE_UNAUTHORIZED,
);
pub const CONSOLE_CSRF: Failure = Failure::new(StatusCode::FORBIDDEN, "csrf", texts::CONSOLE_CSRF);
pub const CONSOLE_FORBIDDEN: Failure =
    Failure::new(StatusCode::FORBIDDEN, "forbidden", texts::CONSOLE_FORBIDDEN);

impl Rejection {
    fn failure(&self) -> Failure {
        match self {
            Rejection::NoSession { .. } | Rejection::Unauthorized => CONSOLE_UNAUTHORIZED,
            Rejection::Csrf => CONSOLE_CSRF,
            Rejection::Unavailable => SERVICE_UNAVAILABLE,
        }
    }
}

/// The console's refusals: a page without a session goes to the login page (303), the API
/// answers 401 JSON, a wrong CSRF token is 403 (an HTML page for forms, JSON under the API).
impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Rejection::NoSession { .. } => StatusCode::SEE_OTHER,
            other => other.failure().status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Rejection::NoSession { next, expired } => {
                let mut location = format!(
                    "/admin/login?next={}",
                    crate::urls::encode_query_value(next)
                );
                if *expired {
                    location.push_str("&expired=1");
                }
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, location))
                    .finish()
            }
            Rejection::Unauthorized => crate::routes::json_failure(self.failure()),
            Rejection::Csrf | Rejection::Unavailable => {
                let failure = self.failure();
                HttpResponse::build(failure.status)
                    .content_type("text/plain; charset=utf-8")
                    .body(failure.message)
            }
        }
    }
}
