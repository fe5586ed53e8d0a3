//! Turning HTTP outcomes into [`MachineError`]s: 429, 5xx, timeouts and network errors are
//! `Unavailable` (the caller retries); any other non-2xx is `Rejected` (permanent).

use coffee_domain::ports::MachineError;
use reqwest::StatusCode;

/// At most this many characters of a response body go into an error message.
const EXCERPT_CHARS: usize = 200;

/// The start of a body, on one line, for error messages and logs.
pub(crate) fn excerpt(body: &str) -> String {
    let mut out: String = body
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.chars().nth(EXCERPT_CHARS).is_some() {
        out.push('…');
    }
    out.trim().to_owned()
}

/// `Ok` for 2xx; otherwise the error the caller should see.
pub(crate) fn classify_status(
    what: &str,
    status: StatusCode,
    body: &str,
) -> Result<(), MachineError> {
    if status.is_success() {
        return Ok(());
    }
    let message = format!("{what} answered {status}: {}", excerpt(body));
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        Err(MachineError::Unavailable(message))
    } else {
        // 4xx, and 3xx too: redirects are not followed (a POST must not turn into a GET), so
        // a redirect means a wrong base URL — retrying will not fix it.
        Err(MachineError::Rejected(message))
    }
}

/// A request that got no HTTP answer: timeout, refused connection, TLS or body error.
pub(crate) fn transport_error(what: &str, error: &reqwest::Error) -> MachineError {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    // The chain names the URL (never a secret: tokens travel in headers) and the root cause.
    let detail = error_chain(error);
    MachineError::Unavailable(format!("{what} {kind}: {detail}"))
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_and_throttling_are_retryable_and_client_errors_are_not() {
        let unavailable = |s: u16| {
            matches!(
                classify_status("x", StatusCode::from_u16(s).unwrap(), ""),
                Err(MachineError::Unavailable(_))
            )
        };
        let rejected = |s: u16| {
            matches!(
                classify_status("x", StatusCode::from_u16(s).unwrap(), ""),
                Err(MachineError::Rejected(_))
            )
        };
        assert!(classify_status("x", StatusCode::OK, "").is_ok());
        assert!(classify_status("x", StatusCode::ACCEPTED, "").is_ok());
        assert!(unavailable(500) && unavailable(502) && unavailable(503) && unavailable(429));
        assert!(rejected(400) && rejected(401) && rejected(404) && rejected(422) && rejected(302));
    }

    #[test]
    fn excerpts_are_short_and_on_one_line() {
        assert_eq!(excerpt("a\nb"), "a b");
        let long = "x".repeat(1000);
        assert_eq!(excerpt(&long).chars().count(), EXCERPT_CHARS + 1);
    }
}
