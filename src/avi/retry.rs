//! What the writer does once the writes of one GslbService have ended. From the controller's answer
//! (no error, or the error's kind) and the failures counted so far comes a verdict: when to look at
//! the GslbService again, whether every write must hold (rate limit, maintenance, not the GSLB
//! leader), and what its status should say; and whether the controller became unreachable or
//! reachable again. Pure, so every error kind and attempt count is tested in one table; the
//! AviActor only carries the verdict out (queue, timers, messages). The recoveries that need no
//! waiting (re-reading a stale or already existing object, re-creating a vanished one) happened
//! in `sync::execute`; what reaches this module is what they could not fix.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use super::error::{AviError, AviErrorKind};
use crate::vocab::{GsKey, Notice};

/// Without a `Retry-After`, a 429 holds every write this long.
pub const RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);
/// By default a 429 never holds writes longer than this, whatever `Retry-After` the controller
/// sent: its answers are untrusted, and a hold of hours would look like a hang. `amko run
/// --max-retry-after-secs` sets another cap.
pub const MAX_RATE_LIMIT_HOLD: Duration = Duration::from_secs(60);
/// ... nor shorter than this (`Retry-After: 0` answered again and again must not make the writer
/// spin; the request budget paces it further).
pub const MIN_RATE_LIMIT_HOLD: Duration = Duration::from_millis(100);
/// After "not the GSLB leader", leadership is checked again this much later ...
pub const LEADER_FIRST_CHECK: Duration = Duration::from_secs(5);
/// ... and then this often until the controller leads again.
pub const LEADER_RECHECK: Duration = Duration::from_secs(10);
/// A failed read of the controller (boot load or refresh) is tried again this much later.
pub const RELOAD_AFTER: Duration = Duration::from_secs(2);

/// Exponential backoff from `min`, doubling up to `max`. With `jitter`, each delay gains up to as
/// much again at random, so GslbServices that failed together do not all retry together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
    pub jitter: bool,
}

impl Backoff {
    /// A name another GslbService still holds is usually let go by a write already queued: retry
    /// soon at first, and at least every 30 s.
    pub const CONFLICT: Backoff = Backoff {
        min: Duration::from_secs(1),
        max: Duration::from_secs(30),
        jitter: false,
    };
    /// Failures that pass by themselves (transport, 5xx, stale object, session, maintenance).
    pub const TRANSIENT: Backoff = Backoff {
        min: Duration::from_millis(200),
        max: Duration::from_secs(60),
        jitter: true,
    };

    /// The delay before retry number `attempt` (1 for the first retry). The jitter is drawn from
    /// `jitter_seed`, so equal seeds give equal delays.
    pub fn delay(&self, attempt: usize, jitter_seed: u64) -> Duration {
        let mut builder = ExponentialBuilder::default()
            .with_min_delay(self.min)
            .with_max_delay(self.max)
            .without_max_times();
        if self.jitter {
            builder = builder.with_jitter().with_jitter_seed(jitter_seed);
        }
        builder
            .build()
            .nth(attempt.saturating_sub(1))
            .unwrap_or(self.max)
    }
}

/// When to look at the GslbService again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Queue it now (it is written as soon as nothing holds writes).
    Now,
    After(Duration),
    /// Not until its desired state changes or the next refresh: the payload itself is wrong.
    Never,
}

/// Whether every write, not only this GslbService's, must wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    No,
    For(Duration),
    /// The controller is not the GSLB leader: no write until it is; check after `recheck_after`.
    UntilLeader {
        recheck_after: Duration,
    },
}

/// What the GslbService's status should say about its writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Keep,
    Clear,
    Report(String),
}

/// What to do after the writes of one GslbService ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteVerdict {
    pub retry: Retry,
    pub hold: Hold,
    pub problem: Problem,
    /// Failures counted for this GslbService's backoff from now on (0: none).
    pub attempts: usize,
    /// The desired state is on the controller; otherwise it is still pending since it was
    /// observed, and the convergence time keeps counting from then.
    pub converged: bool,
}

