//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/*`) with the stable toolchain, through
//! the functions the fuzz targets call (`amko::fuzzing`): no input may panic. CI runs this instead
//! of the fuzzer (which needs nightly), so every crash the fuzzer ever found, once added to the
//! corpus, stays fixed. See docs/fuzzing.md.

use std::collections::BTreeSet;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use amko::fuzzing::{Depth, TARGETS};

/// The corpus stays small enough to check in and to replay in seconds.
const MAX_CORPUS_BYTES: u64 = 1 << 20;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

fn inputs_of(target: &str) -> Vec<PathBuf> {
    let dir = corpus_root().join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus folder {} cannot be read: {e}", dir.display()))
        .map(|entry| entry.expect("corpus folder entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_input_returns_without_panicking() {
    let mut failures = Vec::new();
    let mut shallow = Vec::new();
    let mut replayed = 0;
    for (target, run) in TARGETS {
        let inputs = inputs_of(target);
        assert!(!inputs.is_empty(), "fuzz/corpus/{target}/ holds no input");
        let mut deepest = Depth::Unparsed;
        for path in inputs {
            let data = fs::read(&path).expect("corpus file is readable");
            match panic::catch_unwind(AssertUnwindSafe(|| run(&data))) {
                Ok(depth) => deepest = deepest.max(depth),
                Err(cause) => {
                    let message = cause
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| cause.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    failures.push(format!("{target}: {} panicked: {message}", path.display()));
                }
            }
            replayed += 1;
        }
        // A corpus that no longer gets past parsing (a renamed field, a changed format) would
        // leave the fuzzer knocking at the door; at least one input must reach the end.
        if deepest != Depth::Accepted {
            shallow.push(format!("{target} (deepest: {deepest:?})"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        shallow.is_empty(),
        "no corpus input is accepted by: {}",
        shallow.join(", ")
    );
    assert!(replayed > TARGETS.len(), "only {replayed} inputs replayed");
}

#[test]
fn each_target_has_a_corpus_folder_and_a_fuzz_target_file() {
    let root = corpus_root();
    let folders: BTreeSet<String> = fs::read_dir(&root)
        .expect("fuzz/corpus exists")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let targets: BTreeSet<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    assert_eq!(folders, targets, "fuzz/corpus/* and amko::fuzzing::TARGETS");
    for target in &targets {
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/fuzz_targets")
            .join(format!("{target}.rs"));
        let text = fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("{} cannot be read: {e}", source.display()));
        assert!(
            text.contains(&format!("amko::fuzzing::{target}(data)")),
            "{} does not call amko::fuzzing::{target}",
            source.display()
        );
    }
    let total: u64 = targets
        .iter()
        .flat_map(|t| inputs_of(t))
        .map(|path| fs::metadata(path).map_or(0, |m| m.len()))
        .sum();
    assert!(
        total < MAX_CORPUS_BYTES,
        "the corpus holds {total} bytes; minimise it (cargo fuzz cmin) below {MAX_CORPUS_BYTES}"
    );
}
