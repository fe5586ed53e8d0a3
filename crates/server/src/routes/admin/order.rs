//! `/admin/orders/{id}`: everything about one order — status, money, receipt contact, the
//! whole timeline — and the operator's actions on it, each confirmed on a page of its own,
//! CSRF-checked, audited and carried out by the domain's use cases.

use super::views::{self, contact_for, msk_time, rub};
use super::{page, CallerView};
use crate::console::http::{check_csrf, Operator, Rejection};
use crate::console::{Caller, Console};
use crate::routes::html_failure;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use coffee_domain::decisions::operator::{allowed, OperatorAction};
use coffee_domain::decisions::Snapshot;
use coffee_domain::ports::{AuditQuery, JobSummary, RepositoryError};
use coffee_domain::services::operations::{ActionOutcome, RetryError};
use coffee_domain::{HistorySource, JobId, JobState, Order, OrderId, Payment};
use serde::{Deserialize, Serialize};

fn unavailable(error: RepositoryError) -> Rejection {
    tracing::error!(%error, "console order page failed");
    Rejection::Unavailable
}

/// The order if the caller may see it: another merchant's order is as unknown as a missing
/// one (`None`, answered 404).
pub(super) async fn visible_order(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Option<Order>, Rejection> {
    let Ok(id) = OrderId::parse(id) else {
        return Ok(None);
    };
    let order = state.orders.get(id).await.map_err(unavailable)?;
    Ok(order.filter(|o| caller.role.may_see(&o.merchant)))
}

fn not_found(state: &AppState) -> HttpResponse {
    html_failure(state, crate::error::ORDER_NOT_FOUND)
}

pub fn action_label(action: OperatorAction) -> &'static str {
    match action {
        OperatorAction::Refund => "Вернуть деньги полностью",
        OperatorAction::ReleaseHold => "Снять удержание",
        OperatorAction::MarkDispensed => "Отметить: напиток выдан",
        OperatorAction::MarkFailed => "Отметить: напиток не выдан",
        OperatorAction::ResendMakeCommand => "Отправить команду приготовления ещё раз",
    }
}

fn action_warning(action: OperatorAction) -> &'static str {
    match action {
        OperatorAction::Refund => {
            "Вся сумма вернётся покупателю через провайдера. Отменить возврат нельзя."
        }
        OperatorAction::ReleaseHold => {
            "Удержанные деньги будут освобождены, покупатель не заплатит за заказ."
        }
        OperatorAction::MarkDispensed => {
            "Так же, как отчёт автомата «выдан»: заказ станет выполненным, удержанные деньги будут списаны."
        }
        OperatorAction::MarkFailed => {
            "Так же, как отчёт автомата «не выдан»: заказ завершится ошибкой, деньги вернутся покупателю."
        }
        OperatorAction::ResendMakeCommand => {
            "Судьба первой команды неизвестна. Если автомат всё-таки приготовил напиток, покупатель получит второй. Отправляйте, только если убедились, что напитка не было. Повторить можно один раз; без отчёта автомата к сроку выдачи деньги вернутся покупателю."
        }
    }
}

pub(super) fn source_label(source: HistorySource) -> &'static str {
    match source {
        HistorySource::Customer => "покупатель",
        HistorySource::Provider => "провайдер",
        HistorySource::Machine => "автомат",
        HistorySource::Worker => "сервер",
        HistorySource::Operator => "оператор",
    }
}

#[derive(Serialize)]
struct Facts {
    id: String,
    machine_order_id: String,
    merchant: String,
    device: String,
    drink: String,
    size: &'static str,
    price: String,
    status: &'static str,
    status_label: &'static str,
    failure_reason: &'static str,
    attention_label: &'static str,
    make_outcome_unknown: bool,
    dispense_assumed: bool,
    contact: String,
    created: String,
    updated: String,
    expires: String,
}

#[derive(Serialize)]
struct PaymentView {
    provider: &'static str,
    provider_payment_id: String,
    amount: String,
    capture: &'static str,
    state_label: &'static str,
    refund_id: String,
    created: String,
}

impl PaymentView {
    fn of(payment: &Payment) -> Self {
        Self {
            provider: payment.provider.as_str(),
            provider_payment_id: payment.provider_payment_id.clone(),
            amount: rub(payment.amount.kopecks()),
            capture: match payment.capture {
                coffee_domain::CaptureMode::Immediate => "сразу",
                coffee_domain::CaptureMode::AfterDispense => "после выдачи",
            },
            state_label: views::payment_label(payment.state),
            refund_id: payment.refund_id.clone().unwrap_or_default(),
            created: msk_time(payment.created_at),
        }
    }
}

#[derive(Serialize)]
struct TimelineItem {
    #[serde(skip)]
    at: DateTime<Utc>,
    when: String,
    who: String,
    text: String,
    /// A dead job's id, for its retry button.
    retry_job: Option<String>,
}

