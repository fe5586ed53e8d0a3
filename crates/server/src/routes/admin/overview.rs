//! `/admin`: today and the last 7 days at a glance — sales per merchant and per device, the
//! machines' presence, what needs an operator — and `/admin/jobs`: the queue.

use super::views::{msk_day, msk_midnight, msk_time, rub, OrderRowView};
use super::{page, CallerView};
use crate::console::http::{Operator, Rejection};
use crate::console::{Caller, Console};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Timelike, Utc};
use coffee_domain::ports::{JobSummary, OrderFilter, OrderListItem, RepositoryError, SalesBucket};
use coffee_domain::services::operations::Presence;
use coffee_domain::MerchantKey;
use serde::Serialize;
use std::collections::BTreeMap;

fn unavailable(error: RepositoryError) -> Rejection {
    tracing::error!(%error, "console overview failed");
    Rejection::Unavailable
}

/// Sums of sales buckets.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Totals {
    pub orders: u64,
    pub paid: u64,
    pub revenue_kopecks: i64,
    pub revenue: String,
    pub refunds: u64,
    pub failures: u64,
}

impl Totals {
    fn add(&mut self, bucket: &SalesBucket) {
        self.orders += bucket.orders;
        self.paid += bucket.paid;
        self.revenue_kopecks += bucket.revenue_kopecks;
        self.refunds += bucket.refunds;
        self.failures += bucket.failures;
        self.revenue = rub(self.revenue_kopecks);
    }

    pub(super) fn of<'a>(buckets: impl Iterator<Item = &'a SalesBucket>) -> Self {
        let mut totals = Totals {
            revenue: rub(0),
            ..Totals::default()
        };
        buckets.for_each(|b| totals.add(b));
        totals
    }
}

#[derive(Serialize)]
pub struct Line {
    pub name: String,
    pub today: Totals,
    pub week: Totals,
}

/// Per key (merchant or device): today's and the week's totals, by name.
pub(super) fn lines(
    buckets: &[SalesBucket],
    today_start: DateTime<Utc>,
    key: impl Fn(&SalesBucket) -> String,
) -> Vec<Line> {
    let mut by: BTreeMap<String, (Vec<&SalesBucket>, Vec<&SalesBucket>)> = BTreeMap::new();
    for bucket in buckets {
        let entry = by.entry(key(bucket)).or_default();
        entry.1.push(bucket);
        if bucket.hour >= today_start {
            entry.0.push(bucket);
        }
    }
    by.into_iter()
        .map(|(name, (today, week))| Line {
            name,
            today: Totals::of(today.into_iter()),
            week: Totals::of(week.into_iter()),
        })
        .collect()
}

/// Today's revenue by Moscow hour as an SVG bar chart: numbers only, drawn here, no script.
pub fn hourly_chart(buckets: &[SalesBucket], today_start: DateTime<Utc>) -> String {
    let mut hours = [0_i64; 24];
    for bucket in buckets.iter().filter(|b| b.hour >= today_start) {
        let index = usize::try_from((bucket.hour - today_start).num_hours()).unwrap_or(24);
        if let Some(slot) = hours.get_mut(index) {
            *slot += bucket.revenue_kopecks;
        }
    }
    let max = hours.iter().copied().max().unwrap_or(0).max(1);
    let (width, height, bar) = (720, 180, 30);
    let mut svg = format!(
        "<svg viewBox=\"0 0 {width} {}\" role=\"img\" aria-label=\"Выручка по часам сегодня\" xmlns=\"http://www.w3.org/2000/svg\">",
        height + 20
    );
    for (hour, revenue) in hours.iter().enumerate() {
        let x = hour * bar;
        let h = (revenue * i64::from(height - 10)) / max;
        let y = i64::from(height) - h;
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{h}\" fill=\"#6f4e37\"><title>{hour:02}:00 — {}</title></rect>",
            x + 3,
            bar - 6,
            rub(*revenue)
        ));
        if hour % 3 == 0 {
            svg.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#666\">{hour:02}</text>",
                x + 6,
                height + 15
            ));
        }
    }
    svg.push_str(&format!(
        "<text x=\"{}\" y=\"12\" font-size=\"11\" fill=\"#666\" text-anchor=\"end\">макс. {}</text></svg>",
        width - 4,
        rub(max)
    ));
    svg
}

