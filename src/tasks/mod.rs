//! Background work: jobs written as `tick(now)` on Sesame's clock, and the runner that calls
//! them when they are due.
//!
//! A job says how often it is due in seconds of the [`Clock`], not of the wall: under a
//! [`crate::clock::FixedClock`] nothing becomes due until a test moves the clock, and
//! [`TaskRunner::run_due_now`] then runs what is due before it returns. The runner itself wakes
//! on a short real interval and on any job's own signal (the key ring
//! raises one when a token names a kid it does not know). A failing tick is logged and tried
//! again when next due; it never stops the runner. `serve` and the integration-test server both
//! start the runner, and both stop it when they stop.
//!
//! Adding a job is one line in [`standard`]: `.with(MyJob::new(…))`.

mod delivery;
mod jobs;

pub use delivery::Delivery;
pub use jobs::{KeyReload, KeyRotation, KeyUsageFlush, Purge};

use crate::clock::{Clock, UnixTime};
use crate::keys::{KeyError, KeyManager};
use crate::store::{Store, StoreError};
use async_trait::async_trait;
use futures_util::FutureExt as _;
use futures_util::future::select_all;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify, watch};
use tokio::task::JoinHandle;

/// How often the runner looks at the clock, in real time. Jobs are due by Sesame's clock; this
/// only bounds how late after its due time a job starts.
const WAKE_INTERVAL: Duration = Duration::from_secs(1);

/// Why a tick failed; logged, then the job is tried again when next due.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
}

/// One kind of background work.
#[async_trait]
pub trait Job: Send + Sync {
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// Seconds of Sesame's clock from one run to the next.
    fn period(&self) -> i64;
    /// Whether the first run is when the runner starts (the default) or one period later.
    fn runs_at_start(&self) -> bool {
        true
    }
    /// Whether the job asks to run at `now` although its period is not up yet.
    fn wanted_early(&self, _now: UnixTime) -> bool {
        false
    }
    /// Notified when [`Job::wanted_early`] may have become true, so the runner wakes at once.
    fn wake_signal(&self) -> Option<Arc<Notify>> {
        None
    }
    /// Does the work due at `now`.
    async fn tick(&self, now: UnixTime) -> Result<(), TaskError>;
}

/// The jobs every Sesame runs: the purge of expired rows, the key-ring reload, key rotation
/// and the flush of key usage counts.
pub fn standard(store: Arc<dyn Store>, keys: Arc<KeyManager>) -> Tasks {
    Tasks::new()
        .with(Purge::new(store))
        .with(KeyReload::new(keys.clone()))
        .with(KeyRotation::new(keys.clone()))
        .with(KeyUsageFlush::new(keys))
}

/// A set of jobs, not yet running.
pub struct Tasks {
    jobs: Vec<Arc<dyn Job>>,
    poll_interval: Duration,
}

impl Default for Tasks {
    fn default() -> Tasks {
        Tasks {
            jobs: Vec::new(),
            poll_interval: WAKE_INTERVAL,
        }
    }
}

impl Tasks {
    /// No jobs.
    pub fn new() -> Tasks {
        Tasks::default()
    }

    /// How often, in real time, the runner looks at the clock unwoken (default one second).
    pub fn poll_every(mut self, interval: Duration) -> Tasks {
        self.poll_interval = interval;
        self
    }

    /// Adds a job.
    pub fn with(mut self, job: impl Job + 'static) -> Tasks {
        self.jobs.push(Arc::new(job));
        self
    }

    /// Starts the runner on the current tokio runtime. Nothing runs inside this call: the first
    /// pass (jobs that run at start) happens on the runner's task, or in the first
    /// [`TaskRunner::run_due_now`], whichever comes first.
    pub fn start(self, clock: Arc<dyn Clock>) -> TaskRunner {
        let signals: Vec<Arc<Notify>> = self.jobs.iter().filter_map(|j| j.wake_signal()).collect();
        let (passes, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            schedule: Mutex::new(Schedule::new(self.jobs, clock.now())),
            clock,
            passes,
        });
        let (stop, stopped) = watch::channel(());
        let handle = tokio::spawn(run(shared.clone(), signals, self.poll_interval, stopped));
        TaskRunner {
            shared,
            stop: Some(stop),
            handle: Some(handle),
        }
    }
}

/// When each job is next due; the runner's due-logic, free of any timer.
struct Schedule {
    entries: Vec<Entry>,
}

struct Entry {
    job: Arc<dyn Job>,
    next_due: UnixTime,
}

impl Schedule {
    /// Every job first due at `started`, or a period later if it does not run at start.
    fn new(jobs: Vec<Arc<dyn Job>>, started: UnixTime) -> Schedule {
        let entries = jobs
            .into_iter()
            .map(|job| Entry {
                next_due: if job.runs_at_start() {
                    started
                } else {
                    started.saturating_add(job.period())
                },
                job,
            })
            .collect();
        Schedule { entries }
    }