#[derive(Serialize)]
struct ActionView {
    code: &'static str,
    label: &'static str,
}

#[derive(Serialize)]
struct OrderPageData {
    caller: CallerView,
    order: Facts,
    payments: Vec<PaymentView>,
    timeline: Vec<TimelineItem>,
    actions: Vec<ActionView>,
    notice: Option<&'static str>,
    alert: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    result: String,
}

pub(super) fn job_text(job: &JobSummary) -> String {
    let state = match job.state {
        JobState::Queued => "в очереди",
        JobState::Running => "выполняется",
        JobState::Done => "выполнено",
        JobState::Dead => "не выполнено (попытки исчерпаны)",
    };
    let mut text = format!(
        "задание {}: {state}, попыток {}",
        job.kind.as_str(),
        job.attempts
    );
    if let Some(error) = &job.last_error {
        text.push_str(&format!("; последняя ошибка: {error}"));
    }
    text
}

/// `GET /admin/orders/{id}`.
pub async fn show(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Rejection> {
    let Some(order) = visible_order(&state, &caller, &path).await? else {
        return Ok(not_found(&state));
    };
    let payments = state
        .payments
        .attempts_of(order.id)
        .await
        .map_err(unavailable)?;
    let history = state.orders.history(order.id).await.map_err(unavailable)?;
    let jobs = state.jobs.jobs_of(order.id).await.map_err(unavailable)?;
    let audit = console
        .audit
        .entries(&AuditQuery {
            order_id: Some(order.id),
            limit: 200,
            ..AuditQuery::default()
        })
        .await
        .map_err(unavailable)?;
    let mut timeline: Vec<TimelineItem> = history
        .iter()
        .map(|entry| TimelineItem {
            at: entry.at,
            when: msk_time(entry.at),
            who: source_label(entry.source).to_owned(),
            text: match (entry.from, entry.to) {
                (Some(from), Some(to)) if from != to => format!(
                    "{} → {}: {}",
                    views::status_label(from),
                    views::status_label(to),
                    entry.message
                ),
                _ => entry.message.clone(),
            },
            retry_job: None,
        })
        .chain(jobs.iter().map(|job| TimelineItem {
            at: job.run_at,
            when: msk_time(job.run_at),
            who: "очередь".to_owned(),
            text: job_text(job),
            retry_job: (job.state == JobState::Dead).then(|| job.id.to_string()),
        }))
        .chain(audit.iter().map(|line| TimelineItem {
            at: line.at,
            when: msk_time(line.at),
            who: format!("консоль: {}", line.actor),
            text: match line.detail.as_str() {
                "" => line.action.clone(),
                detail => format!("{} — {detail}", line.action),
            },
            retry_job: None,
        }))
        .collect();
    timeline.sort_by_key(|item| item.at);
    let snapshot = Snapshot {
        order: order.clone(),
        payment: payments.last().cloned(),
    };
    let actions = OperatorAction::ALL
        .into_iter()
        .filter(|action| allowed(&snapshot, *action))
        .map(|action| ActionView {
            code: action.as_str(),
            label: action_label(action),
        })
        .collect();
    let (notice, alert) = match query.result.as_str() {
        "done" => (Some("Сделано."), None),
        "retried" => (Some("Задание снова в очереди."), None),
        "refused" => (
            None,
            Some(format!(
                "Действие не выполнено: состояние заказа изменилось (сейчас «{}»). Ничего не сделано — посмотрите историю.",
                views::status_label(order.status)
            )),
        ),
        "not_dead" => (
            None,
            Some("Задание уже не «мёртвое» (его перезапустили): ничего не сделано.".to_owned()),
        ),
        _ => (None, None),
    };
    let facts = Facts {
        id: order.id.to_string(),
        machine_order_id: order.machine_order_id.to_string(),
        merchant: order.merchant.to_string(),
        device: order.device.to_string(),
        drink: order.drink_name.clone(),
        size: order.size.label_ru(),
        price: rub(order.price.kopecks()),
        status: order.status.as_str(),
        status_label: views::status_label(order.status),
        failure_reason: order.failure_reason.map_or("", |r| r.as_str()),
        attention_label: order.attention.map_or("", views::attention_label),
        make_outcome_unknown: order.make_outcome_unknown,
        dispense_assumed: order.dispense_assumed,
        contact: contact_for(&caller, order.receipt_contact.as_ref()),
        created: msk_time(order.created_at),
        updated: msk_time(order.updated_at),
        expires: msk_time(order.expires_at),
    };
    Ok(page(
        &state,
        "admin/order.html",
        &OrderPageData {
            caller: CallerView::of(&caller),
            order: facts,
            payments: payments.iter().map(PaymentView::of).collect(),
            timeline,
            actions,
            notice,
            alert,
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct ConfirmQuery {
    #[serde(default)]
    action: String,
}

#[derive(Serialize)]
struct ConfirmPage {
    caller: CallerView,
    order_id: String,
    machine_order_id: String,
    price: String,
    status_label: &'static str,
    action: &'static str,
    label: &'static str,
    warning: &'static str,
}

/// `GET /admin/orders/{id}/confirm?action=…`: what the action will do, and the button.
pub async fn confirm(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ConfirmQuery>,
) -> Result<HttpResponse, Rejection> {
    let Some(order) = visible_order(&state, &caller, &path).await? else {
        return Ok(not_found(&state));
    };
    let Some(action) = OperatorAction::parse(&query.action) else {
        return Ok(html_failure(&state, crate::error::INVALID_REQUEST));
    };
    Ok(page(
        &state,
        "admin/confirm.html",
        &ConfirmPage {
            caller: CallerView::of(&caller),
            order_id: order.id.to_string(),
            machine_order_id: order.machine_order_id.to_string(),
            price: rub(order.price.kopecks()),
            status_label: views::status_label(order.status),
            action: action.as_str(),
            label: action_label(action),
            warning: action_warning(action),
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
}

fn back_to(order: OrderId, result: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/admin/orders/{order}?result={result}"),
        ))
        .finish()
}

/// `POST /admin/orders/{id}/actions`: carries out a confirmed action.
pub async fn act(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    path: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, Rejection> {
    check_csrf(&caller, &form.csrf)?;
    let Some(order) = visible_order(&state, &caller, &path).await? else {
        return Ok(not_found(&state));
    };
    let Some(action) = OperatorAction::parse(&form.action) else {
        return Ok(html_failure(&state, crate::error::INVALID_REQUEST));
    };
    let result = match act_and_audit(&state, &console, &caller, &order, action, "").await? {
        ActionOutcome::Done { .. } => "done",
        ActionOutcome::Refused { .. } => "refused",
    };
    Ok(back_to(order.id, result))
}

/// Carries out `action` on `order` through the domain (decided on the order as it is now)
/// and audits what came of it; `via` names the channel in the audit line (`""` for a page).
pub(super) async fn act_and_audit(
    state: &AppState,
    console: &Console,
    caller: &Caller,
    order: &coffee_domain::Order,
    action: OperatorAction,
    via: &str,
) -> Result<ActionOutcome, Rejection> {
    let outcome = state
        .operations
        .act(order.id, action, caller.name.as_str())
        .await
        .map_err(unavailable)?;
    let detail = match &outcome {
        ActionOutcome::Done { status } => format!("сделано{via}, статус {status}"),
        ActionOutcome::Refused { status, reason } => {
            format!("не выполнено ({reason}), статус {status}")
        }
    };
    console
        .audit(
            caller,
            action.as_str(),
            Some(order.id),
            Some(order.device.clone()),
            &detail,
        )
        .await;
    Ok(outcome)
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /admin/orders/{id}/jobs/{job}/retry`: a dead job of the order runs again.
pub async fn retry_job(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, Rejection> {
    check_csrf(&caller, &form.csrf)?;
    let (order_id, job_id) = path.into_inner();
    Ok(
        match retry_order_job(&state, &console, &caller, &order_id, &job_id).await? {
            Retried::Ran { order, result } => back_to(order, result),
            Retried::UnknownOrder | Retried::UnknownJob => not_found(&state),
        },
    )
}

/// What an operator's retry of one of an order's jobs came to.
pub(super) enum Retried {
    /// Asked for, and audited: `result` is `retried` or `not_dead`.
    Ran {
        order: coffee_domain::OrderId,
        result: &'static str,
    },
    /// No such order for this caller (another merchant's is unknown too).
    UnknownOrder,
    UnknownJob,
}

/// Queues the order's dead job `job_id` again for `caller`, through the domain, and audits
/// what came of it: the page and the API answer from the outcome.
pub(super) async fn retry_order_job(
    state: &AppState,
    console: &Console,
    caller: &Caller,
    order_id: &str,
    job_id: &str,
) -> Result<Retried, Rejection> {
    let Some(order) = visible_order(state, caller, order_id).await? else {
        return Ok(Retried::UnknownOrder);
    };
    let jobs = state.jobs.jobs_of(order.id).await.map_err(unavailable)?;
    let Some(job) = JobId::parse(job_id)
        .ok()
        .and_then(|id| jobs.into_iter().find(|j| j.id == id))
    else {
        return Ok(Retried::UnknownJob);
    };
    let result = match state.operations.retry_job(job.id).await {
        Ok(()) => "retried",
        Err(RetryError::NotDead) => "not_dead",
        Err(RetryError::UnknownJob) => return Ok(Retried::UnknownJob),
        Err(RetryError::Storage(error)) => return Err(unavailable(error)),
    };
    console
        .audit(
            caller,
            "retry_job",
            Some(order.id),
            Some(order.device.clone()),
            &format!("{} {}: {result}", job.kind.as_str(), job.id),
        )
        .await;
    Ok(Retried::Ran {
        order: order.id,
        result,
    })
}
