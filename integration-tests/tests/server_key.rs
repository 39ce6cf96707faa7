//! The real `lanchat-server` binary's own key: made on first start, reused, printed, pinned
//! the same with an operator's files, and refused when others can read it.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use integration_tests::{bin_path, ServerProcess};

/// `lanchat-server <args>` with `env` and nothing inherited that picks a state directory.
fn run(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(bin_path("lanchat-server"));
    cmd.args(args);
    for var in [
        "LANCHAT_STATE_DIR",
        "STATE_DIRECTORY",
        "XDG_STATE_HOME",
        "HOME",
        "LANCHAT_PLAINTEXT",
        "LANCHAT_TLS_CERT",
        "LANCHAT_TLS_KEY",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run lanchat-server")
}

/// `--fingerprint --state-dir dir`: the fingerprint it prints (exit 0, one line).
#[track_caller]
fn fingerprint_of(dir: &Path) -> String {
    let out = run(
        &["--fingerprint", "--state-dir", dir.to_str().expect("utf-8")],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let fp = text
        .strip_prefix("fingerprint ")
        .and_then(|t| t.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("unexpected output {text:?}"));
    assert!(fp.starts_with("SHA256:") && fp.len() == 50, "{fp}");
    fp.to_owned()
}

#[track_caller]
fn start_in(dir: &Path, extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--state-dir", dir.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    ServerProcess::start_tls(&args)
}

#[test]
fn the_fingerprint_is_printed_after_the_address_stable_across_restarts_and_equal_to_the_flag() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("state");
    let first = start_in(&dir, &[]).fingerprint();
    assert_eq!(
        std::fs::metadata(&dir).expect("made").permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(dir.join("key.pem"))
            .expect("key")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(start_in(&dir, &[]).fingerprint(), first, "after a restart");
    assert_eq!(fingerprint_of(&dir), first);
    // A new certificate for the same key keeps the fingerprint.
    std::fs::remove_file(dir.join("cert.pem")).expect("rm cert");
    assert_eq!(start_in(&dir, &[]).fingerprint(), first);
    // Another state directory, another key.
    assert_ne!(fingerprint_of(&tmp.path().join("other")), first);
}

#[test]
fn fingerprint_creates_the_key_when_needed_and_exits_zero() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("fresh");
    let fp = fingerprint_of(&dir);
    assert!(dir.join("key.pem").exists());
    assert_eq!(fingerprint_of(&dir), fp);
}

#[test]
fn the_state_directory_defaults_to_systemd_then_xdg_then_home() {
    let tmp = tempfile::tempdir().expect("tmp");
    let t = tmp.path();
    let (systemd, xdg, home) = (t.join("systemd"), t.join("xdg"), t.join("home"));
    let cases: &[(&[(&str, &Path)], std::path::PathBuf)] = &[
        (
            &[
                ("STATE_DIRECTORY", &systemd),
                ("XDG_STATE_HOME", &xdg),
                ("HOME", &home),
            ],
            systemd.clone(),
        ),
        (
            &[("XDG_STATE_HOME", &xdg), ("HOME", &home)],
            xdg.join("lanchat"),
        ),
        (&[("HOME", &home)], home.join(".local/state/lanchat")),
        (
            &[("LANCHAT_STATE_DIR", &t.join("env")), ("HOME", &home)],
            t.join("env"),
        ),
    ];
    for (env, want) in cases {
        let out = run(&["--fingerprint"], env);
        assert_eq!(out.status.code(), Some(0), "{env:?}: {out:?}");
        assert!(want.join("key.pem").exists(), "{env:?}: no key in {want:?}");
    }
    let out = run(&["--fingerprint"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--state-dir"), "{err}");
}

#[test]
fn a_key_file_others_can_read_stops_the_server_with_the_file_and_the_fix() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    fingerprint_of(dir);
    let key = dir.join("key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = run(
        &[
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--no-discovery",
            "--state-dir",
            dir.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "never listened: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let path = key.display().to_string();
    assert!(err.contains(&path), "{err}");
    assert!(err.contains(&format!("chmod 600 {path}")), "{err}");
    assert!(err.contains("0644"), "{err}");
}

#[test]
fn an_operators_certificate_and_key_are_pinned_the_same_way() {
    let tmp = tempfile::tempdir().expect("tmp");
    let made = tmp.path().join("made");
    let fp = fingerprint_of(&made);
    let (cert, key) = (made.join("cert.pem"), made.join("key.pem"));
    let unused = tmp.path().join("unused");
    let server = start_in(
        &unused,
        &[
            "--tls-cert",
            cert.to_str().expect("utf-8"),
            "--tls-key",
            key.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(server.fingerprint(), fp);
    // The state directory holds history; no key of its own is made there.
    assert!(
        !unused.join("key.pem").exists() && !unused.join("cert.pem").exists(),
        "no key made for an operator's key"
    );

    let other = tmp.path().join("other");
    fingerprint_of(&other);
    let out = run(
        &[
            "--fingerprint",
            "--tls-cert",
            cert.to_str().expect("utf-8"),
            "--tls-key",
            other.join("key.pem").to_str().expect("utf-8"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "a key of another certificate");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&cert.display().to_string()), "{err}");
}

#[test]
fn plaintext_mode_warns_and_makes_no_key() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("state");
    let server = start_in(&dir, &["--plaintext"]);
    server.wait_for_log("not encrypted", 1);
    assert!(
        server.log().contains("anyone on the network can read"),
        "{}",
        server.log()
    );
    // The state directory holds history (plaintext servers keep it too), but no key.
    let no_key = || !dir.join("key.pem").exists() && !dir.join("cert.pem").exists();
    assert!(no_key(), "no key made for a plaintext server");

    let mut cmd = ServerProcess::command(&["--state-dir", dir.to_str().expect("utf-8")]);
    cmd.env("LANCHAT_PLAINTEXT", "1");
    let from_env = ServerProcess::spawn(cmd);
    from_env.wait_for_log("not encrypted", 1);
    assert!(no_key());
}
