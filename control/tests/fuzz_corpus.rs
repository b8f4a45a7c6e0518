//! Replays every input of the fuzz corpora (`control/fuzz/corpus/<target>/`: the seeds and every
//! finding a campaign kept) through the same entry points the cargo-fuzz targets call, on the
//! stable toolchain: a decoder that panics on a stored input fails the suite.

use std::path::PathBuf;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn replay(target: &str, run: fn(&[u8])) -> TestResult {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.is_file() {
            let data = std::fs::read(&path)?;
            run(&data);
            count += 1;
        }
    }
    assert!(count > 0, "{} holds no inputs", dir.display());
    Ok(())
}

#[test]
fn body_corpus_replays() -> TestResult {
    replay("body", control::api::fuzzing::decode_body)
}

#[test]
fn patch_corpus_replays() -> TestResult {
    replay("patch", control::api::fuzzing::apply_patch)
}

#[test]
fn label_selector_corpus_replays() -> TestResult {
    replay("label_selector", control::api::fuzzing::label_selector)
}

#[test]
fn field_selector_corpus_replays() -> TestResult {
    replay("field_selector", control::api::fuzzing::field_selector)
}
