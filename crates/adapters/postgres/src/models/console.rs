//! Console rows: users, sessions, API tokens, login attempts, audit lines.

use super::id;
use crate::error::StoreError;
use crate::schema::{
    console_api_tokens, console_audit, console_login_attempts, console_sessions, console_users,
};
use chrono::{DateTime, Utc};
use coffee_domain::{
    ApiToken, AuditEntry, DeviceUuid, LoginAttempt, MerchantKey, OrderId, Role, Session, User,
    UserName,
};
use diesel::prelude::*;
use uuid::Uuid;

fn role(code: &str, merchant: Option<&str>) -> Result<Role, StoreError> {
    let merchant = merchant.map(MerchantKey::parse).transpose();
    Role::from_parts(code, id(merchant)?)
        .map_err(|e| StoreError::corrupt(format!("stored role refused: {e}")))
}

fn user_name(name: &str) -> Result<UserName, StoreError> {
    id(UserName::parse(name))
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_users, check_for_backend(diesel::pg::Pg))]
pub(crate) struct UserRow {
    pub name: String,
    pub role: String,
    pub merchant_key: Option<String>,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl UserRow {
    pub fn from_domain(user: &User) -> Self {
        Self {
            name: user.name.as_str().to_owned(),
            role: user.role.code().to_owned(),
            merchant_key: user.role.merchant().map(|k| k.as_str().to_owned()),
            password_hash: user.password_hash.clone(),
            disabled: user.disabled,
            created_at: user.created_at,
        }
    }

    pub fn into_domain(self) -> Result<User, StoreError> {
        Ok(User {
            name: user_name(&self.name)?,
            role: role(&self.role, self.merchant_key.as_deref())?,
            password_hash: self.password_hash,
            disabled: self.disabled,
            created_at: self.created_at,
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_sessions, check_for_backend(diesel::pg::Pg))]
pub(crate) struct SessionRow {
    pub token_hash: String,
    pub user_name: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub ip: Option<String>,
}

impl SessionRow {
    pub fn from_domain(session: &Session) -> Self {
        Self {
            token_hash: session.token_hash.clone(),
            user_name: session.user.as_str().to_owned(),
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            ip: session.ip.clone(),
        }
    }

    pub fn into_domain(self) -> Result<Session, StoreError> {
        Ok(Session {
            token_hash: self.token_hash,
            user: user_name(&self.user_name)?,
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            ip: self.ip,
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_api_tokens, check_for_backend(diesel::pg::Pg))]
pub(crate) struct ApiTokenRow {
    pub token_hash: String,
    pub name: String,
    pub role: String,
    pub merchant_key: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl ApiTokenRow {
    pub fn from_domain(token: &ApiToken) -> Self {
        Self {
            token_hash: token.token_hash.clone(),
            name: token.name.as_str().to_owned(),
            role: token.role.code().to_owned(),
            merchant_key: token.role.merchant().map(|k| k.as_str().to_owned()),
            disabled: token.disabled,
            created_at: token.created_at,
        }
    }

    pub fn into_domain(self) -> Result<ApiToken, StoreError> {
        Ok(ApiToken {
            token_hash: self.token_hash,
            name: user_name(&self.name)?,
            role: role(&self.role, self.merchant_key.as_deref())?,
            disabled: self.disabled,
            created_at: self.created_at,
        })
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = console_login_attempts, check_for_backend(diesel::pg::Pg))]
pub(crate) struct NewLoginAttemptRow<'a> {
    pub at: DateTime<Utc>,
    pub name: &'a str,
    pub ip: Option<&'a str>,
    pub succeeded: bool,
}

impl<'a> NewLoginAttemptRow<'a> {
    pub fn from_domain(attempt: &'a LoginAttempt) -> Self {
        Self {
            at: attempt.at,
            name: &attempt.name,
            ip: attempt.ip.as_deref(),
            succeeded: attempt.succeeded,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = console_audit, check_for_backend(diesel::pg::Pg))]
pub(crate) struct NewAuditRow<'a> {
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub ip: Option<&'a str>,
    pub order_id: Option<Uuid>,
    pub device_uuid: Option<&'a str>,
    pub detail: &'a str,
}

impl<'a> NewAuditRow<'a> {
    pub fn from_domain(entry: &'a AuditEntry) -> Self {
        Self {
            at: entry.at,
            actor: &entry.actor,
            action: &entry.action,
            ip: entry.ip.as_deref(),
            order_id: entry.order_id.map(|id| id.as_uuid()),
            device_uuid: entry.device.as_ref().map(DeviceUuid::as_str),
            detail: &entry.detail,
        }
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = console_audit, check_for_backend(diesel::pg::Pg))]
pub(crate) struct AuditRow {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub ip: Option<String>,
    pub order_id: Option<Uuid>,
    pub device_uuid: Option<String>,
    pub detail: String,
}

impl AuditRow {
    pub fn into_domain(self) -> Result<AuditEntry, StoreError> {
        Ok(AuditEntry {
            at: self.at,
            actor: self.actor,
            action: self.action,
            ip: self.ip,
            order_id: self.order_id.map(OrderId::from_uuid),
            device: id(self
                .device_uuid
                .as_deref()
                .map(DeviceUuid::parse)
                .transpose())?,
            detail: self.detail,
        })
    }
}
