//! The console's ports: users, sessions, API tokens, login attempts and the audit log.

use super::MemoryStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{AccountRepository, AuditLog, AuditQuery, RepositoryError};
use coffee_domain::{
    ApiToken, AuditEntry, LoginAttempt, LoginFailures, Role, Session, User, UserName,
};

impl super::State {
    fn check_merchant(&self, role: &Role) -> Result<(), RepositoryError> {
        match role.merchant() {
            Some(key) if !self.merchants.contains_key(key) => {
                Err(RepositoryError::NotFound(format!("merchant {key}")))
            }
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl AccountRepository for MemoryStore {
    async fn add_user(&self, user: User) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        if state.users.contains_key(&user.name) {
            return Err(RepositoryError::Duplicate(format!("user {}", user.name)));
        }
        state.check_merchant(&user.role)?;
        state.users.insert(user.name.clone(), user);
        Ok(())
    }

    async fn user(&self, name: &UserName) -> Result<Option<User>, RepositoryError> {
        Ok(self.lock()?.users.get(name).cloned())
    }

    async fn users(&self) -> Result<Vec<User>, RepositoryError> {
        Ok(self.lock()?.users.values().cloned().collect())
    }

    async fn set_password(&self, name: &UserName, hash: &str) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        let user = state
            .users
            .get_mut(name)
            .ok_or_else(|| RepositoryError::NotFound(format!("user {name}")))?;
        hash.clone_into(&mut user.password_hash);
        state.sessions.retain(|_, session| &session.user != name);
        Ok(())
    }

    async fn disable_user(&self, name: &UserName) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        let user = state
            .users
            .get_mut(name)
            .ok_or_else(|| RepositoryError::NotFound(format!("user {name}")))?;
        user.disabled = true;
        state.sessions.retain(|_, session| &session.user != name);
        Ok(())
    }

    async fn create_session(&self, session: Session) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        if !state.users.contains_key(&session.user) {
            return Err(RepositoryError::NotFound(format!("user {}", session.user)));
        }
        if state.sessions.contains_key(&session.token_hash) {
            return Err(RepositoryError::Duplicate("session token".into()));
        }
        state.sessions.insert(session.token_hash.clone(), session);
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> Result<Option<Session>, RepositoryError> {
        Ok(self.lock()?.sessions.get(token_hash).cloned())
    }

    async fn touch_session(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        if let Some(session) = self.lock()?.sessions.get_mut(token_hash) {
            session.last_seen_at = at;
        }
        Ok(())
    }

    async fn end_session(&self, token_hash: &str) -> Result<(), RepositoryError> {
        self.lock()?.sessions.remove(token_hash);
        Ok(())
    }

    async fn add_api_token(&self, token: ApiToken) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        if state.api_tokens.contains_key(&token.token_hash)
            || state.api_tokens.values().any(|t| t.name == token.name)
        {
            return Err(RepositoryError::Duplicate(format!(
                "API token {}",
                token.name
            )));
        }
        state.check_merchant(&token.role)?;
        state.api_tokens.insert(token.token_hash.clone(), token);
        Ok(())
    }

    async fn api_token(&self, token_hash: &str) -> Result<Option<ApiToken>, RepositoryError> {
        Ok(self.lock()?.api_tokens.get(token_hash).cloned())
    }

    async fn record_login_attempt(&self, attempt: LoginAttempt) -> Result<(), RepositoryError> {
        self.lock()?.login_attempts.push(attempt);
        Ok(())
    }

    async fn login_failures(
        &self,
        name: &str,
        ip: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<LoginFailures, RepositoryError> {
        let state = self.lock()?;
        let failed = || {
            state
                .login_attempts
                .iter()
                .filter(move |a| !a.succeeded && a.at >= since)
        };
        Ok(LoginFailures {
            by_account: count(failed().filter(|a| a.name == name)),
            by_ip: match ip {
                Some(ip) => count(failed().filter(|a| a.ip.as_deref() == Some(ip))),
                None => 0,
            },
        })
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> u64 {
    u64::try_from(items.count()).unwrap_or(u64::MAX)
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn append(&self, entry: AuditEntry) -> Result<(), RepositoryError> {
        self.lock()?.audit.push(entry);
        Ok(())
    }

    async fn entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, RepositoryError> {
        let state = self.lock()?;
        Ok(state
            .audit
            .iter()
            .rev()
            .filter(|e| query.order_id.is_none_or(|id| e.order_id == Some(id)))
            .filter(|e| {
                query
                    .device
                    .as_ref()
                    .is_none_or(|d| e.device.as_ref() == Some(d))
            })
            .filter(|e| query.actor.as_ref().is_none_or(|a| &e.actor == a))
            .take(query.limit)
            .cloned()
            .collect())
    }
}
