//! Runs the `bacap-chat` binary as a user would.

use std::path::PathBuf;
use std::process::{Command, Output};

fn bacap_chat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bacap-chat"))
        .args(args)
        .output()
        .expect("run bacap-chat")
}

fn vector_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testvectors/data/bacap-hpqc.json")
}

fn groupchat_vector_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testvectors/data/katzenqt-groupchat.json")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn conformance_bacap_reproduces_the_reference_file() {
    let out = bacap_chat(&["conformance", "bacap", vector_file().to_str().unwrap()]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "39/39 bacap vectors reproduced");
}

#[test]
fn conformance_bacap_names_a_mismatch_and_fails() {
    let json = std::fs::read_to_string(vector_file()).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let sig = v["cases"][2]["steps"][3]["signature"]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = format!(
        "{}{}",
        if sig.starts_with('0') { "1" } else { "0" },
        &sig[1..]
    );
    v["cases"][2]["steps"][3]["signature"] = serde_json::Value::String(flipped);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tampered.json");
    std::fs::write(&path, v.to_string()).unwrap();

    let out = bacap_chat(&["conformance", "bacap", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout).trim(), "38/39 bacap vectors reproduced");
    let err = text(&out.stderr);
    assert!(
        err.contains("case \"public-2\", steps[3], field signature"),
        "{err}"
    );
}

