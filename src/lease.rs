//! Leader election between replicas of one cluster through a `coordination.k8s.io/v1` Lease:
//! a pure decision ([`decide`]) and one election step against the API server
//! ([`LeaseElector::step`]) that creates, renews or takes over the Lease with optimistic
//! concurrency (the `resourceVersion` of the Lease read is sent back, so of two replicas racing for
//! an expired Lease exactly one wins and the other sees 409 Conflict).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{PostParams, ResourceExt};
use kube::{Api, Client};

/// Why an election step could not be completed (the caller retries; see [`LeaseElector::step`]).
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("cannot read Lease {namespace}/{name}: {source}")]
    Read {
        namespace: String,
        name: String,
        source: kube::Error,
    },
    #[error("cannot write Lease {namespace}/{name}: {source}")]
    Write {
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

/// What a replica should do with the Lease it read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// We hold it: write a fresh `renewTime`.
    Renew,
    /// Nobody holds it, or the holder stopped renewing for longer than `leaseDurationSeconds`.
    TakeOver,
    /// Someone else holds it and renewed it in time.
    Wait { holder: String },
}

/// Decides from a Lease's spec, our identity and how long the Lease has been unchanged as this
/// replica observed it. Like client-go, expiry is measured on our own clock from the moment we
/// saw the holder's last renewal, never by comparing its `renewTime` with our clock, so clock skew
/// between nodes cannot make two replicas lead at once. A Lease without `leaseDurationSeconds`
/// uses `default_duration`; one without holder or `renewTime` is free.
pub fn decide(
    spec: &LeaseSpec,
    identity: &str,
    unchanged_for: Duration,
    default_duration: Duration,
) -> Decision {
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() || spec.renew_time.is_none() {
        return Decision::TakeOver;
    }
    if holder == identity {
        return Decision::Renew;
    }
    let duration = spec
        .lease_duration_seconds
        .filter(|s| *s > 0)
        .map_or(default_duration, |s| Duration::from_secs(s as u64));
    if unchanged_for > duration {
        Decision::TakeOver
    } else {
        Decision::Wait {
            holder: holder.to_owned(),
        }
    }
}

/// The spec a replica writes after `decision` on a Lease whose spec was `spec`: a renewal, or for a
/// takeover also our identity, the acquire time and one more transition (`Wait` writes nothing,
/// and leaves `spec` as it is). Public for the fuzz target (`crate::fuzzing::lease`).
pub fn spec_to_write(
    mut spec: LeaseSpec,
    decision: &Decision,
    identity: &str,
    now: Timestamp,
    duration_seconds: i32,
) -> LeaseSpec {
    match decision {
        Decision::Wait { .. } => {}
        Decision::Renew => {
            spec.renew_time = Some(MicroTime(now));
            spec.lease_duration_seconds = Some(duration_seconds);
        }
        Decision::TakeOver => {
            spec.holder_identity = Some(identity.to_owned());
            spec.acquire_time = Some(MicroTime(now));
            spec.renew_time = Some(MicroTime(now));
            spec.lease_duration_seconds = Some(duration_seconds);
            // The count comes from the cluster: at i32::MAX it stays there rather than overflow.
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
    }
    spec
}

/// The outcome of one election step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseState {
    /// We hold the Lease: a standby waits `leaseDurationSeconds` after it sees this renewal.
    Held,
    /// Another replica holds it (empty when we lost a race and do not know to whom yet).
    Standby { holder: String },
}

/// One replica's view of one Lease.
pub struct LeaseElector {
    api: Api<Lease>,
    namespace: String,
    name: String,
    identity: String,
    duration: Duration,
    /// The Lease's last seen resourceVersion and when we first saw it.
    observed: Mutex<Option<(String, Instant)>>,
}

