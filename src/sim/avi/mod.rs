//! Simulated Avi GSLB leader controller (REST API, sessions, rate limit, faults, audit).
