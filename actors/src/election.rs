//! `--leader-elect`: runs the Lease election ([`amko::lease`]) in the background and publishes
//! whether this replica holds the Lease. A holder that cannot renew for two thirds of the lease
//! duration reports itself as not holding it, so it stops writing before a standby, which waits
//! for the full duration, takes over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use amko::gate::LeaseView;
use amko::lease::{LeaseElector, LeaseState};
use tokio::sync::watch;

use crate::telemetry::Metrics;

/// Starts the election loop on the current actix arbiter; the receiver follows the Lease.
pub fn spawn(elector: Arc<LeaseElector>, metrics: Arc<Metrics>) -> watch::Receiver<LeaseView> {
    let (tx, rx) = watch::channel(LeaseView::Standby {
        holder: String::new(),
    });
    let duration = elector.duration();
    // Client-go's defaults keep the same ratios: retry every duration/5, give up after 2/3.
    let retry = (duration / 5).max(Duration::from_millis(200));
    let renew_deadline = duration * 2 / 3;
    actix::spawn(async move {
        let mut renewed_at: Option<Instant> = None;
        loop {
            let started = Instant::now();
            let view = match tokio::time::timeout(retry, elector.step()).await {
                Ok(Ok(LeaseState::Held)) => {
                    renewed_at = Some(started);
                    Some(LeaseView::Held)
                }
                Ok(Ok(LeaseState::Standby { holder })) => {
                    renewed_at = None;
                    Some(LeaseView::Standby { holder })
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "leader election step failed");
                    None
                }
                Err(_) => {
                    tracing::warn!(lease = %elector.name(), "leader election step timed out");
                    None
                }
            };
            let view = view.unwrap_or_else(|| match renewed_at {
                Some(at) if at.elapsed() < renew_deadline => LeaseView::Held,
                _ => {
                    renewed_at = None;
                    LeaseView::Standby {
                        holder: String::new(),
                    }
                }
            });
            let holder = match &view {
                LeaseView::Held => elector.identity().to_owned(),
                LeaseView::Standby { holder } => holder.clone(),
                LeaseView::NotElecting => String::new(),
            };
            metrics.set_lease_holder(&holder);
            tx.send_if_modified(|current| {
                if *current == view {
                    return false;
                }
                match &view {
                    LeaseView::Held => {
                        tracing::info!(lease = %elector.name(), identity = %elector.identity(), "acquired the lease: this replica leads")
                    }
                    LeaseView::Standby { holder } => {
                        tracing::info!(lease = %elector.name(), %holder, "standby: another replica holds the lease")
                    }
                    LeaseView::NotElecting => {}
                }
                *current = view;
                true
            });
            tokio::time::sleep(retry.saturating_sub(started.elapsed())).await;
        }
    });
    rx
}

/// A receiver that always says "may lead" (no `--leader-elect`); it never changes.
pub fn not_electing() -> watch::Receiver<LeaseView> {
    watch::channel(LeaseView::NotElecting).1
}
