//! Injected faults that sit in front of every API request: added latency, a fraction of
//! server errors, and a full outage; and slow list answers (a collection GET answered late, after
//! the collection was read, so the answer is stale by the time it arrives). (Follower and maintenance modes live in the GSLB
//! configuration object itself; see `writes::set_follower` / `set_maintenance`.)

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ids;

#[derive(Debug)]
pub struct Faults {
    latency_micros: AtomicU64,
    /// Added to collection GETs after the collection was read.
    list_delay_micros: AtomicU64,
    /// Fraction of requests answered with `error_status`, as f64 bits.
    error_fraction_bits: AtomicU64,
    error_status: AtomicU16,
    outage: AtomicBool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_micros: AtomicU64::new(0),
            list_delay_micros: AtomicU64::new(0),
            error_fraction_bits: AtomicU64::new(0f64.to_bits()),
            error_status: AtomicU16::new(500),
            outage: AtomicBool::new(false),
        }
    }
}

/// What the fault layer decides for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultVerdict {
    Pass,
    Outage,
    Error(u16),
}

/// The injected-fault settings (part of the `/sim/faults` document).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultSettings {
    pub latency_ms: u64,
    pub list_delay_ms: u64,
    pub error_fraction: f64,
    pub error_status: u16,
    pub outage: bool,
}

impl Faults {
    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_micros.load(Ordering::Relaxed))
    }

    pub fn set_latency(&self, latency: Duration) {
        self.latency_micros.store(
            u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// How late a collection GET is answered after the collection was read.
    pub fn list_delay(&self) -> Duration {
        Duration::from_micros(self.list_delay_micros.load(Ordering::Relaxed))
    }

    pub fn set_list_delay(&self, delay: Duration) {
        self.list_delay_micros.store(
            u64::try_from(delay.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// `fraction` is clamped to [0, 1]; `status` must be a 5xx code (others become 500).
    pub fn set_errors(&self, fraction: f64, status: u16) {
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.error_fraction_bits
            .store(fraction.to_bits(), Ordering::Relaxed);
        let status = if (500..600).contains(&status) {
            status
        } else {
            500
        };
        self.error_status.store(status, Ordering::Relaxed);
    }

    pub fn set_outage(&self, outage: bool) {
        self.outage.store(outage, Ordering::Relaxed);
    }

    pub fn settings(&self) -> FaultSettings {
        FaultSettings {
            latency_ms: u64::try_from(self.latency().as_millis()).unwrap_or(u64::MAX),
            list_delay_ms: u64::try_from(self.list_delay().as_millis()).unwrap_or(u64::MAX),
            error_fraction: f64::from_bits(self.error_fraction_bits.load(Ordering::Relaxed)),
            error_status: self.error_status.load(Ordering::Relaxed),
            outage: self.outage.load(Ordering::Relaxed),
        }
    }

    pub fn verdict(&self) -> FaultVerdict {
        if self.outage.load(Ordering::Relaxed) {
            return FaultVerdict::Outage;
        }
        let fraction = f64::from_bits(self.error_fraction_bits.load(Ordering::Relaxed));
        if fraction > 0.0 && (fraction >= 1.0 || ids::unit_random() < fraction) {
            return FaultVerdict::Error(self.error_status.load(Ordering::Relaxed));
        }
        FaultVerdict::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_settings() {
        let faults = Faults::default();
        assert_eq!(faults.verdict(), FaultVerdict::Pass);
        faults.set_errors(1.0, 503);
        assert_eq!(faults.verdict(), FaultVerdict::Error(503));
        faults.set_errors(0.0, 42);
        assert_eq!(faults.settings().error_status, 500);
        faults.set_outage(true);
        assert_eq!(faults.verdict(), FaultVerdict::Outage);
    }
}
