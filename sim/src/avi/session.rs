//! Login sessions: creation at `/login`, lookup with sliding idle expiry and an absolute
//! lifetime, logout, and "expire everything" for fault injection.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::ids;

#[derive(Clone, Debug)]
struct Session {
    csrf_token: String,
    created: Instant,
    last_used: Instant,
}

/// Why a session cookie was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionRejection {
    Unknown,
    Expired,
}

/// A freshly created session's cookie values.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub session_id: String,
    pub csrf_token: String,
}

#[derive(Debug)]
struct Limits {
    idle: Duration,
    absolute: Duration,
}

#[derive(Debug)]
pub struct SessionStore {
    sessions: Mutex<HashMap<String, Session>>,
    limits: Mutex<Limits>,
}

/// Pure expiry rule.
pub fn is_expired(
    now: Instant,
    created: Instant,
    last_used: Instant,
    idle: Duration,
    absolute: Duration,
) -> bool {
    now.saturating_duration_since(last_used) > idle
        || now.saturating_duration_since(created) > absolute
}

impl SessionStore {
    pub fn new(idle: Duration, absolute: Duration) -> SessionStore {
        SessionStore {
            sessions: Mutex::new(HashMap::new()),
            limits: Mutex::new(Limits { idle, absolute }),
        }
    }

    fn limits(&self) -> (Duration, Duration) {
        let limits = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        (limits.idle, limits.absolute)
    }

    pub fn idle_timeout(&self) -> Duration {
        self.limits().0
    }

    pub fn set_idle_timeout(&self, idle: Duration) {
        self.limits.lock().unwrap_or_else(|p| p.into_inner()).idle = idle;
    }

    pub fn create(&self) -> NewSession {
        let now = Instant::now();
        let (idle, absolute) = self.limits();
        let new = NewSession {
            session_id: ids::token(),
            csrf_token: ids::token(),
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        // Sweep dead sessions now and then so a long benchmark does not grow the map forever.
        if sessions.len() >= 1024 && sessions.len().is_power_of_two() {
            sessions.retain(|_, s| !is_expired(now, s.created, s.last_used, idle, absolute));
        }
        sessions.insert(
            new.session_id.clone(),
            Session {
                csrf_token: new.csrf_token.clone(),
                created: now,
                last_used: now,
            },
        );
        new
    }

    /// Validates a session and slides its idle deadline; returns its CSRF token.
    pub fn touch(&self, session_id: &str) -> Result<String, SessionRejection> {
        let now = Instant::now();
        let (idle, absolute) = self.limits();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let session = sessions
            .get_mut(session_id)
            .ok_or(SessionRejection::Unknown)?;
        if is_expired(now, session.created, session.last_used, idle, absolute) {
            sessions.remove(session_id);
            return Err(SessionRejection::Expired);
        }
        session.last_used = now;
        Ok(session.csrf_token.clone())
    }

    pub fn remove(&self, session_id: &str) -> bool {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(session_id)
            .is_some()
    }

    /// Drops every session; returns how many there were.
    pub fn expire_all(&self) -> usize {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let count = sessions.len();
        sessions.clear();
        count
    }

    pub fn count(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_rule() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(10);
        assert!(!is_expired(
            later,
            t0,
            t0,
            Duration::from_secs(60),
            Duration::from_secs(3600)
        ));
        assert!(is_expired(
            later,
            t0,
            t0,
            Duration::from_secs(5),
            Duration::from_secs(3600)
        ));
        assert!(is_expired(
            later,
            t0,
            later,
            Duration::from_secs(60),
            Duration::from_secs(5)
        ));
    }

    #[test]
    fn create_touch_expire() {
        let store = SessionStore::new(Duration::from_secs(60), Duration::from_secs(3600));
        let s = store.create();
        assert_eq!(store.touch(&s.session_id), Ok(s.csrf_token.clone()));
        assert_eq!(store.touch("nope"), Err(SessionRejection::Unknown));
        store.set_idle_timeout(Duration::ZERO);
        // Zero idle time: any elapsed time at all expires it; sliding was just done above.
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(store.touch(&s.session_id), Err(SessionRejection::Expired));
        let s2 = store.create();
        assert_eq!(store.expire_all(), 1);
        assert_eq!(store.touch(&s2.session_id), Err(SessionRejection::Unknown));
    }
}
