//! The console's JSON API, `/admin/api/v1/…`: the same reads and actions as the pages, for
//! `Authorization: Bearer <API token>` (`coffee-pay tokens add`), with the same roles (a
//! merchant token sees only its merchant; another merchant's order is `404`) and the same
//! audit log. Described by the OpenAPI document at `/admin/api/openapi.json`.

use super::order::{
    act_and_audit, job_text, retry_order_job, source_label, visible_order, Retried,
};
use super::orders::{encode_cursor, OrdersQuery, PAGE_SIZE};
use super::overview::{gather, lines, Gathered, Line, Totals};
use super::views::OrderRowView;
use crate::console::http::{ApiCaller, Rejection};
use crate::console::Console;
use crate::error::Failure;
use crate::routes::json_failure;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use coffee_domain::decisions::operator::OperatorAction;
use coffee_domain::ports::{OrderCursor, RepositoryError};
use coffee_domain::services::operations::ActionOutcome;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn unavailable(error: RepositoryError) -> Rejection {
    tracing::error!(%error, "console API failed");
    Rejection::Unavailable
}

const ORDER_NOT_FOUND: Failure = crate::error::ORDER_NOT_FOUND;
const JOB_NOT_FOUND: Failure = Failure::new(
    StatusCode::NOT_FOUND,
    "job_not_found",
    "Задание не найдено.",
);
const UNKNOWN_ACTION: Failure = Failure::new(
    StatusCode::BAD_REQUEST,
    "unknown_action",
    "Неизвестное действие: refund, release_hold, mark_dispensed, mark_failed или resend_make_command.",
);
const ORDER_CHANGED: Failure = Failure::new(
    StatusCode::CONFLICT,
    "order_changed",
    "Действие не выполнено: состояние заказа изменилось. Ничего не сделано.",
);
const JOB_NOT_DEAD: Failure = Failure::new(
    StatusCode::CONFLICT,
    "job_not_dead",
    "Задание уже не «мёртвое»: ничего не сделано.",
);

/// A page of orders.
#[derive(Serialize, ToSchema)]
pub struct OrderListJson {
    #[schema(value_type = Vec<Object>)]
    pub orders: Vec<OrderRowView>,
    /// Pass as `after` for the next page; `null` on the last one.
    pub next: Option<String>,
}

/// `GET /admin/api/v1/orders`: the order list with the page's filters.
#[utoipa::path(get, path = "/admin/api/v1/orders", tag = "console",
    params(
        ("status" = Option<String>, Query, description = "order status"),
        ("merchant" = Option<String>, Query, description = "merchant key (admins)"),
        ("device" = Option<String>, Query, description = "device uuid"),
        ("provider" = Option<String>, Query, description = "sandbox, yookassa, tbank or custom"),
        ("from" = Option<String>, Query, description = "YYYY-MM-DD, Moscow, inclusive"),
        ("to" = Option<String>, Query, description = "YYYY-MM-DD, Moscow, inclusive"),
        ("attention" = Option<String>, Query, description = "`1`: only orders needing an operator"),
        ("q" = Option<String>, Query, description = "our order id, the machine's uuid, a provider payment id or a receipt contact"),
        ("after" = Option<String>, Query, description = "the previous page's `next`"),
    ),
    responses(
        (status = 200, body = OrderListJson),
        (status = 400, body = crate::openapi::ApiError, description = "a filter that cannot be read"),
        (status = 401, body = crate::openapi::ApiError),
    ),
    security(("bearer" = [])))]
pub async fn orders(
    ApiCaller(caller): ApiCaller,
    console: web::Data<Console>,
    query: web::Query<OrdersQuery>,
) -> Result<HttpResponse, Rejection> {
    let (filter, problems) = query.filter_for(&caller);
    if let Some(problem) = problems.first() {
        return Ok(HttpResponse::BadRequest().json(serde_json::json!({
            "error": "invalid_filter",
            "message": format!("Фильтр не применён: {problem}"),
        })));
    }
    let mut items = console
        .queries
        .orders(&filter, query.cursor(), PAGE_SIZE + 1)
        .await
        .map_err(unavailable)?;
    let next = (items.len() > PAGE_SIZE)
        .then(|| {
            items.truncate(PAGE_SIZE);
            items.last().map(|last| {
                encode_cursor(&OrderCursor {
                    created_at: last.order.created_at,
                    id: last.order.id,
                })
            })
        })
        .flatten();
    Ok(HttpResponse::Ok().json(OrderListJson {
        orders: items
            .iter()
            .map(|item| OrderRowView::of(&caller, item))
            .collect(),
        next,
    }))
}

