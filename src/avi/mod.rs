//! Avi REST client (session, CSRF, TLS, collections, typed objects, error classes), carrying out
//! planned writes, and the writer's decisions that need no I/O: what to converge when, what to
//! do after a write failed, and how a refresh is merged with the writes made meanwhile.

pub mod budget;
pub mod client;
pub mod converge;
pub mod credentials;
pub mod error;
pub mod lookup;
pub mod paging;
pub mod refresh;
pub mod retry;
pub mod sync;

pub use budget::RateBudget;
pub use client::{AviClient, AviClientError, AviConnection, RequestObserver};
pub use credentials::{MissingSecretField, avi_connection};
pub use error::{AviError, AviErrorKind};
