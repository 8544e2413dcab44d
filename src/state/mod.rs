//! The operator's in-memory state: member-cluster observations, namespaces, AKO HostRules and the
//! accepted policy, with incremental selection of GslbService members.

pub mod status_book;
pub mod world;

pub use status_book::{StatusBook, StatusWrite, StatusWriteOutcome};
pub use world::{MemberReport, ObjectId, World};

#[cfg(test)]
mod world_tests;
