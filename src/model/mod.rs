//! Model: the desired GslbService and health monitors for one `tenant/fqdn`, their canonical JSON
//! payloads, and the comparison against what the controller returns.

pub mod member;
