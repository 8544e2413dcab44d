//! `amko verify-dns`'s pure logic: what the GSLB DNS service should answer for a GslbService
//! (`expect`), the goodness-of-fit statistics (`stats`), and the verdict on the answers observed
//! (`verdict`). The DNS queries themselves are sent by the command (amko-actors).

pub mod expect;
pub mod stats;
pub mod verdict;

pub use expect::{Expectation, ExpectedGs, RecordType, expected_answers};
pub use verdict::{Reply, Tally, Verdict, judge, render_line};
