//! Durability: every acknowledged write, copy and copy status survives `kill -9` of the server
//! process and a restart on the same data directory.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use courier_protocol::HttpStore;
use pigeonhole::store::{copy_key, BoxStore, CopyStatus, ReadOutcome, WriteOutcome};
use pigeonhole_suite::{fresh_boxes, write_copy_stream};

/// Starts `courier-sim serve` on an ephemeral loopback port and returns it with its URL.
fn start(data_dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_courier-sim"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting courier-sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, url)
}

fn kill_9(mut child: Child) {
    // `Child::kill` is SIGKILL on Unix: no shutdown code runs.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9));
    }
    let _ = status;
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state");
    let (child, url) = start(&data);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "the data directory is private");
    }
    let store = HttpStore::new(&url).unwrap();
    let (cap, boxes) = fresh_boxes(300, 200);
    for b in &boxes[..299] {
        assert_eq!(store.write(b).await, Ok(WriteOutcome::Stored));
    }
    let mut index = cap.first_index().clone();
    for _ in 0..299 {
        index = index.next().unwrap();
    }
    let tomb = cap.tombstone(&index, b"store-suite");
    assert_eq!(store.write(&tomb).await, Ok(WriteOutcome::Stored));
    let (_, copied) = fresh_boxes(5, 50);
    let (temp, _) = write_copy_stream(&store, &copied).await;
    assert_eq!(store.copy(&temp).await, Ok(CopyStatus::Succeeded));
    kill_9(child);

    let (child, url) = start(&data);
    let store = HttpStore::new(&url).unwrap();
    let ids: Vec<_> = boxes.iter().map(|b| b.box_id).collect();
    let outcomes = store.read_many(&ids).await.unwrap();
    for (o, b) in outcomes[..299].iter().zip(&boxes) {
        assert_eq!(*o, ReadOutcome::Found(b.clone()));
    }
    assert_eq!(outcomes[299], ReadOutcome::Tombstone(tomb));
    for b in &copied {
        assert_eq!(
            store.read(&b.box_id).await,
            Ok(ReadOutcome::Found(b.clone()))
        );
    }
    assert_eq!(
        store.copy_status(&copy_key(&temp)).await,
        Ok(Some(CopyStatus::Succeeded))
    );
    assert_eq!(store.copy(&temp).await, Ok(CopyStatus::Succeeded));
    assert_eq!(
        store.write(&boxes[0]).await,
        Ok(WriteOutcome::AlreadyExists { identical: true })
    );
    kill_9(child);
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly_and_state_remains() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state");
    let (mut child, url) = start(&data);
    let store = HttpStore::new(&url).unwrap();
    let b = &fresh_boxes(1, 10).1[0];
    assert_eq!(store.write(b).await, Ok(WriteOutcome::Stored));
    #[cfg(unix)]
    {
        let pid = child.id().to_string();
        let ok = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(ok.success());
        let mut exited = None;
        for _ in 0..100 {
            if let Some(status) = child.try_wait().unwrap() {
                exited = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(exited.expect("exits within 5 s").success());
    }
    #[cfg(not(unix))]
    kill_9(child);
    let (child, url) = start(&data);
    let store = HttpStore::new(&url).unwrap();
    assert_eq!(
        store.read(&b.box_id).await,
        Ok(ReadOutcome::Found(b.clone()))
    );
    kill_9(child);
}