/// The verdict for the writes of `key`, which ended in `error` (`None`: all succeeded) after
/// `attempts` earlier failures. `jitter_seed` draws the jitter of a transient backoff; a 429's
/// `Retry-After` holds writes for at most `max_rate_limit_hold`.
pub fn decide(
    key: &GsKey,
    error: Option<&AviError>,
    attempts: usize,
    jitter_seed: u64,
    max_rate_limit_hold: Duration,
) -> WriteVerdict {
    let Some(err) = error else {
        // Done. A newer desired state that arrived meanwhile is queued already (the writer
        // keeps a key queued, deferred, while its writes run); looking again regardless put
        // every written GslbService at the back of the queue to be planned a second time.
        return WriteVerdict {
            retry: Retry::Never,
            hold: Hold::No,
            problem: Problem::Clear,
            attempts: 0,
            converged: true,
        };
    };
    let pending = |retry, hold, problem, attempts| WriteVerdict {
        retry,
        hold,
        problem,
        attempts,
        converged: false,
    };
    match err.kind {
        // The controller asked to slow down; the write itself was fine, so it counts no failure.
        AviErrorKind::RateLimited { retry_after } => pending(
            Retry::Now,
            Hold::For(retry_after.unwrap_or(RATE_LIMIT_WAIT).clamp(
                MIN_RATE_LIMIT_HOLD,
                max_rate_limit_hold.max(MIN_RATE_LIMIT_HOLD),
            )),
            Problem::Keep,
            attempts,
        ),
        AviErrorKind::NotLeader => pending(
            Retry::Now,
            Hold::UntilLeader {
                recheck_after: LEADER_FIRST_CHECK,
            },
            Problem::Keep,
            attempts,
        ),
        AviErrorKind::Rejected
        | AviErrorKind::Conflict
        | AviErrorKind::BadResponse
        | AviErrorKind::InvalidCredentials => {
            let problem = Problem::Report(format!("GslbService {key}: {err}"));
            // A name conflict (409, or 400 for a domain name) clears up once the other
            // GslbService lets go of the name; anything else needs a change on our side.
            if err.kind == AviErrorKind::Conflict || err.is_domain_conflict() {
                let attempt = attempts + 1;
                let delay = Backoff::CONFLICT.delay(attempt, jitter_seed);
                pending(Retry::After(delay), Hold::No, problem, attempt)
            } else {
                pending(Retry::Never, Hold::No, problem, attempts)
            }
        }
        AviErrorKind::Transport
        | AviErrorKind::Unauthorized
        | AviErrorKind::Server
        | AviErrorKind::NotFound
        | AviErrorKind::PreconditionFailed
        | AviErrorKind::Maintenance => {
            let attempt = attempts + 1;
            let delay = Backoff::TRANSIENT.delay(attempt, jitter_seed);
            // In maintenance mode every write would fail: all of them wait.
            let hold = if err.kind == AviErrorKind::Maintenance {
                Hold::For(delay)
            } else {
                Hold::No
            };
            pending(Retry::After(delay), hold, Problem::Keep, attempt)
        }
    }
}