#[derive(Serialize)]
struct MachineView {
    device: String,
    merchant: String,
    location: String,
    state: &'static str,
    label: String,
}

#[derive(Serialize)]
pub struct DeadJobView {
    pub id: String,
    pub order_id: String,
    pub kind: &'static str,
    pub attempts: u32,
    pub when: String,
    pub last_error: String,
}

impl DeadJobView {
    pub fn of(job: &JobSummary) -> Self {
        Self {
            id: job.id.to_string(),
            order_id: job.order_id.to_string(),
            kind: job.kind.as_str(),
            attempts: job.attempts,
            when: msk_time(job.run_at),
            last_error: job.last_error.clone().unwrap_or_default(),
        }
    }
}

#[derive(Serialize)]
struct OverviewPage {
    caller: CallerView,
    today: Totals,
    week: Totals,
    merchants: Vec<Line>,
    devices: Vec<Line>,
    chart: String,
    machines: Vec<MachineView>,
    online: usize,
    offline: usize,
    attention: Vec<OrderRowView>,
    dead_jobs: Vec<DeadJobView>,
}

async fn machines(state: &AppState, caller: &Caller) -> Vec<MachineView> {
    let devices = state.catalog.devices().await.unwrap_or_default();
    let mut views = Vec::new();
    for device in devices
        .into_iter()
        .filter(|d| caller.role.may_see(&d.merchant))
    {
        let presence = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            state.operations.presence(&device),
        )
        .await
        .unwrap_or(Presence::Unknown {
            why: "нет ответа за 2 с".into(),
        });
        let (state_code, label) = match presence {
            Presence::Online { last } => ("online", format!("в сети ({})", msk_time(last))),
            Presence::Offline { last: Some(last) } => {
                ("offline", format!("не в сети с {}", msk_time(last)))
            }
            Presence::Offline { last: None } => ("offline", "не в сети".to_owned()),
            Presence::Unknown { why } => ("unknown", format!("неизвестно: {why}")),
        };
        views.push(MachineView {
            device: device.device_uuid.to_string(),
            merchant: device.merchant.to_string(),
            location: device.location.clone(),
            state: state_code,
            label,
        });
    }
    views
}

/// The start of today (Moscow) and of the 7-day window ending today.
pub(super) fn windows(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let today = msk_midnight(msk_day(now)).unwrap_or_else(|| {
        now.with_hour(0)
            .and_then(|t| t.with_minute(0))
            .unwrap_or(now)
    });
    (today, today - Duration::days(6))
}

/// What the overview shows, as a page or as JSON.
pub(super) struct Gathered {
    pub today_start: DateTime<Utc>,
    /// The last 7 days' hourly sales.
    pub buckets: Vec<SalesBucket>,
    pub flagged: Vec<OrderListItem>,
    pub dead: Vec<JobSummary>,
}

/// The week's sales and at most `limit` orders needing an operator and dead jobs — of one
/// merchant when `merchant` is given.
pub(super) async fn gather(
    console: &Console,
    merchant: Option<&MerchantKey>,
    limit: usize,
) -> Result<Gathered, RepositoryError> {
    let now = console.clock.now();
    let (today_start, week_start) = windows(now);
    let buckets = console
        .queries
        .sales(merchant, week_start, now + Duration::hours(1))
        .await?;
    let needing_operator = OrderFilter {
        merchant: merchant.cloned(),
        needs_operator: true,
        ..OrderFilter::default()
    };
    let flagged = console
        .queries
        .orders(&needing_operator, None, limit)
        .await?;
    let dead = console.queries.dead_jobs(merchant, limit).await?;
    Ok(Gathered {
        today_start,
        buckets,
        flagged,
        dead,
    })
}

