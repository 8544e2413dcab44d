//! The vocabulary that policy and model share: what a GslbService is keyed by, what a selected
//! member carries, and the compiled (already validated) policy; also the Events the core decides to
//! raise. Both `policy` (which produces these values) and `model` (which consumes them) depend on
//! this module; it depends on neither, so the two never import each other.

pub mod compiled;
pub mod member;
pub mod notice;

pub use compiled::*;
pub use member::{GsKey, Member};
pub use notice::Notice;

/// The controller refuses a GslbService referencing more health monitors than this
/// (`health_monitor_refs`: at most 6).
pub const MAX_GS_HEALTH_MONITORS: usize = 6;
