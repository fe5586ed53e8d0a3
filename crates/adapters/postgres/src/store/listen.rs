//! Jobs committed by other processes on the same database wake this one's idle workers: a
//! commit that queues jobs is followed, in the same flight, by `pg_notify('coffee_jobs',
//! '<instance>')` (after the commit, so the notify lock is not held through its WAL flush),
//! and one connection per process `LISTEN`s and rings the store's bell for notices
//! of other instances — its own commits ring the bell directly. While the listening
//! connection is down, workers fall back to their tick; nothing is lost, only later.

use super::{Bell, Listen, PgStore};
use crate::connection::error_chain;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::{AsyncMessage, Client, Connection};

/// The notification channel of committed jobs.
pub(super) const CHANNEL: &str = "coffee_jobs";

impl Listen {
    /// The statement that tells other processes this one committed jobs. The instance is a
    /// UUID of our own making, so it goes into the SQL as it is.
    pub(super) fn notify_jobs(&self) -> String {
        format!("SELECT pg_notify('{CHANNEL}', '{}')", self.instance)
    }
}

impl PgStore {
    /// Starts listening for jobs other processes commit (a task that reconnects with
    /// backoff for as long as the runtime runs). Call once per process, inside a runtime.
    pub fn listen_for_jobs(&self) {
        let (config, tls) = (self.listen.config.clone(), self.listen.tls.clone());
        let (instance, bell) = (self.listen.instance.clone(), self.jobs_committed.clone());
        tokio::spawn(async move {
            let mut backoff = Duration::from_secs(1);
            loop {
                let ended = match tls.as_ref() {
                    None => match config.connect(tokio_postgres::NoTls).await {
                        Ok((client, connection)) => {
                            listen(client, connection, &instance, &bell).await
                        }
                        Err(error) => Err(error),
                    },
                    Some(tls) => match config.connect(tls.clone()).await {
                        Ok((client, connection)) => {
                            listen(client, connection, &instance, &bell).await
                        }
                        Err(error) => Err(error),
                    },
                };
                match ended {
                    Ok(()) => backoff = Duration::from_secs(1),
                    Err(error) => tracing::warn!(
                        error = %error_chain(&error),
                        "not hearing of other processes' jobs; workers fall back to their tick"
                    ),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        });
    }
}

/// Listens on one connection until it ends; rings `bell` for every notice of another
/// instance. Any ring may be spurious: workers only claim, and may find nothing.
async fn listen<S, T>(
    client: Client,
    mut connection: Connection<S, T>,
    instance: &str,
    bell: &Bell,
) -> Result<(), tokio_postgres::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (notices, mut heard) = tokio::sync::mpsc::unbounded_channel();
    // The connection must be polled for the client's statements to run and for notices.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(notice))) => {
                    if notices.send(notice.payload().to_owned()).is_err() {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    tracing::info!("hearing of jobs other processes commit");
    while let Some(from) = heard.recv().await {
        if from != instance {
            bell.ring(1);
        }
    }
    drop(client);
    match driver.await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}