/// `GET /admin`.
pub async fn overview(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
) -> Result<HttpResponse, Rejection> {
    let Gathered {
        today_start,
        buckets,
        flagged: attention,
        dead,
    } = gather(&console, caller.role.merchant(), 20)
        .await
        .map_err(unavailable)?;
    let machines = machines(&state, &caller).await;
    Ok(page(
        &state,
        "admin/overview.html",
        &OverviewPage {
            caller: CallerView::of(&caller),
            today: Totals::of(buckets.iter().filter(|b| b.hour >= today_start)),
            week: Totals::of(buckets.iter()),
            merchants: lines(&buckets, today_start, |b| b.merchant.to_string()),
            devices: lines(&buckets, today_start, |b| b.device.to_string()),
            chart: hourly_chart(&buckets, today_start),
            online: machines.iter().filter(|m| m.state == "online").count(),
            offline: machines.iter().filter(|m| m.state != "online").count(),
            machines,
            attention: attention
                .iter()
                .map(|item| OrderRowView::of(&caller, item))
                .collect(),
            dead_jobs: dead.iter().map(DeadJobView::of).collect(),
        },
    ))
}

#[derive(Serialize)]
struct BacklogLine {
    kind: &'static str,
    queued: u64,
    running: u64,
    done: u64,
    dead: u64,
}

#[derive(Serialize)]
struct JobsPage {
    caller: CallerView,
    backlog: Vec<BacklogLine>,
    oldest_overdue: String,
    dead_jobs: Vec<DeadJobView>,
}

/// `GET /admin/jobs`: queue depth by kind, how overdue the queue is, dead jobs with retry
/// buttons. The queue's depth is everyone's: admins only; a merchant sees its dead jobs.
pub async fn jobs(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
) -> Result<HttpResponse, Rejection> {
    let merchant = caller.role.merchant();
    let (backlog, oldest_overdue) = if caller.role.is_admin() {
        let backlog = state
            .jobs
            .backlog(console.clock.now())
            .await
            .map_err(unavailable)?;
        let mut lines: BTreeMap<&'static str, BacklogLine> = BTreeMap::new();
        for (kind, job_state, count) in backlog.counts {
            let line = lines.entry(kind.as_str()).or_insert(BacklogLine {
                kind: kind.as_str(),
                queued: 0,
                running: 0,
                done: 0,
                dead: 0,
            });
            match job_state {
                coffee_domain::JobState::Queued => line.queued += count,
                coffee_domain::JobState::Running => line.running += count,
                coffee_domain::JobState::Done => line.done += count,
                coffee_domain::JobState::Dead => line.dead += count,
            }
        }
        let overdue = match backlog.oldest_overdue {
            Some(age) => format!("самое старое ждёт {} с", age.num_seconds()),
            None => "просроченных нет".to_owned(),
        };
        (lines.into_values().collect(), overdue)
    } else {
        (Vec::new(), String::new())
    };
    let dead = console
        .queries
        .dead_jobs(merchant, 200)
        .await
        .map_err(unavailable)?;
    Ok(page(
        &state,
        "admin/jobs.html",
        &JobsPage {
            caller: CallerView::of(&caller),
            backlog,
            oldest_overdue,
            dead_jobs: dead.iter().map(DeadJobView::of).collect(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use coffee_domain::{DeviceUuid, MerchantKey};

    #[test]
    fn the_chart_draws_one_bar_per_hour_and_only_numbers() {
        let start = Utc.with_ymd_and_hms(2026, 6, 1, 21, 0, 0).single().unwrap();
        let bucket = SalesBucket {
            merchant: MerchantKey::parse("m").unwrap(),
            device: DeviceUuid::parse("d").unwrap(),
            hour: start + Duration::hours(9),
            orders: 2,
            paid: 2,
            revenue_kopecks: 30000,
            refunds: 0,
            failures: 0,
        };
        let svg = hourly_chart(&[bucket], start);
        assert_eq!(svg.matches("<rect").count(), 24);
        assert!(svg.contains("<title>09:00 — 300,00 ₽</title>"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn today_starts_at_moscow_midnight() {
        let now = Utc
            .with_ymd_and_hms(2026, 6, 1, 22, 30, 0)
            .single()
            .unwrap();
        let (today, week) = windows(now);
        assert_eq!(
            today,
            Utc.with_ymd_and_hms(2026, 6, 1, 21, 0, 0).single().unwrap()
        );
        assert_eq!(week, today - Duration::days(6));
    }
}
