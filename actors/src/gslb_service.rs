//! One GslbServiceActor per `tenant/fqdn`: receives the inputs of its GslbService (members,
//! domain names, policy, overrides), waits a short coalescing window so a burst of changes
//! becomes one desired state, builds it with `amko::model`, and hands it to the AviActor only
//! when it differs from the last one handed over. It stops once its GslbService has no members.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use amko::model::{DesiredGs, GsInputs, build_gslb_service};
use amko::vocab::{GsKey, InstanceSettings};
use dashmap::DashMap;

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

/// The desired state each GslbService actor last handed to the writer, by key, shared with the
/// SelectionActor: its boot snapshot takes the copy handed over where it built an equal one, so
/// that the writer and the actors share one copy. Without it a restart held a second copy of
/// every desired GslbService (~100 MB at 40,000) while the controller's cache was full.
pub type HandedOver = Arc<DashMap<GsKey, Arc<DesiredGs>>>;

/// `built` as an `Arc`: the one handed over for `key` when equal, so no second copy is kept.
pub fn share_handed_over(
    handed_over: &HandedOver,
    key: &GsKey,
    built: DesiredGs,
) -> Arc<DesiredGs> {
    match handed_over.get(key) {
        Some(held) if **held == built => Arc::clone(&held),
        _ => Arc::new(built),
    }
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
    handed_over: HandedOver,
}

impl GslbServiceActor {
    pub fn new(
        key: GsKey,
        settings: Arc<InstanceSettings>,
        avi: Outbox<AviActor>,
        metrics: Arc<Metrics>,
        window: Duration,
        handed_over: HandedOver,
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
            handed_over,
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
            match &desired {
                Some(desired) => {
                    self.handed_over.insert(self.key.clone(), desired.clone());
                }
                None => {
                    self.handed_over.remove(&self.key);
                }
            }
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
        // Only this actor's own entry: a successor for the same key may already have replaced it.
        self.handed_over.remove_if(&self.key, |_, held| {
            self.last_sent
                .as_ref()
                .and_then(Option::as_ref)
                .is_some_and(|mine| Arc::ptr_eq(mine, held))
        });
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(fqdn: &str) -> GsKey {
        GsKey {
            tenant: "admin".into(),
            fqdn: fqdn.into(),
        }
    }

    fn desired(fqdn: &str, ttl: u32) -> DesiredGs {
        let gslb_service = serde_json::from_value(json!({
            "name": fqdn, "tenant_ref": "/api/tenant?name=admin", "created_by": "amko-test",
            "description": "", "domain_names": [fqdn], "enabled": true, "is_federated": true,
            "controller_health_status_enabled": true, "ttl": ttl,
            "health_monitor_scope": "GSLB_SERVICE_HEALTH_MONITOR_ALL_MEMBERS",
            "min_members": 0, "pool_algorithm": "GSLB_SERVICE_ALGORITHM_PRIORITY", "resolve_cname": false,
            "use_edns_client_subnet": true, "wildcard_match": false, "site_persistence_enabled": false,
            "health_monitor_refs": [],
            "groups": [{"name": "amko-gs-group-10", "priority": 10, "enabled": true,
                        "algorithm": "GSLB_ALGORITHM_ROUND_ROBIN", "min_health_monitors_up": 2,
                        "members": [{"enabled": true, "ratio": 1, "ip": {"addr": "10.0.0.1", "type": "V4"}}]}]
        }))
        .expect("a GslbService payload");
        DesiredGs {
            key: key(fqdn),
            gslb_service,
            health_monitors: Vec::new(),
        }
    }

    #[test]
    fn the_boot_snapshot_shares_an_equal_handed_over_copy_and_keeps_a_different_one() {
        let handed_over = HandedOver::default();
        let held = Arc::new(desired("a.example.com", 30));
        handed_over.insert(key("a.example.com"), held.clone());

        let same = share_handed_over(
            &handed_over,
            &key("a.example.com"),
            desired("a.example.com", 30),
        );
        assert!(
            Arc::ptr_eq(&same, &held),
            "an equal state must reuse the copy handed over"
        );

        let newer = share_handed_over(
            &handed_over,
            &key("a.example.com"),
            desired("a.example.com", 31),
        );
        assert!(!Arc::ptr_eq(&newer, &held));
        assert_eq!(
            newer.gslb_service,
            desired("a.example.com", 31).gslb_service
        );

        let unknown = share_handed_over(
            &handed_over,
            &key("b.example.com"),
            desired("b.example.com", 30),
        );
        assert_eq!(unknown.key, key("b.example.com"));
    }
}
