//! Unpaid orders become `not_paid` at `expires_at` ([`crate::decisions::expiry::expire`]).

use super::{Committed, Context};
use crate::decisions::expiry::expire;
use crate::ports::RepositoryError;
use std::sync::Arc;

pub struct Expiry {
    ctx: Arc<Context>,
}

impl Expiry {
    pub fn new(ctx: Arc<Context>) -> Self {
        Self { ctx }
    }

    /// Expires up to `limit` due orders; returns how many moved. A pending payment of an
    /// expired order keeps being polled, so a late success is found and refunded.
    #[tracing::instrument(skip(self))]
    pub async fn expire_due(&self, limit: usize) -> Result<usize, RepositoryError> {
        let due = self
            .ctx
            .ports
            .orders
            .due_for_expiry(self.ctx.now(), limit)
            .await?;
        let mut expired = 0;
        for order in due {
            if let Committed::Applied { .. } = self.ctx.commit_retrying(order.id, expire).await? {
                expired += 1;
            }
        }
        Ok(expired)
    }
}
