//! Faults on demand for one cluster: down (connection refused or 503), latency, a fraction of
//! failing requests, dropping every open watch, 410 Gone on the next watch, and held watches (a
//! watch gap: nothing is delivered until release, then every held watch gets 410 Gone, so clients
//! relist and never see the changes made meanwhile as events).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// How a downed cluster answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Down {
    #[default]
    No,
    /// The listener is closed: connections are refused (per-cluster ports only; on a shared port
    /// the connection is closed without an answer).
    Refused,
    /// Every request gets 503 ServiceUnavailable.
    Unavailable,
}

/// A snapshot of the fault settings, as the control API shows and accepts it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultSettings {
    pub down: Down,
    pub latency_ms: u64,
    /// Fraction (0.0–1.0) of API requests answered with 500.
    pub error_rate: f64,
}

/// The live fault state of one cluster.
pub struct Faults {
    down: watch::Sender<Down>,
    latency_ms: AtomicU64,
    error_rate_ppm: AtomicU64,
    gone_next_watch: AtomicBool,
    /// While true, watches deliver nothing (see [`Faults::hold_watches`]).
    watches_held: watch::Sender<bool>,
    /// Bumped to make every open watch end.
    watch_epoch: watch::Sender<u64>,
    rng: Mutex<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            down: watch::Sender::new(Down::No),
            latency_ms: AtomicU64::new(0),
            error_rate_ppm: AtomicU64::new(0),
            gone_next_watch: AtomicBool::new(false),
            watches_held: watch::Sender::new(false),
            watch_epoch: watch::Sender::new(0),
            rng: Mutex::new(0x9E37_79B9_7F4A_7C15),
        }
    }
}

impl Faults {
    pub fn settings(&self) -> FaultSettings {
        FaultSettings {
            down: *self.down.borrow(),
            latency_ms: self.latency_ms.load(Ordering::Relaxed),
            error_rate: self.error_rate_ppm.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }

    pub fn apply(&self, settings: &FaultSettings) {
        self.set_down(settings.down);
        self.set_latency(Duration::from_millis(settings.latency_ms));
        self.set_error_rate(settings.error_rate);
    }

    pub fn set_down(&self, down: Down) {
        self.down.send_replace(down);
        if down != Down::No {
            self.drop_watches();
        }
    }

    pub fn down(&self) -> Down {
        *self.down.borrow()
    }

    pub fn subscribe_down(&self) -> watch::Receiver<Down> {
        self.down.subscribe()
    }

    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms
            .store(latency.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }

    pub fn set_error_rate(&self, fraction: f64) {
        let ppm = (fraction.clamp(0.0, 1.0) * 1e6) as u64;
        self.error_rate_ppm.store(ppm, Ordering::Relaxed);
    }

    /// Decides whether this request fails (xorshift; no need for a real RNG here).
    pub fn should_fail(&self) -> bool {
        let ppm = self.error_rate_ppm.load(Ordering::Relaxed);
        if ppm == 0 {
            return false;
        }
        let mut state = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let mut x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        x % 1_000_000 < ppm
    }

    pub fn drop_watches(&self) {
        self.watch_epoch.send_modify(|e| *e += 1);
    }

    pub fn subscribe_watch_epoch(&self) -> watch::Receiver<u64> {
        self.watch_epoch.subscribe()
    }

    pub fn set_gone_next_watch(&self) {
        self.gone_next_watch.store(true, Ordering::SeqCst);
    }

    /// Opens a watch gap: every open watch ends, and watches started from now on deliver nothing
    /// (not even bookmarks) until [`Faults::release_watches`]. Lists still answer, so a client sees
    /// the current state only once it relists.
    pub fn hold_watches(&self) {
        self.watches_held.send_replace(true);
        self.drop_watches();
    }

    /// Ends the watch gap: every held watch gets an ERROR event with 410 Gone, as if the history
    /// it would resume from had been compacted meanwhile, so its client relists.
    pub fn release_watches(&self) {
        self.watches_held.send_replace(false);
    }

    pub fn watches_held(&self) -> bool {
        *self.watches_held.borrow()
    }

    pub fn subscribe_watches_held(&self) -> watch::Receiver<bool> {
        self.watches_held.subscribe()
    }

    /// Consumes the "410 on the next watch" flag.
    pub fn take_gone_next_watch(&self) -> bool {
        self.gone_next_watch.swap(false, Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rate_is_roughly_honoured() {
        let faults = Faults::default();
        assert!(!(0..100).any(|_| faults.should_fail()));
        faults.set_error_rate(0.5);
        let failed = (0..10_000).filter(|_| faults.should_fail()).count();
        assert!((4000..6000).contains(&failed), "{failed}");
        faults.set_error_rate(1.0);
        assert!((0..100).all(|_| faults.should_fail()));
    }

    #[test]
    fn holding_watches_drops_the_open_ones_until_released() {
        let faults = Faults::default();
        let mut epoch = faults.subscribe_watch_epoch();
        epoch.mark_unchanged();
        assert!(!faults.watches_held());
        faults.hold_watches();
        assert!(faults.watches_held());
        assert!(epoch.has_changed().unwrap_or(false), "open watches end");
        faults.release_watches();
        assert!(!faults.watches_held());
    }

    #[test]
    fn gone_flag_is_consumed_once() {
        let faults = Faults::default();
        faults.set_gone_next_watch();
        assert!(faults.take_gone_next_watch());
        assert!(!faults.take_gone_next_watch());
    }
}
