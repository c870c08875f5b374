//! The outbox worker: delivers due outbox items every few seconds of Sesame's clock, and at
//! once when something was enqueued.

use super::{Job, TaskError};
use crate::clock::UnixTime;
use crate::outbox::Deliveries;
use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::Notify;

/// Runs [`Deliveries::run_due`].
pub struct Delivery {
    deliveries: Arc<Deliveries>,
}

impl Delivery {
    /// Seconds between passes when nothing is enqueued (retries come due on this beat).
    pub const PERIOD: i64 = 5;

    /// The worker over `deliveries`.
    pub fn new(deliveries: Arc<Deliveries>) -> Delivery {
        Delivery { deliveries }
    }
}

#[async_trait]
impl Job for Delivery {
    fn name(&self) -> &'static str {
        "outbox-delivery"
    }

    fn period(&self) -> i64 {
        Self::PERIOD
    }

    fn wanted_early(&self, _now: UnixTime) -> bool {
        self.deliveries.kicked()
    }

    fn wake_signal(&self) -> Option<Arc<Notify>> {
        Some(self.deliveries.wake_signal())
    }

    async fn tick(&self, now: UnixTime) -> Result<(), TaskError> {
        let report = self.deliveries.run_due(now).await?;
        if report != Default::default() {
            tracing::debug!(?report, "outbox pass");
        }
        Ok(())
    }
}