    /// Runs, one after another, every job due at `now` (its time has come or it asks to run
    /// early) and schedules each one period after `now`, whether it succeeded or not. Returns
    /// the names of the jobs that ran.
    async fn run_due(&mut self, now: UnixTime) -> Vec<&'static str> {
        let mut ran = Vec::new();
        for entry in &mut self.entries {
            let job = entry.job.clone();
            if now < entry.next_due && !job.wanted_early(now) {
                continue;
            }
            entry.next_due = now.saturating_add(job.period().max(1));
            ran.push(job.name());
            // A panicking tick must not take the runner (and every later job) with it.
            match AssertUnwindSafe(job.tick(now)).catch_unwind().await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::warn!(job = job.name(), %error, "background job failed; retried when next due");
                }
                Err(_) => {
                    tracing::error!(
                        job = job.name(),
                        "background job panicked; retried when next due"
                    );
                }
            }
        }
        ran
    }
}

/// What the runner's task and its handle share.
struct Shared {
    clock: Arc<dyn Clock>,
    schedule: Mutex<Schedule>,
    /// How many passes have completed.
    passes: watch::Sender<u64>,
}

impl Shared {
    /// One pass: runs what is due by the clock read under the lock, so a pass that starts after
    /// the clock moved sees the new time.
    async fn pass(&self) -> Vec<&'static str> {
        let mut schedule = self.schedule.lock().await;
        let ran = schedule.run_due(self.clock.now()).await;
        drop(schedule);
        self.passes.send_modify(|n| *n += 1);
        ran
    }
}

/// The runner's task: a pass on every wake-up until stopped.
async fn run(
    shared: Arc<Shared>,
    signals: Vec<Arc<Notify>>,
    poll_interval: Duration,
    mut stopped: watch::Receiver<()>,
) {
    let mut every = tokio::time::interval(poll_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let signalled = async {
            if signals.is_empty() {
                std::future::pending::<()>().await;
            } else {
                select_all(signals.iter().map(|s| Box::pin(s.notified()))).await;
            }
        };
        tokio::select! {
            biased;
            // The handle was dropped or stopped: no more passes.
            _ = stopped.changed() => break,
            _ = every.tick() => {}
            _ = signalled => {}
        }
        shared.pass().await;
    }
}

/// The running jobs. Dropping it stops the runner after the pass in progress, if any;
/// [`TaskRunner::stop`] also waits for that.
pub struct TaskRunner {
    shared: Arc<Shared>,
    stop: Option<watch::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TaskRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRunner")
            .field("running", &self.stop.is_some())
            .finish_non_exhaustive()
    }
}

impl TaskRunner {
    /// Runs, on the caller's task, every job due by the clock now, and returns their names.
    /// Passes never overlap: when this returns, everything due at the clock's reading has run
    /// (here or in a pass that was already under way).
    pub async fn run_due_now(&self) -> Vec<&'static str> {
        self.shared.pass().await
    }

    /// Counts completed passes; `changed()` on the receiver waits for the next one.
    pub fn passes(&self) -> watch::Receiver<u64> {
        self.shared.passes.subscribe()
    }

    /// Stops the runner and waits for the pass in progress, if any, to end.
    pub async fn stop(mut self) {
        self.stop.take();
        if let Some(handle) = self.handle.take()
            && let Err(error) = handle.await
        {
            tracing::error!(%error, "the task runner ended abnormally");
        }
    }
}

