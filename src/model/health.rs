//! The health monitors amko-rs manages for a GslbService, named and shaped as AMKO does (HTTP(S)
//! monitors per path for Ingresses and Routes, a TCP/UDP monitor on the lowest Service port, a
//! shared one for passthrough Routes; a GDP's template shapes them): names, types, ports,
//! descriptions, markers and request lines, decided from the members.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use sha1::{Digest, Sha1};

use super::payload::{
    HealthMonitorPayload, HttpMonitorPayload, MarkerPayload, TcpMonitorPayload, UdpMonitorPayload,
};
use crate::ingest::Protocol;
use crate::vocab::{HmTemplate, MAX_GS_HEALTH_MONITORS, Member};

/// Prefix of every health monitor name amko-rs manages.
pub const MANAGED_HM_PREFIX: &str = "amko--";
/// Marker key carrying the owner (`amko-<uuid>`) on managed health monitors.
pub const CREATED_BY_MARKER: &str = "created-by";

/// `amko--` + lowercase hex SHA-1 of `input`.
pub fn managed_hm_name(input: &str) -> String {
    let digest = Sha1::digest(input.as_bytes());
    let mut name = String::with_capacity(MANAGED_HM_PREFIX.len() + 40);
    name.push_str(MANAGED_HM_PREFIX);
    for byte in digest {
        let _ = write!(name, "{byte:02x}");
    }
    name
}

/// Name of the one TCP monitor shared by every passthrough GslbService of an instance.
pub fn passthrough_hm_name(created_by: &str) -> String {
    let uuid = created_by.strip_prefix("amko-").unwrap_or(created_by);
    format!("{MANAGED_HM_PREFIX}passthrough-hm-tcp-{uuid}")
}

/// Context shared by all monitors of one GslbService.
pub(crate) struct HmContext<'a> {
    pub gs_name: &'a str,
    pub tenant_ref: &'a str,
    pub created_by: &'a str,
    pub template: Option<&'a HmTemplate>,
}

/// The managed monitors a GslbService with these members needs, sorted by name.
///
/// LoadBalancer Services get one TCP/UDP monitor on the lowest Service port; passthrough Routes
/// share the instance's TCP/443 monitor; everything else gets one HTTP(S) monitor per path. A GS
/// mixing Services and Ingresses is monitored as a Service (AMKO's choice, minus its bug of taking
/// the lowest port over the Ingress members too). Path monitors stop at the controller's limit of
/// `MAX_GS_HEALTH_MONITORS` (the first paths in sorted order): AMKO created one per path and, with
/// more paths, a GslbService the controller refused, so the FQDN got none at all.
pub(crate) fn managed_monitors(
    ctx: &HmContext<'_>,
    members: &[&Member],
) -> Vec<HealthMonitorPayload> {
    let service_port = members
        .iter()
        .filter(|m| !m.passthrough())
        .filter_map(|m| m.port())
        .min();
    if let Some((port, protocol)) = service_port {
        return vec![transport_monitor(
            ctx,
            managed_hm_name(ctx.gs_name),
            port,
            protocol,
            true,
        )];
    }
    if members.iter().any(|m| m.passthrough()) {
        return vec![transport_monitor(
            ctx,
            passthrough_hm_name(ctx.created_by),
            443,
            Protocol::Tcp,
            false,
        )];
    }
    let secure = members.iter().any(|m| m.tls);
    let paths: BTreeSet<&str> = members
        .iter()
        .flat_map(|m| m.paths().iter().map(String::as_str))
        .collect();
    let mut monitors: Vec<HealthMonitorPayload> = paths
        .into_iter()
        .take(MAX_GS_HEALTH_MONITORS)
        .map(|path| path_monitor(ctx, path, secure))
        .collect();
    monitors.sort_by(|a, b| a.name.cmp(&b.name));
    monitors
}

fn path_monitor(ctx: &HmContext<'_>, path: &str, secure: bool) -> HealthMonitorPayload {
    let protocol = if secure { "https" } else { "http" };
    let mut description = format!(
        "created by: amko, gsname: {}, path: {path}, protocol: {protocol}",
        ctx.gs_name
    );
    let http = match ctx.template {
        Some(t) => {
            let _ = write!(description, ", created from: {}", t.name);
            HttpMonitorPayload {
                http_request: format!("{} {path} {}", t.method, t.http_version),
                http_response_code: t.response_codes.clone(),
            }
        }
        None => HttpMonitorPayload {
            http_request: format!("HEAD {path} HTTP/1.0"),
            http_response_code: vec!["HTTP_2XX".to_owned(), "HTTP_3XX".to_owned()],
        },
    };
    let mut hm = base_monitor(
        ctx,
        managed_hm_name(&format!("{protocol}--{}--{path}", ctx.gs_name)),
        if secure {
            "HEALTH_MONITOR_HTTPS"
        } else {
            "HEALTH_MONITOR_HTTP"
        },
        if secure { 443 } else { 80 },
        description,
    );
    if secure {
        hm.https_monitor = Some(http);
    } else {
        hm.http_monitor = Some(http);
    }
    hm
}

fn transport_monitor(
    ctx: &HmContext<'_>,
    name: String,
    port: u16,
    protocol: Protocol,
    per_gs: bool,
) -> HealthMonitorPayload {
    let description = if per_gs {
        format!("created by: amko, gsname: {}", ctx.gs_name)
    } else {
        "created by: amko".to_owned()
    };
    match protocol {
        Protocol::Tcp => {
            let mut hm = base_monitor(ctx, name, "HEALTH_MONITOR_TCP", port, description);
            hm.tcp_monitor = Some(TcpMonitorPayload {
                tcp_half_open: false,
            });
            hm
        }
        Protocol::Udp => {
            let mut hm = base_monitor(ctx, name, "HEALTH_MONITOR_UDP", port, description);
            hm.udp_monitor = Some(UdpMonitorPayload {
                udp_request: "created_by: amko, request string not required".to_owned(),
            });
            hm
        }
    }
}

fn base_monitor(
    ctx: &HmContext<'_>,
    name: String,
    type_: &str,
    port: u16,
    description: String,
) -> HealthMonitorPayload {
    HealthMonitorPayload {
        name,
        type_: type_.to_owned(),
        tenant_ref: ctx.tenant_ref.to_owned(),
        description,
        is_federated: true,
        allow_duplicate_monitors: true,
        send_interval: 10,
        receive_timeout: 4,
        successful_checks: 3,
        failed_checks: 3,
        monitor_port: port,
        markers: vec![MarkerPayload {
            key: CREATED_BY_MARKER.to_owned(),
            values: vec![ctx.created_by.to_owned()],
        }],
        http_monitor: None,
        https_monitor: None,
        tcp_monitor: None,
        udp_monitor: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sha1_of_the_documented_inputs() {
        for input in ["http--shop.example.com--/", "shop.example.com"] {
            assert_eq!(
                managed_hm_name(input),
                format!("amko--{}", sha1_hex_reference(input))
            );
        }
        assert_eq!(
            passthrough_hm_name("amko-9b1f3c2e-1d2a-11ef-9c44-0a580a800001"),
            "amko--passthrough-hm-tcp-9b1f3c2e-1d2a-11ef-9c44-0a580a800001"
        );
    }

    /// Reference digest via the system's sha1sum, so the test does not trust the code it checks.
    fn sha1_hex_reference(input: &str) -> String {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new("sha1sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sha1sum is part of coreutils");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("sha1sum output");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}
