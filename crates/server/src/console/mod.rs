//! The operator console's accounts: who may sign in, their sessions and API tokens, login
//! throttling and the audit log. The pages and the JSON API are in `routes::admin`; this
//! module is what they (and the `users` / `tokens` commands) share.
//!
//! * `auth` — argon2id hashes, random tokens kept as digests, the CSRF token;
//! * `http` — the session cookie and the request extractors (`Operator` for pages,
//!   `ApiCaller` for the JSON API);
//! * `cli` — `coffee-pay users …` and `coffee-pay tokens …`.

pub mod auth;
pub mod cli;
pub mod http;

use crate::config::ConsoleSettings;
use chrono::Duration;
use coffee_domain::ports::{AccountRepository, AuditLog, Clock, ConsoleQueries, RepositoryError};
use coffee_domain::{
    ApiToken, AuditEntry, DeviceUuid, IdError, LoginAttempt, OrderId, Role, RoleError, Session,
    User, UserName,
};
use std::sync::Arc;

/// The console's ports and settings, shared by every console request.
pub struct Console {
    pub accounts: Arc<dyn AccountRepository>,
    pub audit: Arc<dyn AuditLog>,
    /// The reads across orders the pages and the API list.
    pub queries: Arc<dyn ConsoleQueries>,
    pub clock: Arc<dyn Clock>,
    pub settings: ConsoleSettings,
    /// Cookies carry `Secure` (when `BASE_URL` is https).
    pub secure_cookies: bool,
}

/// Who is asking: a signed-in user (with the session's CSRF token) or an API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: UserName,
    pub role: Role,
    /// The session's token digest and CSRF token; `None` for an API token.
    pub session: Option<SessionKeys>,
    /// The client's address, as the edge resolved it.
    pub ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKeys {
    pub token_hash: String,
    pub csrf: String,
}

/// Why an account could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    InvalidName(#[from] IdError),
    #[error("{0}")]
    Role(#[from] RoleError),
    #[error("the password needs at least {} characters", auth::MIN_PASSWORD_CHARS)]
    PasswordTooShort,
    #[error("{0}")]
    Hash(#[from] auth::HashError),
    #[error("{0} already exists")]
    Duplicate(String),
    #[error("no such {0}")]
    NotFound(String),
    #[error("{0}")]
    Storage(RepositoryError),
}

impl From<RepositoryError> for AccountError {
    fn from(error: RepositoryError) -> Self {
        match error {
            RepositoryError::Duplicate(what) => AccountError::Duplicate(what),
            RepositoryError::NotFound(what) => AccountError::NotFound(what),
            other => AccountError::Storage(other),
        }
    }
}

/// Why a login was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Too many failures for this account or from this address lately.
    #[error("locked out")]
    LockedOut,
    /// Unknown name, wrong password or a disabled account: one answer for all three.
    #[error("wrong name or password")]
    WrongCredentials,
    #[error("{0}")]
    Storage(#[from] RepositoryError),
}

/// A new session: the cookie's token (never stored) and its CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf: String,
}

/// Hashes on a blocking thread: argon2id takes tens of milliseconds on purpose.
async fn hash(password: String) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| AccountError::Hash(auth::HashError::from_join(&e)))?
        .map_err(AccountError::Hash)
}

impl auth::HashError {
    fn from_join(error: &tokio::task::JoinError) -> Self {
        auth::HashError::new(error.to_string())
    }
}

fn check_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < auth::MIN_PASSWORD_CHARS {
        return Err(AccountError::PasswordTooShort);
    }
    Ok(())
}

