//! The result of ingesting one object: the observations it yields and, for the hosts it cannot
//! yield, the reason (shown in `/debug/members`; never a panic, never silently dropped).

use super::types::Observation;

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
