//! Every file of the fuzz targets' seed corpora (`fuzz/corpus/<target>/`), fed to the same
//! decoders as the fuzz targets (`fuzz/decoders.rs`): none may panic. A crash the fuzzer finds
//! goes into its target's corpus, so this test keeps it fixed.

#[path = "../../fuzz/decoders.rs"]
mod decoders;

use std::path::PathBuf;

#[test]
fn every_corpus_file_decodes_without_a_panic() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut replayed = 0;
    for (target, decode) in decoders::TARGETS {
        let dir = corpus.join(target);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file());
        let mut files = 0;
        for path in entries {
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| decode(&data));
            assert!(outcome.is_ok(), "{} panics {target}", path.display());
            files += 1;
        }
        assert!(files > 0, "the corpus of {target} is empty");
        replayed += files;
    }
    assert!(replayed >= 20, "{replayed} files");
}
