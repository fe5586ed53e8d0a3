//! `coffee-pay users …` and `coffee-pay tokens …`: console accounts from the command line,
//! on the database of `DATABASE_URL`.

use super::{auth, AccountError, Console};
use crate::config::Config;
use coffee_adapter_memory::SystemClock;
use coffee_adapter_postgres::PgStore;
use coffee_domain::{MerchantKey, Role};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

pub const USAGE: &str = "\
    coffee-pay users add NAME --role admin|merchant [--merchant KEY]
                                    a console user; the password is read from standard input
                                    (an empty line: a random one, printed once)
    coffee-pay users passwd NAME    a new password (standard input, as above); ends the
                                    user's sessions
    coffee-pay users disable NAME   the user can no longer sign in; ends their sessions
    coffee-pay tokens add NAME --role admin|merchant [--merchant KEY]
                                    a bearer token for /admin/api/v1, printed once";

/// A usage error (exit 2) or a failure (exit 1), with its message.
enum CliError {
    Usage(String),
    Failed(String),
}

impl From<AccountError> for CliError {
    fn from(error: AccountError) -> Self {
        CliError::Failed(error.to_string())
    }
}

fn finish(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(message)) => {
            eprintln!("{message}\n\nUSAGE:\n{USAGE}");
            ExitCode::from(2)
        }
        Err(CliError::Failed(message)) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn console(config: &Config) -> Result<Console, CliError> {
    let Some(database_url) = config.database_url.as_deref() else {
        return Err(CliError::Usage(
            "DATABASE_URL is not set: console accounts live in the database (demo mode prints its own admin at start)".into(),
        ));
    };
    let store = Arc::new(
        PgStore::connect(database_url, 2)
            .await
            .map_err(|e| CliError::Failed(e.to_string()))?,
    );
    Ok(Console {
        accounts: store.clone(),
        audit: store.clone(),
        queries: store,
        clock: Arc::new(SystemClock),
        settings: config.console,
        secure_cookies: false,
    })
}

/// `--role admin|merchant [--merchant KEY]`.
fn role_of(options: &[&str]) -> Result<Role, CliError> {
    let mut role = None;
    let mut merchant = None;
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        let mut value = || {
            rest.next()
                .copied()
                .ok_or_else(|| CliError::Usage(format!("{option} needs a value")))
        };
        match *option {
            "--role" => role = Some(value()?),
            "--merchant" => {
                let key = value()?;
                merchant = Some(
                    MerchantKey::parse(key)
                        .map_err(|e| CliError::Usage(format!("--merchant: {e}")))?,
                );
            }
            other => return Err(CliError::Usage(format!("unknown option {other:?}"))),
        }
    }
    let role = role.ok_or_else(|| CliError::Usage("--role is required".into()))?;
    Role::from_parts(role, merchant).map_err(|e| CliError::Usage(e.to_string()))
}

/// The password from standard input (one line), or a random one when that line is empty;
/// the second value says whether it was generated (and must be printed).
fn password_from_stdin() -> Result<(String, bool), CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password (empty for a random one): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Failed(format!("standard input: {e}")))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        Ok((auth::random_password(), true))
    } else {
        Ok((password, false))
    }
}

/// `coffee-pay users …`.
pub async fn users(config: &Config, args: &[&str]) -> ExitCode {
    finish(users_command(config, args).await)
}

async fn users_command(config: &Config, args: &[&str]) -> Result<(), CliError> {
    match args {
        ["add", name, options @ ..] => {
            let role = role_of(options)?;
            let console = console(config).await?;
            let (password, generated) = password_from_stdin()?;
            let name = console.add_user(name, role.clone(), &password).await?;
            println!("user {name} added ({})", role.code());
            if generated {
                println!("password: {password}\n(shown once; change it with `coffee-pay users passwd {name}`)");
            }
            Ok(())
        }
        ["passwd", name] => {
            let console = console(config).await?;
            let (password, generated) = password_from_stdin()?;
            console.set_password(name, &password).await?;
            println!("password of {name} changed; their sessions ended");
            if generated {
                println!("password: {password}\n(shown once)");
            }
            Ok(())
        }
        ["disable", name] => {
            console(config).await?.disable_user(name).await?;
            println!("user {name} disabled; their sessions ended");
            Ok(())
        }
        _ => Err(CliError::Usage("unknown users command".into())),
    }
}

/// `coffee-pay tokens …`.
pub async fn tokens(config: &Config, args: &[&str]) -> ExitCode {
    finish(tokens_command(config, args).await)
}

async fn tokens_command(config: &Config, args: &[&str]) -> Result<(), CliError> {
    match args {
        ["add", name, options @ ..] => {
            let role = role_of(options)?;
            let token = console(config).await?.add_api_token(name, role).await?;
            println!("API token {name}: {token}\n(shown once; send it as `Authorization: Bearer <token>`)");
            Ok(())
        }
        _ => Err(CliError::Usage("unknown tokens command".into())),
    }
}