impl Drop for TaskRunner {
    fn drop(&mut self) {
        // Dropping the sender ends the loop at its next wake-up check.
        self.stop.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    const START: UnixTime = 1_700_000_000;

    /// A job that counts its ticks and can be told to fail, panic or ask to run early.
    #[derive(Default)]
    struct Probe {
        name: &'static str,
        period: i64,
        later: bool,
        ticks: AtomicUsize,
        fail: AtomicBool,
        panic: AtomicBool,
        early: AtomicBool,
        signal: Arc<Notify>,
    }

    impl Probe {
        fn new(name: &'static str, period: i64) -> Arc<Probe> {
            Arc::new(Probe {
                name,
                period,
                ..Probe::default()
            })
        }
        fn ticks(&self) -> usize {
            self.ticks.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl Job for Arc<Probe> {
        fn name(&self) -> &'static str {
            self.name
        }
        fn period(&self) -> i64 {
            self.period
        }
        fn runs_at_start(&self) -> bool {
            !self.later
        }
        fn wanted_early(&self, _now: UnixTime) -> bool {
            self.early.load(Ordering::SeqCst)
        }
        fn wake_signal(&self) -> Option<Arc<Notify>> {
            Some(self.signal.clone())
        }
        async fn tick(&self, _now: UnixTime) -> Result<(), TaskError> {
            self.ticks.fetch_add(1, Ordering::SeqCst);
            self.early.store(false, Ordering::SeqCst);
            if self.panic.load(Ordering::SeqCst) {
                panic!("probe told to panic");
            }
            if self.fail.load(Ordering::SeqCst) {
                return Err(TaskError::Keys(KeyError::NoActiveKey));
            }
            Ok(())
        }
    }

    fn schedule(jobs: &[&Arc<Probe>]) -> Schedule {
        Schedule::new(
            jobs.iter()
                .map(|j| Arc::new(Arc::clone(j)) as Arc<dyn Job>)
                .collect(),
            START,
        )
    }

    #[tokio::test]
    async fn a_job_runs_at_start_then_once_per_period_of_the_clock() {
        let purge = Probe::new("purge", 60);
        let mut s = schedule(&[&purge]);
        assert_eq!(s.run_due(START).await, ["purge"]);
        assert!(s.run_due(START).await.is_empty(), "not twice in one second");
        assert!(s.run_due(START + 59).await.is_empty());
        assert_eq!(s.run_due(START + 60).await, ["purge"]);
        // Late by much more than a period: one run, then a period from that run.
        assert_eq!(s.run_due(START + 1000).await, ["purge"]);
        assert!(s.run_due(START + 1059).await.is_empty());
        assert_eq!(s.run_due(START + 1060).await, ["purge"]);
        assert_eq!(purge.ticks(), 4);
    }

    #[tokio::test]
    async fn a_job_that_skips_the_start_first_runs_one_period_later() {
        let reload = Arc::new(Probe {
            name: "reload",
            period: 60,
            later: true,
            ..Probe::default()
        });
        let mut s = schedule(&[&reload]);
        assert!(s.run_due(START).await.is_empty());
        assert!(s.run_due(START + 59).await.is_empty());
        assert_eq!(s.run_due(START + 60).await, ["reload"]);
    }

    #[tokio::test]
    async fn a_job_that_asks_runs_early_and_its_period_restarts() {
        let reload = Probe::new("reload", 60);
        let mut s = schedule(&[&reload]);
        s.run_due(START).await;
        reload.early.store(true, Ordering::SeqCst);
        assert_eq!(s.run_due(START + 5).await, ["reload"]);
        assert!(
            s.run_due(START + 60).await.is_empty(),
            "period counts from the early run"
        );
        assert_eq!(s.run_due(START + 65).await, ["reload"]);
    }

    #[tokio::test]
    async fn a_failing_or_panicking_tick_is_retried_when_next_due_and_others_still_run() {
        let failing = Probe::new("failing", 10);
        let panicking = Probe::new("panicking", 10);
        let healthy = Probe::new("healthy", 10);
        failing.fail.store(true, Ordering::SeqCst);
        panicking.panic.store(true, Ordering::SeqCst);
        let mut s = schedule(&[&failing, &panicking, &healthy]);
        assert_eq!(s.run_due(START).await, ["failing", "panicking", "healthy"]);
        assert!(s.run_due(START + 9).await.is_empty(), "no retry before due");
        failing.fail.store(false, Ordering::SeqCst);
        panicking.panic.store(false, Ordering::SeqCst);
        assert_eq!(
            s.run_due(START + 10).await,
            ["failing", "panicking", "healthy"]
        );
        assert_eq!(
            (failing.ticks(), panicking.ticks(), healthy.ticks()),
            (2, 2, 2)
        );
    }

    #[tokio::test]
    async fn runner_follows_the_pinned_clock_and_stops() {
        let clock = Arc::new(FixedClock::new(START));
        let purge = Probe::new("purge", 60);
        let runner = Tasks::new().with(purge.clone()).start(clock.clone());
        runner.run_due_now().await;
        assert_eq!(
            purge.ticks(),
            1,
            "ran once at start, by whichever pass came first"
        );
        assert!(runner.run_due_now().await.is_empty());
        clock.advance(60);
        runner.run_due_now().await;
        assert_eq!(purge.ticks(), 2);
        runner.stop().await;
        clock.advance(60);
        assert_eq!(purge.ticks(), 2, "a stopped runner runs nothing");
    }

    #[tokio::test]
    async fn a_job_signal_wakes_the_runner_at_once() {
        let clock = Arc::new(FixedClock::new(START));
        let reload = Probe::new("reload", 60);
        // Polling so rarely that only the signal can explain a prompt second run.
        let runner = Tasks::new()
            .with(reload.clone())
            .poll_every(Duration::from_secs(86_400))
            .start(clock.clone());
        runner.run_due_now().await;
        let mut passes = runner.passes();
        // The runner's own first pass (from its first, immediate poll) is over too.
        passes.wait_for(|n| *n >= 2).await.expect("runner alive");
        reload.early.store(true, Ordering::SeqCst);
        reload.signal.notify_one();
        tokio::time::timeout(Duration::from_secs(10), async {
            while reload.ticks() < 2 {
                passes.changed().await.expect("runner alive");
            }
        })
        .await
        .expect("the signal woke the runner well before its next poll");
        runner.stop().await;
    }
}
