//! The watchdog behind the liveness probe: every few seconds it gathers the facts of the running
//! pipeline (a heartbeat future on each pipeline thread, `connected()` of each long-lived actor,
//! mailbox depths, the first panic of the process) and lets `amko::liveness` judge them. When the
//! pipeline is dead it logs the cause once at error level and `/healthz` and `/api/status` answer
//! 503 with it, so Kubernetes restarts the pod.
//!
//! A heartbeat is a tiny future spawned on the thread: it runs as soon as the thread is free, so
//! one that waits for longer than the stall threshold means a handler on that thread has not
//! returned for that long, while every actor on the thread has its messages queued behind it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amko::liveness::{ActorFacts, Liveness, PipelineFacts, ThreadFacts, check_interval};

use crate::http::{Endpoints, Pipeline};
use crate::telemetry::Metrics;

/// The first panic of the process: thread name and code location (never the panic's message,
/// which may quote data; the default hook still prints it to stderr).
#[derive(Clone, Default)]
pub struct PanicSlot(Arc<Mutex<Option<(String, String)>>>);

impl PanicSlot {
    fn first(&self) -> Option<(String, String)> {
        self.0.lock().ok().and_then(|first| first.clone())
    }
}

/// Records every panic's thread and location in `slot` (the first one stays), then runs the
/// hook that was installed before. A panicking actor or task is gone for good, and whatever
/// waited for it waits forever: the process must be restarted.
pub fn install_panic_hook(slot: PanicSlot) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_owned();
        let location = info.location().map_or_else(
            || "an unknown location".to_owned(),
            |l| format!("{}:{}:{}", l.file(), l.line(), l.column()),
        );
        if let Ok(mut first) = slot.0.lock() {
            first.get_or_insert((thread, location));
        }
        previous(info);
    }));
}

/// A heartbeat sent to one thread and not seen running yet.
struct Heartbeat {
    sent: Instant,
    ran: Arc<AtomicBool>,
}

/// Watches the pipeline that `endpoints` publishes until the process stops.
pub async fn watch(
    endpoints: Endpoints,
    metrics: Arc<Metrics>,
    threshold: Duration,
    panics: PanicSlot,
    inject: Option<Injection>,
) {
    let mut liveness = Liveness::new(threshold);
    let interval = check_interval(liveness.threshold());
    let mut heartbeats: HashMap<String, Heartbeat> = HashMap::new();
    let mut watched_generation = None;
    let mut inject = inject;
    loop {
        if let Some((thread, location)) = panics.first()
            && let Some(cause) = liveness.panicked(&thread, &location)
        {
            died(&endpoints, &cause);
        }
        let current = endpoints.current_pipeline();
        let generation = current.as_ref().map(|(g, _)| *g);
        if generation != watched_generation {
            // A new pipeline (or none): the heartbeats of the old one say nothing about it.
            heartbeats.clear();
            watched_generation = generation;
        }
        let facts = current
            .as_ref()
            .map(|(_, pipeline)| look_at(pipeline, &metrics, &mut heartbeats));
        // Re-read after looking: a pipeline retired meanwhile stopped on purpose.
        let still_current = endpoints.current_generation() == generation;
        if let Some(cause) = liveness.observe(facts.as_ref(), still_current) {
            died(&endpoints, &cause);
        }
        if let (Some(injection), Some((_, pipeline))) = (&inject, current.as_ref())
            && inject_when_due(injection, pipeline).await
        {
            inject = None;
        }
        tokio::time::sleep(interval).await;
    }
}

fn died(endpoints: &Endpoints, cause: &amko::liveness::Cause) {
    endpoints.set_dead(cause.to_string());
    tracing::error!(%cause, "the pipeline is dead: /healthz and /api/status answer 503 so Kubernetes restarts the pod");
}