#[test]
fn conformance_reports_unreadable_and_malformed_files_in_one_line() {
    let out = bacap_chat(&["conformance", "bacap", "/nonexistent/vectors.json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("bacap-chat: cannot read /nonexistent/vectors.json"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.json");
    std::fs::write(&path, "{\"cases\": [1, 2").unwrap();
    let out = bacap_chat(&["conformance", "bacap", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is not a bacap vector file"));
    assert!(!text(&out.stderr).contains("panicked"));
}

#[test]
fn demo_three_members_chat_and_share_a_file_through_a_lossy_courier() {
    let out = bacap_chat(&[
        "demo",
        "--file-kib",
        "20",
        "--latency",
        "2",
        "--loss",
        "0.2",
        "--seed",
        "7",
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("courier: simulator on http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("bob sees: channel alice asks for another display name"),
        "{stdout}"
    );
    for who in ["alice", "bob", "carol"] {
        assert!(
            stdout.contains(&format!("--- transcript as {who} saw it ---")),
            "{stdout}"
        );
    }
    // Each transcript holds all three texts; the two receivers got the file intact.
    for t in [
        "welcome, bob and carol!",
        "thanks alice, hi carol",
        "hello both",
    ] {
        let in_transcripts = stdout
            .lines()
            .filter(|l| l.ends_with(&format!("): {t}")) && !l.contains(" sees: "))
            .count();
        assert_eq!(in_transcripts, 3, "{t}: {stdout}");
    }
    assert!(
        stdout.contains("alice: the file arrived intact"),
        "{stdout}"
    );
    assert!(
        stdout.contains("carol: the file arrived intact"),
        "{stdout}"
    );
    assert!(stdout.contains("20480 bytes (about 14 boxes"), "{stdout}");
    assert!(
        stdout.contains("demo: every member received every message and the file intact"),
        "{stdout}"
    );
    assert!(!stdout.contains("MISSING"), "{stdout}");
}

#[test]
fn conformance_groupchat_reproduces_katzenqt_and_names_a_mismatch() {
    let out = bacap_chat(&[
        "conformance",
        "groupchat",
        groupchat_vector_file().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "13/13 groupchat vectors reproduced"
    );

    let json = std::fs::read_to_string(groupchat_vector_file()).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["cases"][2]["text"] = serde_json::Value::String("hello grouq".into());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tampered.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let out = bacap_chat(&["conformance", "groupchat", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout).trim(),
        "12/13 groupchat vectors reproduced"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("case \"cases[2] text\", message, field text"),
        "{err}"
    );
    assert!(err.contains("field cbor"), "{err}");
}

#[test]
fn conformance_groupchat_checks_our_own_vectors_too() {
    let ours = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testvectors/data/bacap-chat-groupchat.json");
    let out = bacap_chat(&["conformance", "groupchat", ours.to_str().unwrap()]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "21/21 groupchat vectors reproduced"
    );

    let json = std::fs::read_to_string(&ours).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let sig = v["cases"][1]["signature"].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}",
        if sig.starts_with('0') { "1" } else { "0" },
        &sig[1..]
    );
    v["cases"][1]["signature"] = serde_json::Value::String(flipped);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tampered.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let out = bacap_chat(&["conformance", "groupchat", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout).trim(),
        "20/21 groupchat vectors reproduced"
    );
    assert!(
        text(&out.stderr).contains("case \"cases[1]\", signed_please_add, field signature"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn conformance_sealed_reproduces_the_shared_file_and_names_a_mismatch() {
    let file =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testvectors/data/sealed-cap.json");
    let out = bacap_chat(&["conformance", "sealed", file.to_str().unwrap()]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "19/19 sealed-cap vectors reproduced"
    );

    // A seal that must be refused, checked at the epoch it was sealed for, opens.
    let json = std::fs::read_to_string(&file).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let case = v["cases"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["name"] == "invalid-epoch")
        .unwrap();
    case["epoch"] = serde_json::Value::from(1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tampered.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let out = bacap_chat(&["conformance", "sealed", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout).trim(),
        "18/19 sealed-cap vectors reproduced"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("case \"invalid-epoch\", refuse, field sealed: expected refused"),
        "{err}"
    );

    std::fs::write(&path, "{\"cases\": [{\"name\": 3}]}").unwrap();
    let out = bacap_chat(&["conformance", "sealed", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is not a sealed-cap vector file"));
    assert!(!text(&out.stderr).contains("panicked"));
}

/// The bundled courier, killed when dropped.
struct BundledCourier(std::process::Child);

impl Drop for BundledCourier {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_bundled_courier_serves_two_profiles() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;

    let mut child = Command::new(env!("CARGO_BIN_EXE_bacap-chat"))
        .args([
            "--json",
            "courier",
            "--ephemeral",
            "--listen",
            "127.0.0.1:0",
            "--latency",
            "2",
            "--loss",
            "0.1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _courier = BundledCourier(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let url = v["listening"].as_str().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let home = tempfile::tempdir().unwrap();
    // Runs a command with `input` on its stdin (tokens go in there, not on the command line).
    let run_in = |profile: &str, args: &[&str], input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bacap-chat"))
            .arg("--home")
            .arg(home.path())
            .args(["-p", profile])
            .args(args)
            .env_remove("BACAP_CHAT_HOME")
            .env_remove("BACAP_CHAT_COURIER")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(
            !text(&out.stderr).contains("warning"),
            "{}",
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    let run = |profile: &str, args: &[&str]| run_in(profile, args, "");
    // The courier URL is saved in each profile; later commands find it there.
    run(
        "ann",
        &["profile", "init", "--name", "ann", "--courier", &url],
    );
    run(
        "ben",
        &["profile", "init", "--name", "ben", "--courier", &url],
    );
    let shown = run("ben", &["--json", "profile", "show"]);
    let v: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    assert_eq!(v["courier"], url.as_str());
    assert_eq!(v["display_name"], "ben");
    let listed = run("ann", &["--json", "profile", "list"]);
    assert_eq!(
        listed.lines().collect::<Vec<_>>(),
        ["{\"profile\":\"ann\"}", "{\"profile\":\"ben\"}"]
    );
    let t = run("ann", &["channel", "make", "ben"]);
    let t = run_in("ben", &["channel", "accept", "ann"], &t);
    run_in("ann", &["channel", "accept", "ben"], &t);
    run("ann", &["channel", "send", "ben", "psst"]);
    let polled = run("ben", &["--json", "poll"]);
    let v: serde_json::Value = serde_json::from_str(polled.lines().next().unwrap()).unwrap();
    assert_eq!(v["event"], "channel_text", "{polled}");
    assert_eq!(v["text"], "psst");
    assert_eq!(v["channel"], "ann");
}

#[test]
fn demo_in_json_prints_one_object_per_line_and_ends_ok() {
    let out = bacap_chat(&["--json", "demo", "--latency", "1", "--file-kib", "16"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.last().unwrap()["demo"], "ok");
    let transcript_texts = lines
        .iter()
        .filter(|v| v["transcript"] == true && v["type"] == "text")
        .count();
    assert_eq!(transcript_texts, 9, "three texts seen by three members");
    let files: Vec<_> = lines
        .iter()
        .filter(|v| v["transcript"] == true && v["type"] == "file")
        .map(|v| (v["member"].as_str().unwrap(), v["len"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        files,
        [("alice", 16384), ("bob", 16384), ("carol", 16384)],
        "{files:?}"
    );
}

#[test]
fn profiles_default_to_the_platform_data_directory_and_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let fake_home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bacap-chat"))
        .args(["-p", "zoe", "profile", "init", "--name", "zoe"])
        .env("HOME", fake_home.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("BACAP_CHAT_HOME")
        .env_remove("BACAP_CHAT_PROFILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dir = fake_home
        .path()
        .join(".local/share/bacap-chat/profiles/zoe");
    assert!(dir.join("cli.json").is_file(), "{}", text(&out.stdout));
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    let mode = std::fs::metadata(dir.join("cli.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn files_the_program_creates_are_private_to_their_owner() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("courier");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bacap-chat"))
        .args([
            "courier",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening"), "{line}");
    child.kill().unwrap();
    child.wait().unwrap();

    let mut stack = vec![data];
    let mut files = 0;
    while let Some(path) = stack.pop() {
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o077,
            0,
            "{} is readable by others",
            path.display()
        );
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            files += 1;
        }
    }
    assert!(files > 3, "RocksDB wrote its files ({files})");
}
