//! What the simulator observed: request counters by (method, object type, status) and an audit
//! log of every write that reached an object handler (time, method, type, uuid, name, tenant,
//! status, SHA-1 of the payload). Benchmarks read these to count controller API calls.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use super::ids;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterEntry {
    pub method: String,
    pub object_type: String,
    pub status: u16,
    pub count: u64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterSnapshot {
    pub entries: Vec<CounterEntry>,
}

impl CounterSnapshot {
    /// Sum over entries; `None` matches anything.
    pub fn count(
        &self,
        method: Option<&str>,
        object_type: Option<&str>,
        status: Option<u16>,
    ) -> u64 {
        self.entries
            .iter()
            .filter(|e| method.is_none_or(|m| e.method.eq_ignore_ascii_case(m)))
            .filter(|e| object_type.is_none_or(|t| e.object_type == t))
            .filter(|e| status.is_none_or(|s| e.status == s))
            .map(|e| e.count)
            .sum()
    }

    pub fn total(&self) -> u64 {
        self.count(None, None, None)
    }
}

#[derive(Debug, Default)]
pub struct Counters {
    map: Mutex<BTreeMap<(String, String, u16), u64>>,
}

impl Counters {
    pub fn record(&self, method: &str, object_type: &str, status: u16) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((method.to_string(), object_type.to_string(), status))
            .or_default() += 1;
    }

    pub fn snapshot(&self) -> CounterSnapshot {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        CounterSnapshot {
            entries: map
                .iter()
                .map(|((method, object_type, status), count)| CounterEntry {
                    method: method.clone(),
                    object_type: object_type.clone(),
                    status: *status,
                    count: *count,
                })
                .collect(),
        }
    }

    pub fn reset(&self) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1-based position in the log.
    pub seq: u64,
    /// Microseconds since the epoch.
    pub time_micros: u64,
    pub method: String,
    pub object_type: String,
    /// Empty when the write failed before an object was identified.
    pub uuid: String,
    pub name: String,
    /// Tenant name.
    pub tenant: String,
    pub status: u16,
    /// Hex SHA-1 of the request body (empty body for DELETE hashes the empty string).
    pub payload_sha1: String,
}

/// The facts a handler knows about one write.
#[derive(Clone, Debug, Default)]
pub struct WriteRecord {
    pub method: String,
    pub object_type: String,
    pub uuid: String,
    pub name: String,
    pub tenant: String,
    pub status: u16,
}

#[derive(Debug, Default)]
pub struct AuditLog {
    entries: Mutex<Vec<AuditEntry>>,
}

pub fn sha1_hex(payload: &[u8]) -> String {
    Sha1::digest(payload)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl AuditLog {
    pub fn record(&self, write: WriteRecord, payload: &[u8]) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let seq = entries.len() as u64 + 1;
        entries.push(AuditEntry {
            seq,
            time_micros: ids::now_micros(),
            method: write.method,
            object_type: write.object_type,
            uuid: write.uuid,
            name: write.name,
            tenant: write.tenant,
            status: write.status,
            payload_sha1: sha1_hex(payload),
        });
    }

    /// Entries with `seq > after`.
    pub fn since(&self, after: u64) -> Vec<AuditEntry> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let start = usize::try_from(after)
            .unwrap_or(usize::MAX)
            .min(entries.len());
        entries[start..].to_vec()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_by_filter() {
        let c = Counters::default();
        c.record("GET", "gslbservice", 200);
        c.record("GET", "gslbservice", 200);
        c.record("POST", "gslbservice", 201);
        c.record("POST", "healthmonitor", 409);
        let s = c.snapshot();
        assert_eq!(s.total(), 4);
        assert_eq!(s.count(Some("get"), None, None), 2);
        assert_eq!(s.count(None, Some("gslbservice"), None), 3);
        assert_eq!(s.count(Some("POST"), None, Some(409)), 1);
    }

    #[test]
    fn audit_log_pages_by_seq() {
        let log = AuditLog::default();
        for i in 0..3 {
            log.record(
                WriteRecord {
                    method: "POST".into(),
                    name: format!("gs-{i}"),
                    status: 201,
                    ..WriteRecord::default()
                },
                b"{}",
            );
        }
        assert_eq!(log.since(0).len(), 3);
        let tail = log.since(2);
        assert_eq!(tail.len(), 1);
        assert_eq!(tail[0].seq, 3);
        assert_eq!(
            tail[0].payload_sha1,
            "bf21a9e8fbc5a3846fb05b4fa0859e0917b2202f"
        );
    }
}
