//! Fuzz target `ingest_route`: the input goes to `amko::fuzzing::ingest_route` (shared with the stable corpus
//! replay test, tests/fuzz_corpus.rs). See docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = amko::fuzzing::ingest_route(data);
});
