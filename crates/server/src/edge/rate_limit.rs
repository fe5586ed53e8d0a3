//! Abuse limits on the routes that create orders and payments: per client address and per
//! device, token buckets (GCRA) that hold a minute's allowance and refill evenly.

use super::{failure_response, ClientAddr};
use crate::error;
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web;
use coffee_domain::DeviceUuid;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};

/// Checks between two sweeps of buckets that are full again: keeps the maps as small as the
/// clients of the last minute.
const SWEEP_EVERY: u32 = 1024;

/// The limits of one server process (`RATE_LIMIT_PER_IP_PER_MINUTE`,
/// `RATE_LIMIT_PER_DEVICE_PER_MINUTE`; `None`: that limit is off).
pub struct RateLimits {
    per_client: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_device: Option<DefaultKeyedRateLimiter<DeviceUuid>>,
    checks: AtomicU32,
}

/// A request over a limit, and how long until the next one would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_seconds: u64,
}

impl RateLimits {
    /// Buckets of `per_client` and `per_device` requests a minute; 0 turns a limit off. A
    /// client (or device) may spend its minute at once, then one request every 60/N seconds.
    pub fn new(per_client: u32, per_device: u32) -> Self {
        fn limiter<K: std::hash::Hash + Eq + Clone>(
            per_minute: u32,
        ) -> Option<DefaultKeyedRateLimiter<K>> {
            NonZeroU32::new(per_minute)
                .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)))
        }
        Self {
            per_client: limiter(per_client),
            per_device: limiter(per_device),
            checks: AtomicU32::new(0),
        }
    }

    /// Counts one request of `client` (for `device`, when it names one) against the limits.
    /// The client's bucket is checked first, so a refused client spends nothing of the
    /// device's.
    pub fn check(&self, client: ClientAddr, device: Option<&DeviceUuid>) -> Result<(), Limited> {
        self.sweep_now_and_then();
        if let (Some(limiter), Some(ip)) = (&self.per_client, client.0) {
            check(limiter, &client_key(ip))?;
        }
        if let (Some(limiter), Some(device)) = (&self.per_device, device) {
            check(limiter, device)?;
        }
        Ok(())
    }

    fn sweep_now_and_then(&self) {
        if !self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
        {
            return;
        }
        if let Some(limiter) = &self.per_client {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.per_device {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

fn check<K>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Result<(), Limited>
where
    K: std::hash::Hash + Eq + Clone,
{
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        Limited {
            retry_after_seconds: wait.as_secs_f64().ceil().max(1.0) as u64,
        }
    })
}

/// An IPv4 client is its address; an IPv6 client its /64, which one subscriber usually holds
/// whole — otherwise every address of it would be a fresh bucket.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// Middleware of the QR scan routes: per client and per device (the QR's `deviceUuid`).
pub async fn limit_scans(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let device = web::Query::<HashMap<String, String>>::from_query(request.query_string())
        .ok()
        .and_then(|query| {
            query
                .get("deviceUuid")
                .and_then(|d| DeviceUuid::parse(d).ok())
        });
    limit(request, next, device).await
}

/// Middleware of the payment route: per client. The payment's order came from a scan, which
/// the device's limit counted, and a second call returns the same payment.
pub async fn limit_by_client(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    limit(request, next, None).await
}

async fn limit(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
    device: Option<DeviceUuid>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let verdict = request
        .app_data::<web::Data<RateLimits>>()
        .map(|limits| limits.check(ClientAddr::of(request.request()), device.as_ref()));
    let Some(Err(limited)) = verdict else {
        return Ok(next.call(request).await?.map_into_left_body());
    };
    tracing::warn!(
        client = %ClientAddr::of(request.request()),
        device = device.as_ref().map_or("", DeviceUuid::as_str),
        http.path = request.path(),
        retry_after = limited.retry_after_seconds,
        "rate limited"
    );
    let limit = if device.is_some() { "scan" } else { "payment" };
    metrics::counter!("coffee_rate_limited_total", "route" => limit).increment(1);
    let mut response = failure_response(request.request(), error::TOO_MANY_REQUESTS);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, limited.retry_after_seconds.into());
    Ok(request.into_response(response).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(ip: &str) -> ClientAddr {
        ClientAddr(Some(ip.parse().unwrap()))
    }

    fn device(id: &str) -> DeviceUuid {
        DeviceUuid::parse(id).unwrap()
    }

    #[test]
    fn a_client_gets_its_minute_at_once_then_waits() {
        let limits = RateLimits::new(3, 0);
        for _ in 0..3 {
            assert_eq!(limits.check(client("203.0.113.7"), None), Ok(()));
        }
        let limited = limits.check(client("203.0.113.7"), None).unwrap_err();
        assert!(
            (19..=20).contains(&limited.retry_after_seconds),
            "{limited:?}"
        );
        assert_eq!(limits.check(client("203.0.113.8"), None), Ok(()));
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        let limits = RateLimits::new(1, 0);
        assert_eq!(limits.check(client("2001:db8:1:2::1"), None), Ok(()));
        assert!(limits.check(client("2001:db8:1:2::ffff"), None).is_err());
        assert_eq!(limits.check(client("2001:db8:1:3::1"), None), Ok(()));
        // An IPv4-mapped address is the IPv4 client.
        assert_eq!(limits.check(client("198.51.100.1"), None), Ok(()));
        assert!(limits.check(client("::ffff:198.51.100.1"), None).is_err());
    }

    #[test]
    fn a_device_is_limited_whoever_scans_it_and_a_refused_client_spends_nothing_of_it() {
        let limits = RateLimits::new(2, 3);
        let d = device("dev-1");
        assert_eq!(limits.check(client("203.0.113.1"), Some(&d)), Ok(()));
        assert_eq!(limits.check(client("203.0.113.1"), Some(&d)), Ok(()));
        assert!(limits.check(client("203.0.113.1"), Some(&d)).is_err());
        assert_eq!(limits.check(client("203.0.113.2"), Some(&d)), Ok(()));
        assert!(limits.check(client("203.0.113.3"), Some(&d)).is_err());
        assert_eq!(
            limits.check(client("203.0.113.3"), Some(&device("dev-2"))),
            Ok(())
        );
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let limits = RateLimits::new(0, 0);
        for _ in 0..1000 {
            assert_eq!(
                limits.check(client("203.0.113.7"), Some(&device("d"))),
                Ok(())
            );
        }
    }
}