impl Console {
    /// Adds a user with this password (at least [`auth::MIN_PASSWORD_CHARS`] characters).
    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        password: &str,
    ) -> Result<UserName, AccountError> {
        let name = UserName::parse(name)?;
        check_password(password)?;
        let password_hash = hash(password.to_owned()).await?;
        self.accounts
            .add_user(User {
                name: name.clone(),
                role,
                password_hash,
                disabled: false,
                created_at: self.clock.now(),
            })
            .await?;
        Ok(name)
    }

    /// Sets a new password; every session of the user ends.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<(), AccountError> {
        let name = UserName::parse(name)?;
        check_password(password)?;
        let password_hash = hash(password.to_owned()).await?;
        self.accounts.set_password(&name, &password_hash).await?;
        Ok(())
    }

    /// Disables the user; every session of the user ends.
    pub async fn disable_user(&self, name: &str) -> Result<(), AccountError> {
        self.accounts.disable_user(&UserName::parse(name)?).await?;
        Ok(())
    }

    /// A new API token for `name` with `role`; returns the token, shown this once.
    pub async fn add_api_token(&self, name: &str, role: Role) -> Result<String, AccountError> {
        let name = UserName::parse(name)?;
        let token = auth::new_token();
        self.accounts
            .add_api_token(ApiToken {
                token_hash: auth::digest(&token),
                name,
                role,
                created_at: self.clock.now(),
                disabled: false,
            })
            .await?;
        Ok(token)
    }

    /// Checks the password, throttled per account and per address; every attempt is recorded
    /// and audited. A success opens a session.
    pub async fn login(
        &self,
        name: &str,
        password: &str,
        ip: Option<String>,
    ) -> Result<(NewSession, User), LoginError> {
        let now = self.clock.now();
        let since = now - Duration::minutes(self.settings.lockout_minutes);
        let failures = self
            .accounts
            .login_failures(name, ip.as_deref(), since)
            .await?;
        let attempt = |succeeded| LoginAttempt {
            at: now,
            name: name.chars().take(64).collect(),
            ip: ip.clone(),
            succeeded,
        };
        if failures.by_account >= self.settings.max_failures_per_account
            || failures.by_ip >= self.settings.max_failures_per_ip
        {
            self.accounts.record_login_attempt(attempt(false)).await?;
            self.audit_as(
                &attempt(false).name,
                "login_locked_out",
                ip.clone(),
                None,
                None,
                "",
            )
            .await;
            return Err(LoginError::LockedOut);
        }
        let user = match UserName::parse(name) {
            Ok(parsed) => self.accounts.user(&parsed).await?,
            Err(_) => None,
        };
        let password = password.to_owned();
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let matches = tokio::task::spawn_blocking(move || match stored {
            Some(hash) => auth::verify_password(&password, &hash),
            None => {
                auth::verify_nothing(&password);
                false
            }
        })
        .await
        .unwrap_or(false);
        let user = match user {
            Some(user) if matches && !user.disabled => user,
            _ => {
                self.accounts.record_login_attempt(attempt(false)).await?;
                self.audit_as(
                    &attempt(false).name,
                    "login_failed",
                    ip.clone(),
                    None,
                    None,
                    "",
                )
                .await;
                return Err(LoginError::WrongCredentials);
            }
        };
        self.accounts.record_login_attempt(attempt(true)).await?;
        let token = auth::new_token();
        self.accounts
            .create_session(Session {
                token_hash: auth::digest(&token),
                user: user.name.clone(),
                created_at: now,
                last_seen_at: now,
                ip: ip.clone(),
            })
            .await?;
        self.audit_as(user.name.as_str(), "login", ip, None, None, "")
            .await;
        let csrf = auth::csrf_of(&token);
        Ok((NewSession { token, csrf }, user))
    }

    /// The signed-in caller of a session cookie's token: `Ok(None)` when there is no such
    /// session, it has been idle too long (it is ended then), or its user is disabled.
    pub async fn caller_of_session(
        &self,
        token: &str,
        ip: Option<String>,
    ) -> Result<Option<Caller>, RepositoryError> {
        let token_hash = auth::digest(token);
        let Some(session) = self.accounts.session(&token_hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if now - session.last_seen_at > Duration::minutes(self.settings.session_idle_minutes) {
            self.accounts.end_session(&token_hash).await?;
            return Ok(None);
        }
        let Some(user) = self.accounts.user(&session.user).await? else {
            return Ok(None);
        };
        if user.disabled {
            return Ok(None);
        }
        // One write a minute at most per session.
        if now - session.last_seen_at >= Duration::minutes(1) {
            self.accounts.touch_session(&token_hash, now).await?;
        }
        Ok(Some(Caller {
            name: user.name,
            role: user.role,
            session: Some(SessionKeys {
                token_hash,
                csrf: auth::csrf_of(token),
            }),
            ip,
        }))
    }

    /// The caller of an API bearer token: `Ok(None)` when unknown or disabled.
    pub async fn caller_of_token(
        &self,
        token: &str,
        ip: Option<String>,
    ) -> Result<Option<Caller>, RepositoryError> {
        Ok(self
            .accounts
            .api_token(&auth::digest(token))
            .await?
            .filter(|t| !t.disabled)
            .map(|t| Caller {
                name: t.name,
                role: t.role,
                session: None,
                ip,
            }))
    }

    /// Ends the caller's session (logout).
    pub async fn logout(&self, caller: &Caller) -> Result<(), RepositoryError> {
        if let Some(keys) = &caller.session {
            self.accounts.end_session(&keys.token_hash).await?;
        }
        self.audit(caller, "logout", None, None, "").await;
        Ok(())
    }

    /// Appends an audit line for what `caller` did. A failure to write it is logged, never
    /// hidden, and never undoes what was done.
    pub async fn audit(
        &self,
        caller: &Caller,
        action: &str,
        order_id: Option<OrderId>,
        device: Option<DeviceUuid>,
        detail: &str,
    ) {
        self.audit_as(
            caller.name.as_str(),
            action,
            caller.ip.clone(),
            order_id,
            device,
            detail,
        )
        .await;
    }

    async fn audit_as(
        &self,
        actor: &str,
        action: &str,
        ip: Option<String>,
        order_id: Option<OrderId>,
        device: Option<DeviceUuid>,
        detail: &str,
    ) {
        let entry = AuditEntry {
            at: self.clock.now(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            ip,
            order_id,
            device,
            detail: detail.to_owned(),
        };
        if let Err(error) = self.audit.append(entry).await {
            tracing::error!(%error, action, "the audit log could not be written");
        }
    }
}
