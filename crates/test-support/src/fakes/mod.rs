//! Local HTTP fakes of the outside world, with state, for end-to-end tests: a YooKassa that
//! remembers payments by idempotence key and has a checkout page, and a Tmetr that records
//! make commands. Both are wiremock servers answering through shared state.

pub mod tbank;
pub mod tmetr;
pub mod yookassa;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

/// Posts `body` as JSON to `url` (plain `http://host:port/path`) from a background thread —
/// how the fake provider "sends" its webhook. Returns the thread's handle.
pub fn post_json_in_background(url: String, body: Vec<u8>) -> std::thread::JoinHandle<Option<u16>> {
    std::thread::spawn(move || {
        let rest = url.strip_prefix("http://")?;
        let (host, path) = rest
            .split_once('/')
            .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
        let mut stream = TcpStream::connect(host).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).ok()?;
        stream.write_all(&body).ok()?;
        let mut response = Vec::new();
        std::io::Read::read_to_end(&mut stream, &mut response).ok()?;
        let text = String::from_utf8_lossy(&response);
        text.split_whitespace().nth(1)?.parse().ok()
    })
}
