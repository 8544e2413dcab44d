//! The state shared by every request handler of one simulator instance.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use super::audit::{AuditLog, Counters};
use super::controller::Controller;
use super::dns::DnsBook;
use super::faults::Faults;
use super::ratelimit::RateLimiter;
use super::session::SessionStore;

/// The TCP peer of a request, inserted by the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

#[derive(Debug)]
pub struct SimState {
    pub ctrl: Controller,
    pub sessions: SessionStore,
    pub limiter: RateLimiter,
    pub faults: Faults,
    pub counters: Counters,
    pub audit: AuditLog,
    pub username: String,
    pub password: String,
    /// The controller's API version.
    pub version: String,
    pub tls: bool,
    pub basic_auth: AtomicBool,
    pub default_page_size: usize,
    /// `scheme://ip:port` of the listener, used when a request has no Host header.
    pub base_url: String,
    /// The simulated GSLB DNS service: catalog cache, member health, rotation state.
    pub dns: DnsBook,
}

impl SimState {
    pub fn basic_auth(&self) -> bool {
        self.basic_auth.load(Ordering::Relaxed)
    }

    pub fn set_basic_auth(&self, on: bool) {
        self.basic_auth.store(on, Ordering::Relaxed);
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }
}
