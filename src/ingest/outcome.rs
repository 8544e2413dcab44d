//! The result of ingesting one object: the observations it yields and, for the hosts it cannot
//! yield, the reason (shown in `/debug/members`; never a panic, never silently dropped).

use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::annotations::{self, AkoPlacement};
use super::types::{Labels, ObjectKind, Observation, ObservationId};

/// Why a host of an object produced no observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The host concerned, when the object has several.
    pub host: Option<String>,
    pub reason: String,
}

/// Observations of one object plus the hosts that were skipped, with reasons.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    pub observations: Vec<Observation>,
    pub skipped: Vec<Skipped>,
}

impl Ingested {
    pub(crate) fn skip(&mut self, host: Option<&str>, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            host: host.map(str::to_owned),
            reason: reason.into(),
        });
    }

    /// AKO's placement from the object's annotations; when they are malformed, none, noting that
    /// the member for `hostname` is kept without AKO UUIDs.
    pub(crate) fn placement_or_note(&mut self, meta: &ObjectMeta, hostname: &str) -> AkoPlacement {
        let annotations_map = meta.annotations.clone().unwrap_or_default();
        annotations::from_annotations(&annotations_map).unwrap_or_else(|reason| {
            self.skip(
                Some(hostname),
                format!("{reason}; member kept without AKO UUIDs"),
            );
            AkoPlacement::default()
        })
    }

    pub(crate) fn only_skipped(host: Option<&str>, reason: impl Into<String>) -> Self {
        let mut ingested = Ingested::default();
        ingested.skip(host, reason);
        ingested
    }
}

/// Parses an IP address from a status field, naming the field on failure.
pub(crate) fn parse_ip(raw: &str, field: &str) -> Result<std::net::IpAddr, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("{field} {raw:?} is not an IP address"))
}

/// The observation of an object with one host (a Route or a LoadBalancer Service), keyed by the
/// object alone: its labels and AKO's placement for `hostname`; no paths, TLS or port (the caller
/// sets those that apply).
pub(crate) fn one_host_observation(
    kind: ObjectKind,
    cluster: &str,
    meta: &ObjectMeta,
    hostname: String,
    vip: IpAddr,
    placement: AkoPlacement,
) -> Observation {
    Observation {
        id: ObservationId {
            kind,
            cluster: cluster.to_owned(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            host: String::new(),
        },
        vip,
        labels: meta.labels.as_ref().map(Labels::from).unwrap_or_default(),
        paths: Vec::new(),
        tls: false,
        passthrough: false,
        port: None,
        vs_uuid: placement.vs_uuid(&hostname),
        controller_uuid: placement.controller_uuid,
        tenant: placement.tenant,
        hostname,
    }
}
