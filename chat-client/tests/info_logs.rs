//! RocksDB's info logs stay few however many commands open a profile.

use chat_client::groupchat::chat::Changes;
use chat_client::storage::{Storage, KEPT_INFO_LOGS};
use zeroize::Zeroizing;

#[test]
fn two_hundred_opens_leave_a_handful_of_info_logs() {
    let profile = tempfile::tempdir().unwrap();
    for i in 0..200u32 {
        let storage = Storage::open(profile.path()).unwrap();
        // Something to write, as a command does.
        let mut changes = Changes::default();
        changes
            .puts
            .push((b"k".to_vec(), Zeroizing::new(i.to_be_bytes().to_vec())));
        storage.write(changes).unwrap();
        drop(storage);
    }
    let mut logs: Vec<String> = Vec::new();
    let mut stack = vec![profile.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("LOG") {
                    logs.push(name);
                }
            }
        }
    }
    assert!(logs.contains(&"LOG".to_owned()), "{logs:?}");
    assert!(logs.len() <= 1 + KEPT_INFO_LOGS, "{logs:?}");
    // The database still holds what the last open wrote.
    let storage = Storage::open(profile.path()).unwrap();
    assert_eq!(
        storage.get(b"k").unwrap(),
        Some(199u32.to_be_bytes().to_vec())
    );
}
