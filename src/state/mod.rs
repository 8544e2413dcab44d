//! The operator's in-memory state: member-cluster observations, namespaces, AKO HostRules and the
//! accepted policy, with incremental selection of GslbService members; the boot gate that decides
//! when the writer gets its first complete desired state; and the bookkeeping of each member
//! cluster's watches.

pub mod boot;
pub mod cluster_watch;
pub mod status_book;
pub mod world;

pub use status_book::{StatusBook, StatusWrite, StatusWriteOutcome};
pub use world::{MemberReport, ObjectId, World};

#[cfg(test)]
mod world_tests;
