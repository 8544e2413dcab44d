//! Ingest: Kubernetes objects from member clusters -> observations (pure, no I/O).

pub mod annotations;
pub mod cluster_objects;
pub mod ingress;
pub mod outcome;
pub mod route;
pub mod service;
pub mod types;

pub use cluster_objects::{ingest_hostrule, ingest_namespace};
pub use ingress::ingest_ingress;
pub use outcome::{Ingested, Skipped};
pub use route::ingest_route;
pub use service::{ingest_service, is_load_balancer};
pub use types::{
    HostRuleInfo, Labels, NamespaceInfo, ObjectKind, Observation, ObservationId, Protocol,
};