/// One line of an order's timeline.
#[derive(Serialize, ToSchema)]
pub struct TimelineJson {
    /// RFC 3339.
    pub at: String,
    pub source: String,
    pub text: String,
}

/// An order with its payments and timeline.
#[derive(Serialize, ToSchema)]
pub struct OrderJson {
    #[schema(value_type = Object)]
    pub order: OrderRowView,
    pub make_outcome_unknown: bool,
    pub payments: Vec<PaymentJson>,
    pub timeline: Vec<TimelineJson>,
    /// What an operator may do now.
    pub actions: Vec<&'static str>,
}

#[derive(Serialize, ToSchema)]
pub struct PaymentJson {
    pub provider: &'static str,
    pub provider_payment_id: String,
    pub amount_kopecks: i64,
    pub state: &'static str,
    pub refund_id: Option<String>,
}

/// `GET /admin/api/v1/orders/{id}`.
#[utoipa::path(get, path = "/admin/api/v1/orders/{id}", tag = "console",
    params(("id" = String, Path, description = "our order id")),
    responses(
        (status = 200, body = OrderJson),
        (status = 401, body = crate::openapi::ApiError),
        (status = 404, body = crate::openapi::ApiError, description = "unknown, or another merchant's"),
    ),
    security(("bearer" = [])))]