/// The Event to raise when a write's outcome changes whether the controller is reachable:
/// `unreachable` is what the last outcomes said. Errors that the controller answered on purpose
/// (4xx) say nothing about reachability.
pub fn reachability(unreachable: bool, error: Option<&AviError>) -> Option<Notice> {
    match error {
        Some(err) if err.kind.is_unreachable() && !unreachable => Some(Notice {
            warning: true,
            reason: "ControllerUnreachable",
            message: format!("controller requests are failing: {err}"),
        }),
        None if unreachable => Some(Notice {
            warning: false,
            reason: "ControllerReachable",
            message: "controller requests succeed again".to_owned(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> GsKey {
        GsKey {
            tenant: "admin".into(),
            fqdn: "a.example.com".into(),
        }
    }

    fn error(kind: AviErrorKind, message: &str) -> AviError {
        AviError {
            kind,
            method: "PUT".into(),
            path: "/api/gslbservice/gs-1".into(),
            status: None,
            message: message.into(),
        }
    }

    const SECOND: Duration = Duration::from_secs(1);
    const MS: Duration = Duration::from_millis(1);

    /// Transient delays for a seed: base doubling from 200 ms, capped at 60 s, plus jitter below
    /// the base (with a millisecond of slack: backon computes in f32 seconds).
    fn transient_bounds(attempt: usize) -> (Duration, Duration) {
        let base = (MS * 200)
            .saturating_mul(1 << (attempt - 1).min(20))
            .min(SECOND * 60);
        (base - MS, base * 2 + MS)
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let conflict: Vec<Duration> = (1..=8).map(|a| Backoff::CONFLICT.delay(a, 7)).collect();
        assert_eq!(
            conflict,
            [1, 2, 4, 8, 16, 30, 30, 30].map(|s| SECOND * s).to_vec()
        );
        assert_eq!(Backoff::CONFLICT.delay(1000, 7), SECOND * 30);
        for seed in [0, 1, 42, u64::MAX] {
            for attempt in [1, 2, 3, 5, 9, 10, 11, 50, 400] {
                let delay = Backoff::TRANSIENT.delay(attempt, seed);
                let (low, high) = transient_bounds(attempt);
                assert!(
                    delay >= low && delay < high,
                    "attempt {attempt} seed {seed}: {delay:?} not in [{low:?}, {high:?})"
                );
                assert_eq!(delay, Backoff::TRANSIENT.delay(attempt, seed), "seeded");
            }
        }
        let unjittered = Backoff {
            jitter: false,
            ..Backoff::TRANSIENT
        };
        // backon computes in f32 seconds: compare whole milliseconds.
        let delays: Vec<u128> = (1..=11)
            .map(|a| unjittered.delay(a, 0).as_millis())
            .collect();
        assert_eq!(
            delays,
            [
                200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000
            ]
        );
    }

    /// Every error kind, first failure and later ones.
    #[test]
    fn verdict_table() {
        use AviErrorKind::*;
        use Hold as H;
        use Problem as P;
        use Retry as R;
        let report = |e: &AviError| P::Report(format!("GslbService admin/a.example.com: {e}"));
        let domain = "domain name conflicting with existing domain name b.example.com";
        // (kind, message, (retry, hold, attempts after) from the attempts before, reports it)
        type Expect = fn(usize) -> (R, H, usize);
        let cases: Vec<(AviErrorKind, &str, Expect, bool)> = vec![
            (
                RateLimited {
                    retry_after: Some(SECOND * 7),
                },
                "",
                |n| (R::Now, H::For(SECOND * 7), n),
                false,
            ),
            (
                RateLimited { retry_after: None },
                "",
                |n| (R::Now, H::For(SECOND), n),
                false,
            ),
            // The controller's answer is untrusted: a huge Retry-After must not stall writes (or
            // overflow the deadline), nor a zero one make the writer spin.
            (
                RateLimited {
                    retry_after: Some(Duration::from_secs(u64::MAX)),
                },
                "",
                |n| (R::Now, H::For(MAX_RATE_LIMIT_HOLD), n),
                false,
            ),
            (
                RateLimited {
                    retry_after: Some(Duration::ZERO),
                },
                "",
                |n| (R::Now, H::For(MIN_RATE_LIMIT_HOLD), n),
                false,
            ),
            (
                NotLeader,
                "",
                |n| {
                    let recheck_after = SECOND * 5;
                    (R::Now, H::UntilLeader { recheck_after }, n)
                },
                false,
            ),
            (
                Conflict,
                "",
                |n| (R::After(Backoff::CONFLICT.delay(n + 1, 9)), H::No, n + 1),
                true,
            ),
            (
                Rejected,
                domain,
                |n| (R::After(Backoff::CONFLICT.delay(n + 1, 9)), H::No, n + 1),
                true,
            ),
            (Rejected, "bad ttl", |n| (R::Never, H::No, n), true),
            (BadResponse, "", |n| (R::Never, H::No, n), true),
            (InvalidCredentials, "", |n| (R::Never, H::No, n), true),
            (
                Maintenance,
                "",
                |n| {
                    let d = Backoff::TRANSIENT.delay(n + 1, 9);
                    (R::After(d), H::For(d), n + 1)
                },
                false,
            ),
        ];
        let transient = [
            Transport,
            Unauthorized,
            Server,
            NotFound,
            PreconditionFailed,
        ]
        .map(|kind| {
            let expect: Expect = |n| (R::After(Backoff::TRANSIENT.delay(n + 1, 9)), H::No, n + 1);
            (kind, "", expect, false)
        });
        for (kind, message, expect, reports) in cases.into_iter().chain(transient) {
            for before in [0, 1, 4, 30] {
                let err = error(kind.clone(), message);
                let verdict = decide(&key(), Some(&err), before, 9, MAX_RATE_LIMIT_HOLD);
                let (retry, hold, after) = expect(before);
                let problem = if reports { report(&err) } else { P::Keep };
                assert_eq!(
                    verdict,
                    WriteVerdict {
                        retry,
                        hold,
                        problem,
                        attempts: after,
                        converged: false
                    },
                    "{kind:?} {message:?} after {before} failures"
                );
            }
        }
        for before in [0, 3] {
            assert_eq!(
                decide(&key(), None, before, 9, MAX_RATE_LIMIT_HOLD),
                WriteVerdict {
                    retry: R::Never,
                    hold: H::No,
                    problem: P::Clear,
                    attempts: 0,
                    converged: true
                }
            );
        }
    }

    #[test]
    fn a_configured_cap_bounds_any_retry_after() {
        let cap = SECOND * 5;
        for (retry_after, held) in [
            (Some(SECOND * 3), SECOND * 3),
            (Some(SECOND * 3600), cap),
            (Some(Duration::from_secs(u64::MAX)), cap),
            (None, RATE_LIMIT_WAIT),
            (Some(Duration::ZERO), MIN_RATE_LIMIT_HOLD),
        ] {
            let err = error(AviErrorKind::RateLimited { retry_after }, "");
            let verdict = decide(&key(), Some(&err), 0, 0, cap);
            assert_eq!(verdict.hold, Hold::For(held), "Retry-After {retry_after:?}");
        }
        // A cap below the floor still holds for the floor: the writer never spins.
        let err = error(AviErrorKind::RateLimited { retry_after: None }, "");
        let verdict = decide(&key(), Some(&err), 0, 0, Duration::ZERO);
        assert_eq!(verdict.hold, Hold::For(MIN_RATE_LIMIT_HOLD));
    }

    #[test]
    fn conflict_retries_grow_then_stay_at_thirty_seconds() {
        let err = error(AviErrorKind::Conflict, "");
        let mut attempts = 0;
        let mut delays = Vec::new();
        for _ in 0..7 {
            let verdict = decide(&key(), Some(&err), attempts, 0, MAX_RATE_LIMIT_HOLD);
            attempts = verdict.attempts;
            if let Retry::After(d) = verdict.retry {
                delays.push(d.as_secs());
            }
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
    }

    /// One error of every kind, so a new kind must be added to these tables.
    fn every_kind() -> [AviErrorKind; 12] {
        use AviErrorKind::*;
        [
            Transport,
            InvalidCredentials,
            Unauthorized,
            RateLimited { retry_after: None },
            Server,
            Conflict,
            NotFound,
            PreconditionFailed,
            NotLeader,
            Maintenance,
            Rejected,
            BadResponse,
        ]
    }

    #[test]
    fn reachability_changes_only_on_transport_and_server_errors() {
        use AviErrorKind::*;
        for kind in every_kind() {
            let err = error(kind.clone(), "connection refused");
            let lost = reachability(false, Some(&err));
            if matches!(kind, Transport | Server) {
                assert_eq!(
                    lost,
                    Some(Notice {
                        warning: true,
                        reason: "ControllerUnreachable",
                        message: "controller requests are failing: PUT /api/gslbservice/gs-1: connection refused".into()
                    })
                );
            } else {
                assert_eq!(lost, None, "{kind:?}");
            }
            assert_eq!(reachability(true, Some(&err)), None, "{kind:?}: still down");
        }
        assert_eq!(reachability(false, None), None);
        assert_eq!(
            reachability(true, None).map(|n| (n.warning, n.reason)),
            Some((false, "ControllerReachable"))
        );
    }

    #[test]
    fn error_classes_label_every_kind() {
        let labels: Vec<&str> = every_kind().iter().map(AviErrorKind::class).collect();
        assert_eq!(
            labels,
            [
                "transport",
                "invalid_credentials",
                "unauthorized",
                "rate_limited",
                "server",
                "conflict",
                "not_found",
                "precondition_failed",
                "not_leader",
                "maintenance",
                "rejected",
                "bad_response"
            ]
        );
    }
}
