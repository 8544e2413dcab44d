//! Is the operator's pipeline alive? The judgement behind the liveness probe: from what the
//! watchdog in amko-actors saw of the pipeline's threads and long-lived actors (a heartbeat future
//! per thread, `connected()` per actor, mailbox depths) it says whether Kubernetes should restart
//! the pod, and why. Pure: the watchdog gathers the facts, this module decides.
//!
//! Dead means the process can no longer do its job and only a restart brings it back: a panic
//! anywhere (a panicking actor or task is gone for good, and others wait for it), a pipeline
//! thread that stopped, a long-lived actor whose mailbox closed, or a pipeline thread that left a
//! heartbeat unanswered for longer than the stall threshold (a handler that never returns blocks
//! every actor on that thread while their messages queue up). An instance without a pipeline (a
//! follower, a standby replica, a pipeline restarting after a GSLBConfig edit, or one waiting for
//! a GSLBConfig or for the controller) is alive: it is idle on purpose. A slow or silent
//! controller is not death either: the writer's requests time out and are retried, and a restart
//! would not make the controller answer. Death is final: the verdict never goes back to alive.

use std::fmt;
use std::time::Duration;

/// The default stall threshold: generous, because a false verdict restarts a working operator.
pub const DEFAULT_STALL_THRESHOLD: Duration = Duration::from_secs(180);

/// What the watchdog saw of one thread (actix arbiter) of the running pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadFacts {
    pub name: String,
    /// The thread accepted the watchdog's heartbeat (false: it has stopped).
    pub accepts_work: bool,
    /// How long the oldest heartbeat sent to it has waited to run (`None`: none is waiting).
    pub heartbeat_waiting: Option<Duration>,
}

/// What the watchdog saw of one long-lived actor of the running pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorFacts {
    /// The actor instance, as `/debug/actors` names it (`selection/world`, `cluster/east`).
    pub name: String,
    /// The thread it runs on (a name of [`ThreadFacts`]).
    pub thread: String,
    /// Its mailbox is open.
    pub connected: bool,
    /// Messages sent to it and not handled yet.
    pub queued: u64,
}

/// One look at the running pipeline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineFacts {
    pub threads: Vec<ThreadFacts>,
    pub actors: Vec<ActorFacts>,
}

/// Why the pipeline is dead. Names threads, actors and code locations only: nothing from the
/// objects or credentials it handles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    Panicked {
        thread: String,
        location: String,
    },
    ThreadStopped {
        thread: String,
    },
    ActorStopped {
        actor: String,
    },
    Stalled {
        thread: String,
        waited: Duration,
        threshold: Duration,
        /// Actors on that thread with messages waiting, and how many.
        queued: Vec<(String, u64)>,
    },
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Panicked { thread, location } => {
                write!(f, "a panic on thread {thread} at {location}")
            }
            Cause::ThreadStopped { thread } => write!(f, "pipeline thread {thread} stopped"),
            Cause::ActorStopped { actor } => write!(f, "actor {actor} stopped (mailbox closed)"),
            Cause::Stalled {
                thread,
                waited,
                threshold,
                queued,
            } => {
                write!(
                    f,
                    "pipeline thread {thread} stalled: a heartbeat waited {}s (threshold {}s)",
                    waited.as_secs(),
                    threshold.as_secs()
                )?;
                if !queued.is_empty() {
                    let queued: Vec<String> = queued
                        .iter()
                        .map(|(actor, n)| format!("{actor}: {n}"))
                        .collect();
                    write!(f, "; messages waiting: {}", queued.join(", "))?;
                }
                Ok(())
            }
        }
    }
}

/// The liveness verdict of one process, updated by the watchdog.
#[derive(Clone, Debug)]
pub struct Liveness {
    threshold: Duration,
    dead: Option<Cause>,
}

impl Liveness {
    /// `threshold`: how long a pipeline thread may leave a heartbeat waiting (at least 1 s).
    pub fn new(threshold: Duration) -> Self {
        Liveness {
            threshold: threshold.max(Duration::from_secs(1)),
            dead: None,
        }
    }

