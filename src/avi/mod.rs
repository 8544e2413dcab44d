//! Avi REST client: session, CSRF, TLS, collections, typed objects, error classes.

pub mod client;
pub mod error;

pub use client::{AviClient, AviClientError, AviConnection};
pub use error::{AviError, AviErrorKind};
