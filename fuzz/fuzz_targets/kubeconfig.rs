//! Fuzz target `kubeconfig`: the input goes to `amko::fuzzing::kubeconfig` (shared with the stable corpus
//! replay test, tests/fuzz_corpus.rs). See docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = amko::fuzzing::kubeconfig(data);
});