    pub fn threshold(&self) -> Duration {
        self.threshold
    }

    /// The cause of death, if the pipeline died.
    pub fn dead(&self) -> Option<&Cause> {
        self.dead.as_ref()
    }

    /// A panic happened. Returns the cause when this made the process dead (log it then, once).
    pub fn panicked(&mut self, thread: &str, location: &str) -> Option<Cause> {
        self.die(Cause::Panicked {
            thread: thread.to_owned(),
            location: location.to_owned(),
        })
    }

    /// Judges one look at the pipeline. `facts` is `None` when no pipeline runs (idle, standby,
    /// restarting: alive). `still_current` is false when the pipeline the facts were gathered
    /// from was replaced or retired meanwhile (a GSLBConfig edit, leadership lost): its stopped
    /// threads are the restart's doing, not a death. Returns the cause when this look made the
    /// process dead (log it then, once).
    pub fn observe(&mut self, facts: Option<&PipelineFacts>, still_current: bool) -> Option<Cause> {
        let facts = facts.filter(|_| still_current)?;
        let cause = judge(facts, self.threshold)?;
        self.die(cause)
    }

    fn die(&mut self, cause: Cause) -> Option<Cause> {
        if self.dead.is_some() {
            return None;
        }
        self.dead = Some(cause.clone());
        Some(cause)
    }
}

/// The first reason `facts` show a dead pipeline: a stopped thread, then a stopped actor, then a
/// stalled thread.
pub fn judge(facts: &PipelineFacts, threshold: Duration) -> Option<Cause> {
    if let Some(t) = facts.threads.iter().find(|t| !t.accepts_work) {
        return Some(Cause::ThreadStopped {
            thread: t.name.clone(),
        });
    }
    if let Some(a) = facts.actors.iter().find(|a| !a.connected) {
        return Some(Cause::ActorStopped {
            actor: a.name.clone(),
        });
    }
    let (thread, waited) = facts
        .threads
        .iter()
        .filter_map(|t| t.heartbeat_waiting.map(|w| (t, w)))
        .filter(|(_, waited)| *waited >= threshold)
        .max_by_key(|(_, waited)| *waited)?;
    let queued = facts
        .actors
        .iter()
        .filter(|a| a.thread == thread.name && a.queued > 0)
        .map(|a| (a.name.clone(), a.queued))
        .collect();
    Some(Cause::Stalled {
        thread: thread.name.clone(),
        waited,
        threshold,
        queued,
    })
}

