//! Fuzz target `avi_collection`: the input goes to `amko::fuzzing::avi_collection` (shared with the stable corpus
//! replay test, tests/fuzz_corpus.rs). See docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = amko::fuzzing::avi_collection(data);
});
