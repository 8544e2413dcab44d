//! Avi REST client: session, CSRF, TLS, collections, typed objects, error classes.
