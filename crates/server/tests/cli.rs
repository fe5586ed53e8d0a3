#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

//! The `coffee-pay` binary's refusals at start: what it will not run, whatever else is set.
//! No database is needed: each refusal comes before any connection.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SECRET_KEY: &str = "cli-test-secret-key-0123456789abcdef";

/// `coffee-pay ARGS` with only `vars` in its environment (and `PATH`), in a scratch folder so
/// no `.env` is read. A process still running after 10 s is killed: it did not refuse.
fn coffee_pay(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let dir = scratch_dir();
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_coffee-pay"))
        .env_clear()
        .envs(std::env::var("PATH").map(|p| ("PATH".to_owned(), p)))
        .envs(vars.iter().copied())
        .current_dir(&dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run coffee-pay");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            child.kill().expect("kill");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn scratch_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn serve_with_a_production_setting_but_no_database_refuses_to_start_in_one_line() {
    let output = coffee_pay(
        &["serve"],
        &[
            ("BIND_ADDR", "127.0.0.1:0"),
            ("TMETR_HOST", "telemetry.fwsoft.ru"),
            ("TMETR_TOKEN", "token"),
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "configuration error: DATABASE_URL: not set, but TMETR_HOST is: production settings need the database (unset TMETR_HOST for demo mode)\n"
    );
}

/// `coffee-pay fleet check` on a database: the fleet below with `device` as its device.
fn check_on_a_database(device: &str, extra: &[(&str, &str)]) -> Output {
    static FILES: AtomicUsize = AtomicUsize::new(0);
    let n = FILES.fetch_add(1, Ordering::Relaxed);
    let file = scratch_dir().join(format!("fleet-{}-{n}.toml", std::process::id()));
    let text = format!(
        r#"
[[merchants]]
key = "m"
name = "Кофе"
contact_email = "owner@example.com"
valid_until = "2099-12-31"

[[devices]]
device_uuid = "d-1"
merchant = "m"
{device}
"#
    );
    std::fs::write(&file, text).expect("write fleet");
    let mut vars = vec![
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none"),
        ("SECRET_KEY", SECRET_KEY),
        ("BASE_URL", "https://pay.example.ru"),
    ];
    vars.extend_from_slice(extra);
    let output = coffee_pay(&["fleet", "check", file.to_str().unwrap()], &vars);
    let _ = std::fs::remove_file(&file);
    output
}

#[test]
fn a_fleet_for_a_database_refuses_a_device_without_provider_or_machine() {
    let output = check_on_a_database("", &[]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("device d-1: provider is required on a database")
            && text.contains("device d-1: machine is required on a database")
            && text.contains("nothing was applied"),
        "{text}"
    );
    let declared = check_on_a_database(
        "provider = \"custom\"\nredirect_url = \"https://pay.example.com\"\nmachine = \"mqtt\"",
        &[],
    );
    assert!(declared.status.success(), "{}", stderr(&declared));
}

#[test]
fn a_fleet_for_a_database_refuses_sandbox_devices_unless_staging_allows_them() {
    let sandbox = "provider = \"sandbox\"\nmachine = \"simulated\"";
    let output = check_on_a_database(sandbox, &[]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("provider \"sandbox\" takes no real money"),
        "{}",
        stderr(&output)
    );
    let staging = check_on_a_database(sandbox, &[("SANDBOX_ALLOW_WITH_DATABASE", "true")]);
    assert!(staging.status.success(), "{}", stderr(&staging));
}

#[test]
fn machine_simulate_without_mqtt_url_refuses_naming_it() {
    let output = coffee_pay(&["machine", "simulate", "--device", "mq-1"], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).starts_with("MQTT_URL is not set"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn machine_simulate_without_a_device_or_with_an_unknown_outcome_refuses_with_the_usage() {
    let broker = [("MQTT_URL", "mqtt://127.0.0.1:9")];
    for args in [
        &["machine", "simulate"][..],
        &[
            "machine",
            "simulate",
            "--device",
            "mq-1",
            "--outcome",
            "maybe",
        ][..],
        &[
            "machine",
            "simulate",
            "--device",
            "mq-1",
            "--delay-ms",
            "soon",
        ][..],
    ] {
        let output = coffee_pay(args, &broker);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("USAGE:"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}