pub async fn order(
    ApiCaller(caller): ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Rejection> {
    let Some(order) = visible_order(&state, &caller, &path).await? else {
        return Ok(json_failure(ORDER_NOT_FOUND));
    };
    let payments = state
        .payments
        .attempts_of(order.id)
        .await
        .map_err(unavailable)?;
    let history = state.orders.history(order.id).await.map_err(unavailable)?;
    let jobs = state.jobs.jobs_of(order.id).await.map_err(unavailable)?;
    let mut timeline: Vec<(chrono::DateTime<chrono::Utc>, TimelineJson)> = history
        .iter()
        .map(|entry| {
            (
                entry.at,
                TimelineJson {
                    at: entry.at.to_rfc3339(),
                    source: source_label(entry.source).to_owned(),
                    text: entry.message.clone(),
                },
            )
        })
        .chain(jobs.iter().map(|job| {
            (
                job.run_at,
                TimelineJson {
                    at: job.run_at.to_rfc3339(),
                    source: "очередь".to_owned(),
                    text: job_text(job),
                },
            )
        }))
        .collect();
    timeline.sort_by_key(|(at, _)| *at);
    let snapshot = coffee_domain::decisions::Snapshot {
        order: order.clone(),
        payment: payments.last().cloned(),
    };
    let item = coffee_domain::ports::OrderListItem {
        order: order.clone(),
        payment: payments.last().cloned(),
    };
    Ok(HttpResponse::Ok().json(OrderJson {
        order: OrderRowView::of(&caller, &item),
        make_outcome_unknown: order.make_outcome_unknown,
        payments: payments
            .iter()
            .map(|p| PaymentJson {
                provider: p.provider.as_str(),
                provider_payment_id: p.provider_payment_id.clone(),
                amount_kopecks: p.amount.kopecks(),
                state: p.state.as_str(),
                refund_id: p.refund_id.clone(),
            })
            .collect(),
        timeline: timeline.into_iter().map(|(_, line)| line).collect(),
        actions: OperatorAction::ALL
            .into_iter()
            .filter(|a| coffee_domain::decisions::operator::allowed(&snapshot, *a))
            .map(OperatorAction::as_str)
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ActionBody {
    /// `refund`, `release_hold`, `mark_dispensed`, `mark_failed` or `resend_make_command`.
    pub action: String,
}

#[derive(Serialize, ToSchema)]
pub struct ActionJson {
    /// The order's status after the action.
    pub status: String,
}

/// `POST /admin/api/v1/orders/{id}/actions`: an operator action, decided on the order as it
/// is now.
#[utoipa::path(post, path = "/admin/api/v1/orders/{id}/actions", tag = "console",
    params(("id" = String, Path, description = "our order id")),
    request_body = ActionBody,
    responses(
        (status = 200, body = ActionJson, description = "done"),
        (status = 400, body = crate::openapi::ApiError, description = "unknown action"),
        (status = 401, body = crate::openapi::ApiError),
        (status = 404, body = crate::openapi::ApiError),
        (status = 409, body = crate::openapi::ApiError, description = "the order's state does not allow it (any more): nothing was done"),
    ),
    security(("bearer" = [])))]
pub async fn act(
    ApiCaller(caller): ApiCaller,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    path: web::Path<String>,
    body: web::Json<ActionBody>,
) -> Result<HttpResponse, Rejection> {
    let Some(order) = visible_order(&state, &caller, &path).await? else {
        return Ok(json_failure(ORDER_NOT_FOUND));
    };
    let Some(action) = OperatorAction::parse(&body.action) else {
        return Ok(json_failure(UNKNOWN_ACTION));
    };
    let outcome = act_and_audit(&state, &console, &caller, &order, action, " через API").await?;
    Ok(match outcome {
        ActionOutcome::Done { status } => HttpResponse::Ok().json(ActionJson {
            status: status.to_string(),
        }),
        ActionOutcome::Refused { .. } => json_failure(ORDER_CHANGED),
    })
}

/// `POST /admin/api/v1/orders/{id}/jobs/{job}/retry`: a dead job of the order runs again.
#[utoipa::path(post, path = "/admin/api/v1/orders/{id}/jobs/{job}/retry", tag = "console",
    params(
        ("id" = String, Path, description = "our order id"),
        ("job" = String, Path, description = "the job's id"),
    ),
    responses(
        (status = 204, description = "queued again"),
        (status = 401, body = crate::openapi::ApiError),
        (status = 404, body = crate::openapi::ApiError),
        (status = 409, body = crate::openapi::ApiError, description = "the job is not dead"),
    ),
    security(("bearer" = [])))]
pub async fn retry_job(
    ApiCaller(caller): ApiCaller,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Rejection> {
    let (order_id, job_id) = path.into_inner();
    Ok(
        match retry_order_job(&state, &console, &caller, &order_id, &job_id).await? {
            Retried::Ran {
                result: "retried", ..
            } => HttpResponse::NoContent().finish(),
            Retried::Ran { .. } => json_failure(JOB_NOT_DEAD),
            Retried::UnknownOrder => json_failure(ORDER_NOT_FOUND),
            Retried::UnknownJob => json_failure(JOB_NOT_FOUND),
        },
    )
}

#[derive(Serialize, ToSchema)]
pub struct OverviewJson {
    #[schema(value_type = Object)]
    pub today: Totals,
    #[schema(value_type = Object)]
    pub week: Totals,
    #[schema(value_type = Vec<Object>)]
    pub merchants: Vec<Line>,
    #[schema(value_type = Vec<Object>)]
    pub devices: Vec<Line>,
    /// Ids of orders flagged for an operator (at most 100).
    pub needing_operator: Vec<String>,
    /// Dead jobs: `{id, order_id, kind, attempts, last_error}`.
    #[schema(value_type = Vec<Object>)]
    pub dead_jobs: Vec<serde_json::Value>,
}

/// `GET /admin/api/v1/overview`: today's and the week's figures.
#[utoipa::path(get, path = "/admin/api/v1/overview", tag = "console",
    responses(
        (status = 200, body = OverviewJson),
        (status = 401, body = crate::openapi::ApiError),
    ),
    security(("bearer" = [])))]
pub async fn overview(
    ApiCaller(caller): ApiCaller,
    console: web::Data<Console>,
) -> Result<HttpResponse, Rejection> {
    let Gathered {
        today_start,
        buckets,
        flagged,
        dead,
    } = gather(&console, caller.role.merchant(), 100)
        .await
        .map_err(unavailable)?;
    Ok(HttpResponse::Ok().json(OverviewJson {
        today: Totals::of(buckets.iter().filter(|b| b.hour >= today_start)),
        week: Totals::of(buckets.iter()),
        merchants: lines(&buckets, today_start, |b| b.merchant.to_string()),
        devices: lines(&buckets, today_start, |b| b.device.to_string()),
        needing_operator: flagged.iter().map(|i| i.order.id.to_string()).collect(),
        dead_jobs: dead
            .iter()
            .map(|job| {
                serde_json::json!({
                    "id": job.id.to_string(),
                    "order_id": job.order_id.to_string(),
                    "kind": job.kind.as_str(),
                    "attempts": job.attempts,
                    "last_error": job.last_error,
                })
            })
            .collect(),
    }))
}

/// `GET /admin/api/openapi.json`: the console API's OpenAPI document.
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::console_document())
}
