//! One ClusterActor per member cluster context: watches Ingresses (or Routes on OpenShift),
//! Services, Namespaces and AKO HostRules, turns each object into observations with the pure
//! functions of `amko::ingest`, and reports changes to the SelectionActor. A cluster that cannot be
//! reached keeps its last known objects (nothing is sent), and is retried with backoff; after a
//! relist, objects that disappeared meanwhile are reported gone. While its watches fail, a probe
//! (one small list) asks the API server with the same backoff whether it is back: a watch that
//! resumes where it stopped yields nothing until an object changes, so without the probe a cluster
//! that came back would be reported unreachable until then.

use std::collections::{BTreeMap, BTreeSet};

use actix::prelude::*;
use amko::crd::ako_hostrule::HostRule;
use amko::crd::route::Route;
use amko::ingest::{self, Ingested, ObjectKind};
use amko::state::ObjectId;
use amko::state::cluster_watch::{self, Connection, ListProgress};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::ListParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};

use crate::selection::{ClusterChange, ClusterEvent, DefaultDomain, SelectionActor};
use crate::telemetry::{Mailbox, Outbox, OwnMailbox};

/// Objects per list page. kube's default is 500; at boot every member cluster lists at once and
/// each page is held parsed until it is ingested, so smaller pages bound that peak (measured in
/// docs/performance.md, "Memory at restart").
const LIST_PAGE_SIZE: u32 = 100;