/// How often the watchdog should look: often enough to see a stall soon after the threshold,
/// rarely enough to cost nothing (between 1 and 10 s).
pub fn check_interval(threshold: Duration) -> Duration {
    (threshold / 4).clamp(Duration::from_secs(1), Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn thread(name: &str, accepts_work: bool, waiting: Option<u64>) -> ThreadFacts {
        ThreadFacts {
            name: name.into(),
            accepts_work,
            heartbeat_waiting: waiting.map(Duration::from_secs),
        }
    }

    fn actor(name: &str, thread: &str, connected: bool, queued: u64) -> ActorFacts {
        ActorFacts {
            name: name.into(),
            thread: thread.into(),
            connected,
            queued,
        }
    }

    fn healthy() -> PipelineFacts {
        PipelineFacts {
            threads: vec![
                thread("pipeline", true, Some(2)),
                thread("policy", true, None),
            ],
            actors: vec![
                actor("selection/world", "pipeline", true, 3),
                actor("avi/writer", "pipeline", true, 0),
                actor("policy/watcher", "policy", true, 0),
            ],
        }
    }

    #[test]
    fn judges_each_kind_of_death_and_names_it() {
        type Change = Box<dyn Fn(&mut PipelineFacts)>;
        let cases: Vec<(&str, Change, Option<&str>)> = vec![
            ("healthy", Box::new(|_| {}), None),
            (
                "busy but under the threshold",
                Box::new(|f| f.threads[0].heartbeat_waiting = Some(MIN - Duration::from_millis(1))),
                None,
            ),
            (
                "stalled",
                Box::new(|f| f.threads[0].heartbeat_waiting = Some(MIN + MIN)),
                Some(
                    "pipeline thread pipeline stalled: a heartbeat waited 120s (threshold 60s); messages waiting: selection/world: 3",
                ),
            ),
            (
                "stalled with nothing counted in the mailboxes",
                Box::new(|f| f.threads[1].heartbeat_waiting = Some(MIN)),
                Some("pipeline thread policy stalled: a heartbeat waited 60s (threshold 60s)"),
            ),
            (
                "actor stopped",
                Box::new(|f| f.actors[1].connected = false),
                Some("actor avi/writer stopped (mailbox closed)"),
            ),
            (
                "thread stopped beats its stopped actors",
                Box::new(|f| {
                    f.threads[1].accepts_work = false;
                    f.actors[2].connected = false;
                }),
                Some("pipeline thread policy stopped"),
            ),
        ];
        for (name, change, want) in cases {
            let mut facts = healthy();
            change(&mut facts);
            let got = judge(&facts, MIN).map(|c| c.to_string());
            assert_eq!(got.as_deref(), want, "{name}");
        }
    }

    #[test]
    fn the_longest_stall_is_the_one_reported() {
        let mut facts = healthy();
        facts.threads[0].heartbeat_waiting = Some(MIN * 2);
        facts.threads[1].heartbeat_waiting = Some(MIN * 5);
        match judge(&facts, MIN) {
            Some(Cause::Stalled { thread, waited, .. }) => {
                assert_eq!((thread.as_str(), waited), ("policy", MIN * 5));
            }
            other => panic!("expected a stall, got {other:?}"),
        }
    }

    #[test]
    fn no_pipeline_is_alive_and_a_replaced_one_is_not_judged() {
        let mut liveness = Liveness::new(MIN);
        assert_eq!(liveness.observe(None, true), None);
        let mut stopped = healthy();
        stopped.threads[0].accepts_work = false;
        stopped.actors[0].connected = false;
        // The operator restarted the pipeline (GSLBConfig edit) while the watchdog looked.
        assert_eq!(liveness.observe(Some(&stopped), false), None);
        assert!(liveness.dead().is_none());
        assert_eq!(
            liveness.observe(Some(&stopped), true),
            Some(Cause::ThreadStopped {
                thread: "pipeline".into()
            })
        );
    }

    #[test]
    fn death_is_reported_once_and_is_final() {
        let mut liveness = Liveness::new(MIN);
        assert!(liveness.observe(Some(&healthy()), true).is_none());
        let died = liveness.panicked("actix-rt|system:0|arbiter:1", "actors/src/x.rs:10:5");
        assert_eq!(
            died.map(|c| c.to_string()).as_deref(),
            Some("a panic on thread actix-rt|system:0|arbiter:1 at actors/src/x.rs:10:5")
        );
        let mut stalled = healthy();
        stalled.threads[0].heartbeat_waiting = Some(MIN * 3);
        assert_eq!(liveness.observe(Some(&stalled), true), None, "already dead");
        assert_eq!(liveness.panicked("main", "elsewhere"), None);
        assert!(liveness.observe(Some(&healthy()), true).is_none());
        assert!(
            matches!(liveness.dead(), Some(Cause::Panicked { .. })),
            "the first cause stays"
        );
    }

    #[test]
    fn threshold_and_interval_have_sane_bounds() {
        assert_eq!(
            Liveness::new(Duration::ZERO).threshold(),
            Duration::from_secs(1)
        );
        assert_eq!(
            check_interval(Duration::from_secs(2)),
            Duration::from_secs(1)
        );
        assert_eq!(
            check_interval(Duration::from_secs(20)),
            Duration::from_secs(5)
        );
        assert_eq!(
            check_interval(DEFAULT_STALL_THRESHOLD),
            Duration::from_secs(10)
        );
    }
}