/// One look at `pipeline`: answered heartbeats are retired and a new one sent to each thread.
fn look_at(
    pipeline: &Pipeline,
    metrics: &Metrics,
    heartbeats: &mut HashMap<String, Heartbeat>,
) -> PipelineFacts {
    let threads = pipeline
        .threads
        .iter()
        .map(|thread| {
            if heartbeats
                .get(&thread.name)
                .is_some_and(|h| h.ran.load(Ordering::Acquire))
            {
                heartbeats.remove(&thread.name);
            }
            let accepts_work = if heartbeats.contains_key(&thread.name) {
                // Still waiting: a no-op tells whether the thread is gone or just busy.
                thread.handle.spawn(async {})
            } else {
                let ran = Arc::new(AtomicBool::new(false));
                let flag = ran.clone();
                heartbeats.insert(
                    thread.name.clone(),
                    Heartbeat {
                        sent: Instant::now(),
                        ran,
                    },
                );
                thread.handle.spawn(async move {
                    flag.store(true, Ordering::Release);
                })
            };
            ThreadFacts {
                name: thread.name.clone(),
                accepts_work,
                heartbeat_waiting: heartbeats
                    .get(&thread.name)
                    .filter(|h| !h.ran.load(Ordering::Acquire))
                    .map(|h| h.sent.elapsed()),
            }
        })
        .collect();
    let actors = pipeline
        .actors
        .iter()
        .map(|actor| ActorFacts {
            name: actor.name.clone(),
            thread: actor.thread.clone(),
            connected: (actor.connected)(),
            queued: metrics.queued(&actor.name),
        })
        .collect();
    PipelineFacts { threads, actors }
}

/// A fault the end-to-end tests inject into a running pipeline to see the liveness probe fail
/// (`amko run --sim-inject-fault KIND --sim-inject-trigger FILE`). Only in builds with the
/// simulators (feature `sim`); the production image has neither the flags nor this code path.
#[cfg(feature = "sim")]
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectedFault {
    /// Blocks the pipeline thread (as a handler that never returns would).
    Stall,
    /// Stops the pipeline thread (its actors' mailboxes close).
    Stop,
    /// Panics in a task on the pipeline thread.
    Panic,
}

/// When and what to inject: `fault`, once the pipeline has booted and `trigger` exists (so a
/// test sees the healthy pipeline first, then decides when it dies).
#[cfg(feature = "sim")]
#[derive(Clone, Debug)]
pub struct Injection {
    pub fault: InjectedFault,
    pub trigger: std::path::PathBuf,
}

/// Without the simulators there is nothing to inject.
#[cfg(not(feature = "sim"))]
#[derive(Clone, Debug)]
pub enum Injection {}

/// Injects the fault once the pipeline finished its boot sync and the trigger file exists; true
/// when done.
#[cfg(feature = "sim")]
async fn inject_when_due(injection: &Injection, pipeline: &Pipeline) -> bool {
    if !injection.trigger.exists() {
        return false;
    }
    let booted = tokio::time::timeout(
        Duration::from_secs(2),
        pipeline.avi.send(crate::avi_writer::IsBooted),
    )
    .await;
    if !matches!(booted, Ok(Ok(true))) {
        return false;
    }
    let Some(thread) = pipeline.threads.first() else {
        return false;
    };
    tracing::warn!(fault = ?injection.fault, thread = %thread.name, "injecting a fault into the pipeline (--sim-inject-fault)");
    match injection.fault {
        InjectedFault::Stall => {
            thread.handle.spawn(async {
                // Bounded, so even a forgotten process ends its stall.
                std::thread::sleep(Duration::from_secs(3600));
            });
        }
        InjectedFault::Stop => {
            thread.handle.stop();
        }
        InjectedFault::Panic => {
            thread.handle.spawn(async {
                panic!("fault injected by --sim-inject-fault panic");
            });
        }
    }
    true
}

#[cfg(not(feature = "sim"))]
async fn inject_when_due(injection: &Injection, _: &Pipeline) -> bool {
    match *injection {}
}
