//! `coffee-pay import original`: read the original system's database, map it with the
//! domain's rules, write it in one transaction, and say what happened to every row.

use crate::secrets::SecretBox;
use chrono::{DateTime, Utc};
use coffee_adapter_postgres::{read_original_network, OriginalReadError};
use coffee_domain::moving_over::{plan_import, ImportChanges, ImportReport, ImportTools};
use coffee_domain::ports::{NetworkImportTarget, RepositoryError};
use coffee_domain::{FleetChanges, SealedSecret};
use std::fmt::Write as _;
use std::time::Duration;

/// How the import runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Count and report, write nothing.
    pub dry_run: bool,
    /// Write what can be written even when rows were skipped.
    pub allow_skips: bool,
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    pub changes: ImportChanges,
    pub report: ImportReport,
    /// Whether anything was kept (not a dry run, nothing skipped or skips allowed).
    pub written: bool,
}

impl ImportOutcome {
    /// The run succeeded: nothing was skipped, or skips were allowed.
    pub fn is_success(&self, options: ImportOptions) -> bool {
        self.report.skipped.is_empty() || options.allow_skips
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Read(#[from] OriginalReadError),
    #[error("writing the import: {0} (nothing was written)")]
    Write(#[from] RepositoryError),
}

/// Reads the original at `from` and writes it through `target`. With skipped rows and without
/// `allow_skips` nothing is written: the operator fixes the rows (or the fleet file) first.
pub async fn import_original(
    target: &dyn NetworkImportTarget,
    from: &str,
    sealer: &SecretBox,
    options: ImportOptions,
    now: DateTime<Utc>,
) -> Result<ImportOutcome, ImportError> {
    let network = read_original_network(from, Duration::from_secs(60)).await?;
    let seal = |secret: &str| -> Result<SealedSecret, String> {
        sealer.seal(secret).map_err(|e| e.to_string())
    };
    let new_uuid = uuid::Uuid::new_v4;
    let tools = ImportTools {
        seal: &seal,
        new_uuid: &new_uuid,
    };
    let (import, report) = plan_import(&network, &tools, now);
    let keep = !options.dry_run && (report.skipped.is_empty() || options.allow_skips);
    let changes = target.import_network(&import, !keep).await?;
    Ok(ImportOutcome {
        changes,
        report,
        written: keep,
    })
}

/// The summary printed at the end: counts per table, then every skipped and changed row.
pub fn summary(outcome: &ImportOutcome, options: ImportOptions) -> String {
    let mut text = String::new();
    let ImportChanges {
        merchants,
        devices,
        drinks,
        orders_imported,
        orders_already_there,
        payments_imported,
        jobs_queued,
    } = outcome.changes;
    let report = &outcome.report;
    let _ = writeln!(
        text,
        "{:<12} {:>9} {:>9} {:>10} {:>8}",
        "", "imported", "updated", "unchanged", "skipped"
    );
    let mut fleet_line = |name: &str, table: &str, c: FleetChanges| {
        let _ = writeln!(
            text,
            "{name:<12} {:>9} {:>9} {:>10} {:>8}",
            c.inserted,
            c.updated,
            c.unchanged,
            report.skipped_in(table)
        );
    };
    fleet_line("merchants", "payments_merchant", merchants);
    fleet_line("devices", "payments_device", devices);
    fleet_line("drinks", "payments_drink", drinks);
    let _ = writeln!(
        text,
        "{:<12} {:>9} {:>9} {:>10} {:>8}",
        "orders",
        orders_imported,
        0,
        orders_already_there,
        report.skipped_in("payments_order")
    );
    let _ = writeln!(
        text,
        "{:<12} {:>9}   (credentials skipped: {})",
        "payments",
        payments_imported,
        report.skipped_in("payments_merchantcredentials")
    );
    let _ = writeln!(text, "{:<12} {:>9}", "jobs queued", jobs_queued);
    if !report.skipped.is_empty() {
        let _ = writeln!(text, "\nskipped:");
        for line in &report.skipped {
            let _ = writeln!(text, "  {} {}: {}", line.table, line.key, line.reason);
        }
    }
    if !report.changed.is_empty() {
        let _ = writeln!(text, "\ncarried over with changes:");
        for line in &report.changed {
            let _ = writeln!(text, "  {} {}: {}", line.table, line.key, line.reason);
        }
    }
    let verdict = if outcome.written {
        "written in one transaction"
    } else if options.dry_run {
        "dry run: nothing was written"
    } else {
        "rows were skipped: nothing was written (fix them, or run again with --allow-skips)"
    };
    let _ = writeln!(text, "\n{verdict}");
    text
}
