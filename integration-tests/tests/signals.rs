//! The built `lanchat-server` and its signals besides SIGINT/SIGTERM: SIGHUP (what
//! `systemctl reload` sends) re-reads what can change and nobody connected notices; SIGUSR1
//! logs every figure `/stats` gives.

use std::path::Path;
use std::process::Command;

use integration_tests::{bin_path, Client, ServerProcess};
use lanchat_proto::StatKey;

/// `lanchat-server --fingerprint --state-dir <dir>`: makes a key and certificate in `dir`;
/// returns the fingerprint.
fn make_key(dir: &Path) -> String {
    let out = Command::new(bin_path("lanchat-server"))
        .args(["--fingerprint", "--state-dir"])
        .arg(dir)
        .output()
        .expect("run lanchat-server --fingerprint");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .strip_prefix("fingerprint ")
        .expect("a fingerprint line")
        .to_owned()
}

/// The key `server` (a TLS one) presents.
fn fingerprint(server: &ServerProcess) -> lanchat_proto::Fingerprint {
    server.fingerprint().parse().expect("a fingerprint")
}

/// Copy `from`'s key and certificate over `cert` and `key` (as an operator renewing them).
fn install(from: &Path, cert: &Path, key: &Path) {
    std::fs::copy(from.join("cert.pem"), cert).expect("copy cert");
    std::fs::copy(from.join("key.pem"), key).expect("copy key");
}

#[test]
fn sighup_logs_a_reload_and_nobody_connected_notices() {
    let server = ServerProcess::start_tls(&["--rate", "0"]);
    let fp = fingerprint(&server);
    let join = |name| Client::join_tls(server.addr(), fp, name);
    let mut ann = join("ann");
    let mut bob = join("bob");
    ann.expect("JOIN bob");
    for n in 1..=3 {
        server.signal(libc::SIGHUP);
        assert_eq!(
            server.wait_for_log("SIGHUP: reload: ", n),
            n,
            "{}",
            server.log()
        );
    }
    // Had anything been said to them (a BYE), it would come before the answers.
    bob.send("still here");
    ann.expect("MSG bob still here");
    assert_eq!(ann.sync(), Vec::<String>::new());
    assert_eq!(bob.sync(), Vec::<String>::new());
    // And it still takes newcomers.
    let carl = join("carl");
    ann.expect("JOIN carl");
    drop(carl);
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("SIGHUP: reload: "))
        .expect("found above");
    assert!(line.contains(" INFO  "), "{line}");
    assert!(
        line.contains("discovery name not re-read (discovery is off)"),
        "{line}"
    );
    assert!(
        line.contains("TLS certificate and key not re-read (generated in the state directory"),
        "{line}"
    );
    assert!(line.ends_with("(restart to change them)"), "{line}");
    assert!(!log.contains("shutting down"), "{log}");
}

#[test]
fn sighup_rereads_the_operators_certificate_and_keeps_the_old_one_when_the_new_is_bad() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
    let (fp1, fp2) = (make_key(&first), make_key(&second));
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    install(&first, &cert, &key);
    let server = ServerProcess::start_tls(&[
        "--tls-cert",
        cert.to_str().expect("utf-8"),
        "--tls-key",
        key.to_str().expect("utf-8"),
    ]);
    assert_eq!(server.fingerprint(), fp1);
    let mut ann = Client::join_tls(server.addr(), fp1.parse().expect("fp"), "ann");
    let reload = |n: usize| {
        server.signal(libc::SIGHUP);
        server.wait_for_log("SIGHUP: reload: ", n);
        let log = server.log();
        let line = log
            .lines()
            .filter(|l| l.contains("SIGHUP: reload: "))
            .nth(n - 1)
            .unwrap_or_else(|| panic!("no reload {n} in:\n{log}"))
            .to_owned();
        line
    };

    let line = reload(1);
    assert!(
        line.contains(&format!(
            "TLS certificate and key unchanged (fingerprint {fp1}, from {}",
            cert.display()
        )),
        "{line}"
    );

    // Renewed with another key: in force, and warned about.
    install(&second, &cert, &key);
    let line = reload(2);
    assert!(line.contains(" WARN  "), "{line}");
    assert!(
        line.contains(&format!(
            "TLS certificate and key changed, from {fp1} to {fp2}: clients that remember"
        )),
        "{line}"
    );
    // New connections get the new key (a client pinned to the old one is refused); ann,
    // connected under the old one, notices nothing.
    let bob = Client::join_tls(server.addr(), fp2.parse().expect("fp"), "bob");
    ann.expect("JOIN bob");
    drop(bob);
    ann.expect("LEAVE bob disconnected");

    // A key that does not belong to the certificate: the one in force stays.
    std::fs::copy(first.join("key.pem"), &key).expect("copy key");
    let line = reload(3);
    assert!(line.contains(" WARN  "), "{line}");
    assert!(
        line.contains("TLS certificate and key NOT reloaded, the old one stays in force: "),
        "{line}"
    );
    // ... and the next good reload compares with what stayed in force: the second key.
    install(&second, &cert, &key);
    let line = reload(4);
    assert!(
        line.contains(&format!("unchanged (fingerprint {fp2}")),
        "{line}"
    );
    assert_eq!(ann.sync(), Vec::<String>::new());
}

#[test]
fn sigusr1_logs_every_figure_on_one_line() {
    let server = ServerProcess::start(&["--rate", "0"]);
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    bob.send("hello");
    ann.expect("MSG bob hello");
    server.signal(libc::SIGUSR1);
    server.wait_for_log("SIGUSR1: stats: ", 1);
    let log = server.log();
    let line = log
        .lines()
        .find_map(|l| l.split_once("SIGUSR1: stats: ").map(|(_, s)| s.to_owned()))
        .expect("found above");
    let pairs: Vec<(&str, &str)> = line
        .split(' ')
        .map(|p| {
            p.split_once('=')
                .unwrap_or_else(|| panic!("{p:?} in {line}"))
        })
        .collect();
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
    let want: Vec<&str> = StatKey::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(keys, want, "{line}");
    let get = |key: &str| -> u64 {
        let v = pairs.iter().find(|(k, _)| *k == key).expect("every key").1;
        v.parse().unwrap_or_else(|_| panic!("{key}={v}"))
    };
    assert_eq!(get("users"), 2, "{line}");
    assert_eq!(get("connections"), 2, "{line}");
    assert_eq!(get("messages-in"), 1, "{line}");
    assert_eq!(get("messages-out"), 1, "{line}");
    assert!(
        get("bytes-in") >= "ann\nbob\nhello\n".len() as u64,
        "{line}"
    );
    assert!(get("bytes-out") > get("bytes-in"), "{line}");
    assert!(
        get("rss") > 1 << 20 && get("rss-peak") >= get("rss"),
        "{line}"
    );
    // Still serving.
    assert_eq!(ann.sync(), Vec::<String>::new());
}
