//! Ingest: Kubernetes objects from member clusters -> observations (pure, no I/O).

pub mod types;
