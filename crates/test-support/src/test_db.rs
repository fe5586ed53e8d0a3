//! Throw-away Postgres databases for tests.
//!
//! * The server is `TEST_DATABASE_URL` (default [`DEFAULT_URL`]); its database is only used to
//!   issue `CREATE/DROP DATABASE`.
//! * Once per test process a template database `coffee_template_<unix time>_<pid>` is created
//!   and migrated; every test then gets its own `CREATE DATABASE coffee_test_… TEMPLATE …`
//!   (a file copy: milliseconds, and tests never see each other's rows).
//! * A [`TestDb`] drops its database when dropped — also when the test panics. The template
//!   cannot be dropped at process exit (Rust runs no destructors for statics), so each process
//!   first sweeps the databases that earlier runs left: those of processes no longer running
//!   (on a local server) and any older than [`STALE_AFTER`].
//! * Postgres unreachable: with `CI=true` the test fails; otherwise it prints
//!   `SKIPPED: Postgres not reachable at …` to stderr and the fixture returns `None`.

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

/// Used when `TEST_DATABASE_URL` is not set.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Databases of earlier runs older than this are removed even if their process may live.
pub const STALE_AFTER: Duration = Duration::from_secs(3 * 60 * 60);

const TEMPLATE_PREFIX: &str = "coffee_template_";
const TEST_PREFIX: &str = "coffee_test_";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Migrates the database at the given URL (blocking; called on a blocking thread).
pub type Migrate = fn(&str) -> Result<(), String>;

/// The server URL tests use.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value.eq_ignore_ascii_case("true") || value == "1")
}

/// Why no test database could be had.
#[derive(Debug, Clone)]
enum Failure {
    /// The server cannot be reached: skipped outside CI.
    Unreachable(String),
    /// Reached, but something went wrong (a migration failed…): always a test failure.
    Broken(String),
}

fn fail(url: &str, failure: &Failure) -> Option<TestDb> {
    match failure {
        Failure::Unreachable(error) => unreachable(url, error),
        Failure::Broken(error) => panic!("test database setup failed on {}: {error}", redact(url)),
    }
}

/// Reports an unreachable server: a failure in CI, a loud skip elsewhere.
fn unreachable(url: &str, error: &str) -> Option<TestDb> {
    let url = redact(url);
    if in_ci() {
        panic!("Postgres not reachable at {url} and CI=true, so this test fails instead of skipping: {error}");
    }
    // Straight to the stderr handle: libtest captures `eprintln!` of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: Postgres not reachable at {url} ({error}); set TEST_DATABASE_URL or start Postgres"
    );
    None
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `url` with its database replaced by `database` (URL or `key=value` form).
pub fn with_database(url: &str, database: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return format!("{url} dbname={database}");
    };
    let (without_query, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = without_query[scheme_end + 3..]
        .find('/')
        .map_or(without_query.len(), |i| scheme_end + 3 + i);
    let mut result = format!("{}/{database}", &without_query[..authority_end]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

async fn connect(url: &str) -> Result<Client, String> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| e.to_string())?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let (client, connection) =
        config
            .connect(NoTls)
            .await
            .map_err(|e| match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            })?;
    tokio::spawn(async move {
        // Ends when the client is dropped or the server goes away.
        let _ = connection.await;
    });
    Ok(client)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Drops `name`, disconnecting whoever still uses it.
async fn drop_database(client: &Client, name: &str) -> Result<(), String> {
    client
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quoted(name)
        ))
        .await
        .map_err(|e| format!("cannot drop database {name}: {e}"))
}

/// Runs `CREATE DATABASE`, retrying while the template is still in use (a migration
/// connection that has not quite gone yet).
async fn create_database(client: &Client, sql: &str) -> Result<(), String> {
    let mut attempt = 0;
    loop {
        match client.batch_execute(sql).await {
            Ok(()) => return Ok(()),
            Err(error) if error.code() == Some(&SqlState::OBJECT_IN_USE) && attempt < 100 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => return Err(format!("{sql}: {error}")),
        }
    }
}

/// Whether the server runs on this machine (then a process id in a name can be checked).
fn is_loopback(url: &str) -> bool {
    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
        return false;
    };
    !config.get_hosts().is_empty()
        && config.get_hosts().iter().all(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => {
                matches!(name.as_str(), "127.0.0.1" | "localhost" | "::1")
            }
            tokio_postgres::config::Host::Unix(_) => true,
        })
}

/// `<prefix><unix>_<pid>[_…]` → (unix, pid).
fn parse_name<'a>(name: &'a str, prefix: &str) -> Option<(u64, u32, &'a str)> {
    let rest = name.strip_prefix(prefix)?;
    let mut parts = rest.splitn(3, '_');
    let created = parts.next()?.parse().ok()?;
    let pid = parts.next()?.parse().ok()?;
    Some((created, pid, parts.next().unwrap_or("")))
}

/// Removes databases earlier test processes left behind.
async fn sweep(client: &Client, url: &str) {
    let rows = match client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'coffee\\_template\\_%' OR datname LIKE 'coffee\\_test\\_%'",
            &[],
        )
        .await
    {
        Ok(rows) => rows,
        Err(error) => {
            eprintln!("test_db: cannot list stale databases: {error}");
            return;
        }
    };
    let now = unix_now();
    let local = is_loopback(url);
    let me = std::process::id();
    for row in rows {
        let name: String = row.get(0);
        let Some((created, pid, _)) =
            parse_name(&name, TEMPLATE_PREFIX).or_else(|| parse_name(&name, TEST_PREFIX))
        else {
            continue;
        };
        let old = now.saturating_sub(created) > STALE_AFTER.as_secs();
        let orphaned = local && pid != me && !Path::new(&format!("/proc/{pid}")).exists();
        if old || orphaned {
            if let Err(error) = drop_database(client, &name).await {
                eprintln!("test_db: {error}");
            }
        }
    }
}