impl LeaseElector {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        LeaseElector {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration,
            observed: Mutex::new(None),
        }
    }

    /// How long the Lease has had resourceVersion `version`, on our clock.
    fn unchanged_for(&self, version: &str) -> Duration {
        let mut observed = self.observed.lock().unwrap_or_else(|p| p.into_inner());
        match observed.as_ref() {
            Some((seen, at)) if seen == version => at.elapsed(),
            _ => {
                *observed = Some((version.to_owned(), Instant::now()));
                Duration::ZERO
            }
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    fn read_error(&self, source: kube::Error) -> LeaseError {
        LeaseError::Read {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source,
        }
    }

    fn write_error(&self, source: kube::Error) -> LeaseError {
        LeaseError::Write {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source,
        }
    }

    fn duration_seconds(&self) -> i32 {
        self.duration.as_secs().clamp(1, i32::MAX as u64) as i32
    }

    /// Reads the Lease and creates, renews or takes it over when [`decide`] says so. A write that
    /// loses a race (409) means another replica won: the result is `Standby`.
    pub async fn step(&self) -> Result<LeaseState, LeaseError> {
        let now = Timestamp::now();
        let Some(mut lease) = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.read_error(e))?
        else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    namespace: Some(self.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(self.duration_seconds()),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(LeaseState::Held),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(LeaseState::Standby {
                    holder: String::new(),
                }),
                Err(e) => Err(self.write_error(e)),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let unchanged_for = self.unchanged_for(&lease.resource_version().unwrap_or_default());
        let decision = decide(&spec, &self.identity, unchanged_for, self.duration);
        if let Decision::Wait { holder } = decision {
            return Ok(LeaseState::Standby { holder });
        }
        lease.spec = Some(spec_to_write(
            spec,
            &decision,
            &self.identity,
            now,
            self.duration_seconds(),
        ));
        // `lease` still carries the resourceVersion we read: a concurrent writer makes this a 409.
        match self
            .api
            .replace(&lease.name_any(), &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(LeaseState::Held),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(LeaseState::Standby {
                holder: String::new(),
            }),
            Err(e) => Err(self.write_error(e)),
        }
    }

    /// Gives the Lease up (graceful shutdown) so a standby takes over without waiting for it to
    /// expire. Only clears it while we still hold it.
    pub async fn release(&self) -> Result<(), LeaseError> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.read_error(e))?
        else {
            return Ok(());
        };
        let mut spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        lease.spec = Some(spec);
        self.api
            .replace(&lease.name_any(), &PostParams::default(), &lease)
            .await
            .map(|_| ())
            .map_err(|e| self.write_error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(holder: &str, duration: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            renew_time: Some(MicroTime(Timestamp::UNIX_EPOCH)),
            lease_duration_seconds: Some(duration),
            ..LeaseSpec::default()
        }
    }

    const DEFAULT: Duration = Duration::from_secs(15);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// Found by review during the fuzzing campaign (docs/fuzzing.md); the input is
    /// fuzz/corpus/lease/transitions-at-i32-max.json.
    #[test]
    fn taking_over_a_lease_at_the_largest_transition_count_does_not_overflow() {
        let worn = LeaseSpec {
            lease_transitions: Some(i32::MAX),
            ..held_by("gone", 1)
        };
        let decision = decide(&worn, "a", secs(2), DEFAULT);
        assert_eq!(decision, Decision::TakeOver);
        let written = spec_to_write(worn, &decision, "a", Timestamp::UNIX_EPOCH, 15);
        assert_eq!(written.holder_identity.as_deref(), Some("a"));
        assert_eq!(written.lease_transitions, Some(i32::MAX));
        let fresh = spec_to_write(
            held_by("gone", 1),
            &decision,
            "a",
            Timestamp::UNIX_EPOCH,
            15,
        );
        assert_eq!(fresh.lease_transitions, Some(1));
    }

    #[test]
    fn our_own_lease_is_renewed_even_when_expired() {
        assert_eq!(
            decide(&held_by("a", 10), "a", secs(100), DEFAULT),
            Decision::Renew
        );
    }

    #[test]
    fn a_foreign_lease_is_waited_for_until_unchanged_for_its_duration() {
        // renewTime is far in the past on our clock: skew does not matter, observation does.
        let spec = held_by("a", 10);
        assert_eq!(
            decide(&spec, "b", secs(10), DEFAULT),
            Decision::Wait {
                holder: "a".to_owned()
            }
        );
        assert_eq!(decide(&spec, "b", secs(11), DEFAULT), Decision::TakeOver);
    }

    #[test]
    fn an_empty_holder_or_missing_renew_time_is_free() {
        let mut spec = held_by("", 10);
        assert_eq!(decide(&spec, "b", secs(0), DEFAULT), Decision::TakeOver);
        spec = held_by("a", 10);
        spec.renew_time = None;
        assert_eq!(decide(&spec, "b", secs(0), DEFAULT), Decision::TakeOver);
    }

    #[test]
    fn a_lease_without_duration_uses_the_default() {
        let mut spec = held_by("a", 0);
        spec.lease_duration_seconds = None;
        assert!(matches!(
            decide(&spec, "b", secs(15), DEFAULT),
            Decision::Wait { .. }
        ));
        assert_eq!(decide(&spec, "b", secs(16), DEFAULT), Decision::TakeOver);
    }
}
