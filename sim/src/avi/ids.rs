//! Identifiers and clocks: object uuids (`<type>-<uuid4>`), session tokens, and the strictly
//! increasing `_last_modified` stamps (microseconds since the epoch, as the controller sends them).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::types::ObjType;

/// Fallback generator state, used only if the OS refuses randomness.
static FALLBACK: Mutex<u64> = Mutex::new(0);

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if getrandom::fill(&mut buf).is_err() {
        // SplitMix64 seeded from the clock: unique enough for a simulator.
        let mut state = FALLBACK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *state == 0 {
            *state = now_micros() | 1;
        }
        for chunk in buf.chunks_mut(8) {
            *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let bytes = z.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
    buf
}

/// A random RFC 4122 version-4 uuid in its canonical text form.
pub fn uuid4() -> String {
    uuid::Builder::from_random_bytes(random_bytes::<16>())
        .into_uuid()
        .to_string()
}

/// `<type>-<uuid4>`, the controller's uuid format.
pub fn object_uuid(obj_type: ObjType) -> String {
    format!("{}-{}", obj_type.path(), uuid4())
}

/// 32 lowercase alphanumerics, like the recorded session and CSRF cookies.
pub fn token() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    random_bytes::<32>()
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// A fraction in [0, 1), for fault injection.
pub fn unit_random() -> f64 {
    let bytes = random_bytes::<8>();
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Hands out `_last_modified` values: wall-clock microseconds, but never the same value twice,
/// so a stale `_last_modified` is always detectable.
#[derive(Debug, Default)]
pub struct ModClock {
    last: AtomicU64,
}

impl ModClock {
    pub fn next(&self) -> u64 {
        let now = now_micros();
        let mut prev = self.last.load(Ordering::Relaxed);
        loop {
            let candidate = now.max(prev + 1);
            match self
                .last
                .compare_exchange(prev, candidate, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return candidate,
                Err(actual) => prev = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_v4_shape() {
        let u = uuid4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(object_uuid(ObjType::GslbService).starts_with("gslbservice-"));
        assert_ne!(uuid4(), uuid4());
    }

    #[test]
    fn tokens_are_lowercase_alphanumeric() {
        let t = token();
        assert_eq!(t.len(), 32);
        assert!(
            t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn clock_is_strictly_increasing() {
        let clock = ModClock::default();
        let a = clock.next();
        let b = clock.next();
        assert!(b > a);
    }
}