/// The migrated template of this process: created on first use.
static TEMPLATE: OnceCell<Result<String, Failure>> = OnceCell::const_new();

async fn build_template(url: &str, migrate: Migrate) -> Result<String, Failure> {
    let client = connect(url).await.map_err(Failure::Unreachable)?;
    sweep(&client, url).await;
    let name = format!("{TEMPLATE_PREFIX}{}_{}", unix_now(), std::process::id());
    create_database(&client, &format!("CREATE DATABASE {}", quoted(&name)))
        .await
        .map_err(Failure::Broken)?;
    let template_url = with_database(url, &name);
    let migrated = tokio::task::spawn_blocking(move || migrate(&template_url))
        .await
        .map_err(|e| format!("migration task failed: {e}"))
        .and_then(|result| result);
    if let Err(error) = migrated {
        let _ = drop_database(&client, &name).await;
        return Err(Failure::Broken(format!(
            "migrating the template failed: {error}"
        )));
    }
    // Nobody may connect to it any more: cloning needs it idle.
    client
        .batch_execute(&format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
            quoted(&name)
        ))
        .await
        .map_err(|e| Failure::Broken(e.to_string()))?;
    Ok(name)
}

/// A database that exists for one test and is dropped with this guard.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
    server_url: String,
}

impl TestDb {
    /// A fresh database with every migration applied, cloned from this process' template
    /// (which `migrate` builds on first use). `None`: skipped, Postgres is not reachable.
    pub async fn migrated(migrate: Migrate) -> Option<TestDb> {
        let url = server_url();
        let template = TEMPLATE.get_or_init(|| build_template(&url, migrate)).await;
        let template = match template {
            Ok(name) => name.clone(),
            Err(failure) => return fail(&url, failure),
        };
        Self::create(&url, Some(&template)).await
    }

    /// A fresh, empty database (no migrations). `None`: skipped, Postgres is not reachable.
    pub async fn empty() -> Option<TestDb> {
        Self::create(&server_url(), None).await
    }

    async fn create(url: &str, template: Option<&str>) -> Option<TestDb> {
        let client = match connect(url).await {
            Ok(client) => client,
            Err(error) => return unreachable(url, &error),
        };
        let name = format!(
            "{TEST_PREFIX}{}_{}_{}",
            unix_now(),
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let sql = match template {
            Some(template) => format!(
                "CREATE DATABASE {} TEMPLATE {}",
                quoted(&name),
                quoted(template)
            ),
            None => format!("CREATE DATABASE {}", quoted(&name)),
        };
        if let Err(error) = create_database(&client, &sql).await {
            return fail(url, &Failure::Broken(error));
        }
        Some(TestDb {
            url: with_database(url, &name),
            name,
            server_url: url.to_owned(),
        })
    }

    /// The URL of this test's database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a database of this name exists on the server (to check clean-up).
    pub async fn exists(name: &str) -> bool {
        match connect(&server_url()).await {
            Ok(client) => client
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                .await
                .is_ok_and(|row| row.is_some()),
            Err(_) => false,
        }
    }
}

/// Runs `future` to completion on a fresh thread with its own runtime: usable from `Drop`,
/// inside or outside a runtime.
fn block_on_thread<F: Future<Output = ()> + Send>(future: F) {
    std::thread::scope(|scope| {
        let handle = scope.spawn(|| {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(future),
                Err(error) => {
                    eprintln!("test_db: cannot start a runtime to drop a database: {error}")
                }
            }
        });
        if handle.join().is_err() {
            eprintln!("test_db: dropping a database panicked");
        }
    });
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        block_on_thread(async move {
            match connect(&server_url).await {
                Ok(client) => {
                    if let Err(error) = drop_database(&client, &name).await {
                        eprintln!("test_db: {error}");
                    }
                }
                Err(error) => eprintln!("test_db: cannot drop {name}: {error}"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/postgres?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://h:5432", "x"),
            "postgresql://h:5432/x"
        );
        assert_eq!(
            with_database("postgres://h?connect_timeout=2", "x"),
            "postgres://h/x?connect_timeout=2"
        );
        assert_eq!(
            with_database("host=/tmp user=u", "x"),
            "host=/tmp user=u dbname=x"
        );
    }

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn names_carry_time_and_process() {
        assert_eq!(
            parse_name("coffee_test_1700000000_42_abc", TEST_PREFIX),
            Some((1_700_000_000, 42, "abc"))
        );
        assert_eq!(
            parse_name("coffee_template_1700000000_42", TEMPLATE_PREFIX),
            Some((1_700_000_000, 42, ""))
        );
        assert_eq!(parse_name("coffee_test_x_42", TEST_PREFIX), None);
        assert_eq!(parse_name("other_db", TEST_PREFIX), None);
    }

    #[test]
    fn loopback_servers_are_recognised() {
        assert!(is_loopback("postgres://postgres@127.0.0.1:5432/postgres"));
        assert!(is_loopback("postgres://localhost/db"));
        assert!(!is_loopback("postgres://u@db.internal:5432/postgres"));
    }
}