/// Why a member cluster cannot be used right now; the text becomes the reason the cluster is
/// reported down with.
#[derive(Debug, thiserror::Error)]
enum ClusterError {
    #[error("cannot list routes: {0}")]
    ListRoutes(#[source] kube::Error),
    #[error("health check failed, cannot list services: {0}")]
    ListServices(#[source] kube::Error),
    #[error("cannot list AKO HostRules: {0}")]
    ListHostRules(#[source] kube::Error),
    #[error(transparent)]
    Watch(#[from] watcher::Error),
}

/// One watch event of any watched kind (errors only mark the cluster down).
/// Variants differ in size by kind; each event lives only until its handler runs, so boxing would
/// add an allocation per event for nothing.
#[derive(Message)]
#[rtype(result = "()")]
#[allow(clippy::large_enum_variant)]
enum Watched {
    Ingress(Result<Event<Ingress>, ClusterError>),
    Route(Result<Event<Route>, ClusterError>),
    Service(Result<Event<Service>, ClusterError>),
    Namespace(Result<Event<Namespace>, ClusterError>),
    HostRule(Result<Event<HostRule>, ClusterError>),
}

/// What the cluster serves, found out at start.
#[derive(Message)]
#[rtype(result = "()")]
struct Discovered(Result<Capabilities, ClusterError>);

#[derive(Clone, Copy, Debug)]
struct Capabilities {
    openshift: bool,
    hostrules: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Ingress,
    Route,
    Service,
    Namespace,
    HostRule,
}

pub struct ClusterActor {
    name: String,
    client: Client,
    selection: Outbox<SelectionActor>,
    mailbox: OwnMailbox,
    default_domain: Option<String>,
    routes: BTreeMap<ObjectId, Route>,
    progress: ListProgress<Kind>,
    connection: Connection,
    discovery_attempts: u32,
    /// A probe is scheduled or running (at most one at a time), and how many have failed.
    probing: bool,
    probe_attempts: u32,
}

impl ClusterActor {
    pub fn new(
        name: String,
        client: Client,
        selection: Outbox<SelectionActor>,
        mailbox: &Mailbox,
    ) -> Self {
        ClusterActor {
            name,
            client,
            selection,
            mailbox: mailbox.owned_by_actor(),
            default_domain: None,
            routes: BTreeMap::new(),
            progress: ListProgress::default(),
            connection: Connection::default(),
            discovery_attempts: 0,
            probing: false,
            probe_attempts: 0,
        }
    }

    fn send(&self, change: ClusterChange) {
        self.selection.do_send(ClusterEvent {
            cluster: self.name.clone(),
            change,
        });
    }

    fn connection(&mut self, up: bool, reason: String) {
        if self.connection.report(up) {
            self.send(ClusterChange::Connection(up, reason));
        }
    }

    /// While the watches fail, asks the API server again after the rediscovery delay whether it
    /// answers; an answer reports the cluster reachable (its watches resume on their own).
    fn probe_while_down(&mut self, ctx: &mut Context<Self>) {
        if self.probing || !self.connection.is_down() {
            return;
        }
        self.probing = true;
        let delay = cluster_watch::rediscovery_delay(self.probe_attempts);
        ctx.run_later(delay, |act, ctx| {
            let client = act.client.clone();
            let list = async move {
                Api::<Namespace>::all(client)
                    .list(&ListParams::default().limit(1))
                    .await
                    .map(|_| ())
            };
            ctx.spawn(list.into_actor(act).map(|result, act, ctx| {
                act.probing = false;
                match result {
                    Ok(()) => {
                        act.probe_attempts = 0;
                        act.connection(true, String::new());
                    }
                    Err(_) => {
                        act.probe_attempts = act.probe_attempts.saturating_add(1);
                        act.probe_while_down(ctx);
                    }
                }
            }));
        });
    }

    fn discover(&mut self, ctx: &mut Context<Self>) {
        let client = self.client.clone();
        let addr = self.mailbox.outbox(ctx.address());
        actix::spawn(async move {
            let result = async {
                let limit = ListParams::default().limit(1);
                let openshift = match Api::<Route>::all(client.clone()).list(&limit).await {
                    Ok(_) => true,
                    Err(kube::Error::Api(status)) if status.code == 404 => false,
                    Err(e) => return Err(ClusterError::ListRoutes(e)),
                };
                Api::<Service>::all(client.clone())
                    .list(&limit)
                    .await
                    .map_err(ClusterError::ListServices)?;
                let hostrules = match Api::<HostRule>::all(client.clone()).list(&limit).await {
                    Ok(_) => true,
                    Err(kube::Error::Api(status)) if status.code == 404 => false,
                    Err(e) => return Err(ClusterError::ListHostRules(e)),
                };
                Ok(Capabilities {
                    openshift,
                    hostrules,
                })
            }
            .await;
            addr.do_send(Discovered(result));
        });
    }

    fn watch(&mut self, ctx: &mut Context<Self>, caps: Capabilities) {
        let config = watcher::Config::default().page_size(LIST_PAGE_SIZE);
        let c = &self.client;
        if caps.openshift {
            self.progress.watching(Kind::Route);
            ctx.add_stream(
                self.mailbox.counted(
                    watcher::watcher(Api::<Route>::all(c.clone()), config.clone())
                        .default_backoff()
                        .map(|r| Watched::Route(r.map_err(ClusterError::from))),
                ),
            );
        } else {
            self.progress.watching(Kind::Ingress);
            ctx.add_stream(
                self.mailbox.counted(
                    watcher::watcher(Api::<Ingress>::all(c.clone()), config.clone())
                        .default_backoff()
                        .map(|r| Watched::Ingress(r.map_err(ClusterError::from))),
                ),
            );
        }
        self.progress.watching(Kind::Service);
        ctx.add_stream(
            self.mailbox.counted(
                watcher::watcher(Api::<Service>::all(c.clone()), config.clone())
                    .default_backoff()
                    .map(|r| Watched::Service(r.map_err(ClusterError::from))),
            ),
        );
        self.progress.watching(Kind::Namespace);
        ctx.add_stream(
            self.mailbox.counted(
                watcher::watcher(Api::<Namespace>::all(c.clone()), config.clone())
                    .default_backoff()
                    .map(|r| Watched::Namespace(r.map_err(ClusterError::from))),
            ),
        );
        if caps.hostrules {
            self.progress.watching(Kind::HostRule);
            ctx.add_stream(
                self.mailbox.counted(
                    watcher::watcher(Api::<HostRule>::all(c.clone()), config)
                        .default_backoff()
                        .map(|r| Watched::HostRule(r.map_err(ClusterError::from))),
                ),
            );
        } else {
            tracing::warn!(cluster = %self.name, "AKO HostRule CRD not served: aliases and custom global FQDNs are unavailable for this cluster");
        }
    }

    fn object_id(&self, kind: ObjectKind, namespace: &str, name: &str) -> ObjectId {
        ObjectId {
            kind,
            cluster: self.name.clone(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// Common handling of watch events: relist bookkeeping, then `apply`/`delete` per object.
    fn on_event<K: ResourceExt>(
        &mut self,
        kind: Kind,
        event: Result<Event<K>, ClusterError>,
        mut apply: impl FnMut(&mut Self, K),
        mut delete: impl FnMut(&mut Self, K),
    ) {
        let event = match event {
            Ok(event) => {
                self.connection(true, String::new());
                event
            }
            Err(err) => {
                self.connection(false, err.to_string());
                return;
            }
        };
        match event {
            Event::Init => self.progress.list_started(kind),
            Event::InitApply(obj) => {
                let listed = (obj.namespace().unwrap_or_default(), obj.name_any());
                self.progress.listed(kind, listed);
                apply(self, obj);
            }
            Event::InitDone => {
                let (seen, first_sync) = self.progress.list_done(kind);
                self.relisted(kind, seen);
                if first_sync {
                    self.send(ClusterChange::Synced);
                }
            }
            Event::Apply(obj) => apply(self, obj),
            Event::Delete(obj) => delete(self, obj),
        }
    }

    fn relisted(&mut self, kind: Kind, seen: BTreeSet<(String, String)>) {
        let object_kind = match kind {
            Kind::Ingress => ObjectKind::Ingress,
            Kind::Route => ObjectKind::Route,
            Kind::Service => ObjectKind::LbService,
            Kind::Namespace => {
                self.send(ClusterChange::NamespacesRelisted(
                    seen.into_iter().map(|(_, n)| n).collect(),
                ));
                return;
            }
            Kind::HostRule => {
                self.send(ClusterChange::HostRulesRelisted(seen));
                return;
            }
        };
        if kind == Kind::Route {
            self.routes
                .retain(|id, _| seen.contains(&(id.namespace.clone(), id.name.clone())));
        }
        let keep = seen
            .into_iter()
            .map(|(ns, n)| self.object_id(object_kind, &ns, &n))
            .collect();
        self.send(ClusterChange::Relisted(object_kind, keep));
    }

    fn upsert(&self, object: ObjectId, ingested: Ingested) {
        self.send(ClusterChange::Object(object, ingested));
    }

    fn ingest_route(&self, id: &ObjectId, route: &Route) {
        self.upsert(
            id.clone(),
            ingest::ingest_route(&self.name, route, self.default_domain.as_deref()),
        );
    }
}

impl Actor for ClusterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.discover(ctx);
    }
}

impl Handler<Discovered> for ClusterActor {
    type Result = ();

    fn handle(&mut self, msg: Discovered, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| match msg.0 {
            Ok(caps) => {
                tracing::info!(cluster = %self.name, openshift = caps.openshift, "member cluster reachable; watching");
                self.watch(ctx, caps);
            }
            Err(err) => {
                let reason = err.to_string();
                self.connection(false, reason.clone());
                self.discovery_attempts += 1;
                let delay = cluster_watch::rediscovery_delay(self.discovery_attempts);
                tracing::warn!(cluster = %self.name, reason = %reason, retry_in = ?delay, "member cluster unreachable");
                self.mailbox
                    .clone()
                    .run_later(ctx, delay, |act, ctx| act.discover(ctx));
            }
        })
    }
}

impl StreamHandler<Watched> for ClusterActor {
    fn handle(&mut self, item: Watched, ctx: &mut Context<Self>) {
        self.mailbox.clone().handle(|| match item {
            Watched::Ingress(event) => self.on_event(
                Kind::Ingress,
                event,
                |act, ing: Ingress| {
                    let id = act.object_id(ObjectKind::Ingress, &ing.namespace().unwrap_or_default(), &ing.name_any());
                    act.upsert(id, ingest::ingest_ingress(&act.name, &ing));
                },
                |act, ing| {
                    let id = act.object_id(ObjectKind::Ingress, &ing.namespace().unwrap_or_default(), &ing.name_any());
                    act.send(ClusterChange::ObjectGone(id));
                },
            ),
            Watched::Route(event) => self.on_event(
                Kind::Route,
                event,
                |act, route: Route| {
                    let id = act.object_id(ObjectKind::Route, &route.namespace().unwrap_or_default(), &route.name_any());
                    act.ingest_route(&id, &route);
                    act.routes.insert(id, route);
                },
                |act, route| {
                    let id = act.object_id(ObjectKind::Route, &route.namespace().unwrap_or_default(), &route.name_any());
                    act.routes.remove(&id);
                    act.send(ClusterChange::ObjectGone(id));
                },
            ),
            Watched::Service(event) => self.on_event(
                Kind::Service,
                event,
                |act, svc: Service| {
                    let id = act.object_id(ObjectKind::LbService, &svc.namespace().unwrap_or_default(), &svc.name_any());
                    if ingest::is_load_balancer(&svc) {
                        act.upsert(id, ingest::ingest_service(&act.name, &svc));
                    } else {
                        act.send(ClusterChange::ObjectGone(id));
                    }
                },
                |act, svc| {
                    let id = act.object_id(ObjectKind::LbService, &svc.namespace().unwrap_or_default(), &svc.name_any());
                    act.send(ClusterChange::ObjectGone(id));
                },
            ),
            Watched::Namespace(event) => self.on_event(
                Kind::Namespace,
                event,
                |act, ns: Namespace| act.send(ClusterChange::Namespace(ingest::ingest_namespace(&act.name, &ns))),
                |act, ns| act.send(ClusterChange::NamespaceGone(ns.name_any())),
            ),
            Watched::HostRule(event) => self.on_event(
                Kind::HostRule,
                event,
                |act, rule: HostRule| {
                    let info = match ingest::ingest_hostrule(&act.name, &rule) {
                        Ok(info) => Some(info),
                        Err(reason) => {
                            tracing::debug!(cluster = %act.name, hostrule = %rule.name_any(), %reason, "AKO HostRule ignored");
                            None
                        }
                    };
                    act.send(ClusterChange::HostRule { namespace: rule.namespace().unwrap_or_default(), name: rule.name_any(), info });
                },
                |act, rule| {
                    act.send(ClusterChange::HostRule { namespace: rule.namespace().unwrap_or_default(), name: rule.name_any(), info: None })
                },
            ),
        });
        self.probe_while_down(ctx);
    }

    fn finished(&mut self, _: &mut Context<Self>) {
        // Watch streams retry forever; a finished one must not stop the actor.
    }
}

impl Handler<DefaultDomain> for ClusterActor {
    type Result = ();

    fn handle(&mut self, msg: DefaultDomain, _: &mut Context<Self>) {
        self.mailbox.clone().handle(|| {
            if self.default_domain == msg.0 {
                return;
            }
            self.default_domain = msg.0;
            for (id, route) in &self.routes {
                self.ingest_route(id, route);
            }
        })
    }
}
