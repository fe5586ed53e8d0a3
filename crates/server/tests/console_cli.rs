#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

//! `coffee-pay users …` and `coffee-pay tokens …` on a real Postgres: passwords from standard
//! input or generated and shown once, stored only as argon2id hashes; tokens stored as digests.

use coffee_adapter_postgres::{run_migrations, PgStore};
use coffee_domain::ports::{AccountRepository, CatalogRepository};
use coffee_domain::{Role, UserName};
use coffee_server::console::auth;
use coffee_test_support::contract::base_fleet;
use coffee_test_support::test_db::TestDb;
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn migrate(url: &str) -> Result<(), String> {
    run_migrations(url).map(|_| ()).map_err(|e| e.to_string())
}

/// `coffee-pay ARGS` on `database_url` with `stdin` as its standard input.
fn coffee_pay(database_url: Option<&str>, args: &[&str], stdin: &str) -> Output {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_coffee-pay"));
    command
        .env_clear()
        .envs(std::env::var("PATH").map(|p| ("PATH".to_owned(), p)))
        .current_dir(&dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(url) = database_url {
        command
            .env("DATABASE_URL", url)
            .env("SECRET_KEY", "console-cli-test-secret-key-0123456789")
            .env("BASE_URL", "https://pay.example.ru")
            .env("SANDBOX_ALLOW_WITH_DATABASE", "true");
    }
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn database() -> Option<(TestDb, PgStore)> {
    let db = TestDb::migrated(migrate).await?;
    let store = PgStore::connect(db.url(), 2).await.unwrap();
    store
        .apply_fleet(&base_fleet(), chrono::Utc::now())
        .await
        .unwrap();
    Some((db, store))
}

fn name(text: &str) -> UserName {
    UserName::parse(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_add_reads_the_password_from_stdin_and_stores_only_its_hash() {
    let Some((db, store)) = database().await else {
        return;
    };
    let output = coffee_pay(
        Some(db.url()),
        &["users", "add", "anna", "--role", "admin"],
        "очень-длинный-пароль\n",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!stdout(&output).contains("очень-длинный-пароль"));
    let anna = store.user(&name("anna")).await.unwrap().unwrap();
    assert_eq!(anna.role, Role::Admin);
    assert!(anna.password_hash.starts_with("$argon2id$"));
    assert!(auth::verify_password(
        "очень-длинный-пароль",
        &anna.password_hash
    ));

    let again = coffee_pay(
        Some(db.url()),
        &["users", "add", "anna", "--role", "admin"],
        "другой-длинный-пароль\n",
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_add_with_an_empty_line_prints_a_random_password_once() {
    let Some((db, store)) = database().await else {
        return;
    };
    let output = coffee_pay(
        Some(db.url()),
        &[
            "users",
            "add",
            "boris",
            "--role",
            "merchant",
            "--merchant",
            "m1",
        ],
        "\n",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let password = text
        .lines()
        .find_map(|line| line.strip_prefix("password: "))
        .unwrap();
    let boris = store.user(&name("boris")).await.unwrap().unwrap();
    assert_eq!(boris.role.merchant().map(|k| k.as_str()), Some("m1"));
    assert!(auth::verify_password(password, &boris.password_hash));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwd_and_disable_change_the_stored_user() {
    let Some((db, store)) = database().await else {
        return;
    };
    let add = coffee_pay(
        Some(db.url()),
        &["users", "add", "vera", "--role", "admin"],
        "первый-длинный-пароль\n",
    );
    assert_eq!(add.status.code(), Some(0), "{}", stderr(&add));
    let passwd = coffee_pay(
        Some(db.url()),
        &["users", "passwd", "vera"],
        "второй-длинный-пароль\n",
    );
    assert_eq!(passwd.status.code(), Some(0), "{}", stderr(&passwd));
    let vera = store.user(&name("vera")).await.unwrap().unwrap();
    assert!(auth::verify_password(
        "второй-длинный-пароль",
        &vera.password_hash
    ));
    let short = coffee_pay(Some(db.url()), &["users", "passwd", "vera"], "short\n");
    assert_eq!(short.status.code(), Some(1));
    let disable = coffee_pay(Some(db.url()), &["users", "disable", "vera"], "");
    assert_eq!(disable.status.code(), Some(0), "{}", stderr(&disable));
    assert!(store.user(&name("vera")).await.unwrap().unwrap().disabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_add_prints_the_token_once_and_stores_its_digest() {
    let Some((db, store)) = database().await else {
        return;
    };
    let output = coffee_pay(
        Some(db.url()),
        &[
            "tokens",
            "add",
            "accounting",
            "--role",
            "merchant",
            "--merchant",
            "m1",
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let token = text
        .lines()
        .find_map(|line| line.strip_prefix("API token accounting: "))
        .unwrap();
    let stored = store
        .api_token(&auth::digest(token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name.as_str(), "accounting");
    assert_ne!(stored.token_hash, token);
}

#[test]
fn account_commands_refuse_bad_roles_and_demo_mode_with_the_usage() {
    let no_merchant = coffee_pay(
        Some("postgres://nobody@127.0.0.1:1/none"),
        &["users", "add", "x", "--role", "merchant"],
        "",
    );
    assert_eq!(no_merchant.status.code(), Some(2));
    assert!(
        stderr(&no_merchant).contains("merchant key"),
        "{}",
        stderr(&no_merchant)
    );
    let demo = coffee_pay(None, &["users", "add", "x", "--role", "admin"], "");
    assert_eq!(demo.status.code(), Some(2));
    assert!(stderr(&demo).contains("DATABASE_URL is not set"));
    assert!(stderr(&demo).contains("coffee-pay users add NAME"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_export_writes_a_file_that_fleet_apply_takes_back_unchanged() {
    let Some((db, _store)) = database().await else {
        return;
    };
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("exported-{}.toml", db.name()));
    let file = file.to_str().unwrap();
    let export = coffee_pay(Some(db.url()), &["fleet", "export", file], "");
    assert_eq!(export.status.code(), Some(0), "{}", stderr(&export));
    assert!(stdout(&export).contains("1 merchants, 2 devices, 3 drinks"));
    let apply = coffee_pay(Some(db.url()), &["fleet", "apply", file], "");
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    assert!(
        stdout(&apply).contains("0 inserted, 0 updated, 6 unchanged"),
        "{}",
        stdout(&apply)
    );
    let to_stdout = coffee_pay(Some(db.url()), &["fleet", "export"], "");
    assert!(stdout(&to_stdout).contains("[[merchants]]"));
}
