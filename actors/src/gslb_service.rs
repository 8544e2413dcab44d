//! One GslbServiceActor per `tenant/fqdn`: receives the inputs of its GslbService (members,
//! domain names, policy, overrides), waits a short coalescing window so a burst of changes
//! becomes one desired state, builds it with `amko::model`, and hands it to the AviActor only
//! when it differs from the last one handed over. It stops once its GslbService has no members.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use amko::model::{DesiredGs, GsInputs, build_gslb_service};
use amko::vocab::{GsKey, InstanceSettings};

use crate::avi_writer::{AviActor, Desired};
use crate::telemetry::{Mailbox, Metrics, Outbox, OwnMailbox};

/// The inputs of this GslbService changed (members, domain names, policy or overrides), or the
/// controller's fallback PKI profile did.
#[derive(Message)]
#[rtype(result = "()")]
pub struct InputsChanged {
    pub inputs: GsInputs,
    /// For site persistence without a PKI profile of its own.
    pub fallback_pki: Option<String>,
}

pub struct GslbServiceActor {
    key: GsKey,
    settings: Arc<InstanceSettings>,
    avi: Outbox<AviActor>,
    mailbox: OwnMailbox,
    metrics: Arc<Metrics>,
    window: Duration,
    latest: Option<InputsChanged>,
    /// When the first change not yet handed over arrived.
    first_change: Option<Instant>,
    /// Shared with the AviActor, which holds the same state.
    last_sent: Option<Option<Arc<DesiredGs>>>,
}

impl GslbServiceActor {
    pub fn new(
        key: GsKey,
        settings: Arc<InstanceSettings>,
        avi: Outbox<AviActor>,
        metrics: Arc<Metrics>,
        window: Duration,
    ) -> Self {
        let mailbox = metrics.mailbox("gslb_service", &key.to_string());
        GslbServiceActor {
            key,
            settings,
            avi,
            mailbox: mailbox.owned_by_actor(),
            metrics,
            window,
            latest: None,
            first_change: None,
            last_sent: None,
        }
    }

    pub fn mailbox(&self) -> Mailbox {
        self.mailbox.clone()
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        // Built once per window; holding the inputs afterwards only doubled the members in memory.
        let Some(latest) = self.latest.take() else {
            return;
        };
        let observed_at = self.first_change.take().unwrap_or_else(Instant::now);
        let fallback_pki = latest.fallback_pki.as_deref();
        let desired =
            build_gslb_service(&latest.inputs, &self.settings, fallback_pki).map(Arc::new);
        let empty = desired.is_none();
        if self.last_sent.as_ref() != Some(&desired) {
            self.avi.do_send(Desired {
                key: self.key.clone(),
                desired: desired.clone(),
                observed_at,
            });
            self.last_sent = Some(desired);
        }
        if empty {
            ctx.stop();
        }
    }
}

impl Actor for GslbServiceActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.metrics
            .drop_instance("gslb_service", &self.key.to_string());
    }
}

impl Handler<InputsChanged> for GslbServiceActor {
    type Result = ();

    fn handle(&mut self, msg: InputsChanged, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            self.latest = Some(msg);
            if self.first_change.is_none() {
                self.first_change = Some(Instant::now());
                if self.window.is_zero() {
                    self.flush(ctx);
                } else {
                    self.mailbox
                        .clone()
                        .run_later(ctx, self.window, |act, ctx| act.flush(ctx));
                }
            }
        })
    }
}
