//! Avi REST client: session, CSRF, TLS, collections, typed objects, error classes.

pub mod budget;
pub mod client;
pub mod error;
pub mod lookup;
pub mod retry;
pub mod sync;

pub use budget::RateBudget;
pub use client::{AviClient, AviClientError, AviConnection, RequestObserver};
pub use error::{AviError, AviErrorKind};
