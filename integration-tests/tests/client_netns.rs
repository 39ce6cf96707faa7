//! `lanchat --discover` finds a server by real broadcast, between two network namespaces the
//! test makes itself (joined by a veth pair), so no datagram leaves them.
//!
//! Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN) and `ip` from iproute2; without them the test
//! is ignored, with the reason (`build.rs` looks for both). The namespaces are deleted when the test ends, even when
//! it fails; ones left behind by a test run that was killed are deleted at the next run.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use integration_tests::{bin_path, ChildGuard, ServerProcess, DEADLINE};

/// Namespaces made by this test are named `lanchat-test-<pid>-<role>`.
const PREFIX: &str = "lanchat-test-";

/// The subnet on the veth pair; it exists only inside the two namespaces.
const CLIENT_IP: &str = "10.213.7.1/24";
const SERVER_IP: &str = "10.213.7.2";

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Two namespaces joined by a veth pair; deleted on drop.
struct NetnsPair {
    client: String,
    server: String,
}

impl NetnsPair {
    fn create() -> Result<NetnsPair, String> {
        remove_stale();
        let pid = std::process::id();
        let pair = NetnsPair {
            client: format!("{PREFIX}{pid}-c"),
            server: format!("{PREFIX}{pid}-s"),
        };
        // From here on, `pair` deletes whatever was made, however far this gets.
        let (c, s) = (pair.client.as_str(), pair.server.as_str());
        let (vc, vs) = (format!("lcv{pid}c"), format!("lcv{pid}s"));
        ip(&["netns", "add", c])?;
        ip(&["netns", "add", s])?;
        // Made inside the namespaces directly: nothing appears in the host's namespace.
        ip(&[
            "link", "add", &vc, "netns", c, "type", "veth", "peer", "name", &vs, "netns", s,
        ])?;
        ip(&["-n", c, "addr", "add", CLIENT_IP, "brd", "+", "dev", &vc])?;
        ip(&[
            "-n",
            s,
            "addr",
            "add",
            &format!("{SERVER_IP}/24"),
            "brd",
            "+",
            "dev",
            &vs,
        ])?;
        for (ns, dev) in [(c, vc.as_str()), (s, vs.as_str())] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(pair)
    }

    /// `cmd` run inside namespace `ns` (`ip netns exec` execs it, so the pid is the program's).
    fn exec(ns: &str, program: &std::path::Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).arg(program).args(args);
        cmd
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        // Deleting a namespace also deletes the veth end inside it (and so its peer).
        let _ = ip(&["netns", "del", &self.client]);
        let _ = ip(&["netns", "del", &self.server]);
    }
}

/// Delete namespaces of earlier runs whose process is gone (a run killed mid-test).
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// Why this machine cannot run the test, if it cannot.
fn cannot_run() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root to make network namespaces".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("`ip` (iproute2) is not installed".into());
    }
    None
}

#[test]
#[cfg_attr(
    lanchat_no_netns,
    ignore = "needs root with CAP_SYS_ADMIN and CAP_NET_ADMIN, and `ip` (iproute2), for network namespaces"
)]
fn discover_finds_a_server_in_another_namespace_by_broadcast() {
    if let Some(why) = cannot_run() {
        eprintln!("skipped: {why}");
        return;
    }
    let pair = match NetnsPair::create() {
        Ok(p) => p,
        // The build found root with the capabilities namespaces need: not making them is a
        // failure here, not a reason to pass untested.
        Err(why) => panic!("cannot make network namespaces: {why}"),
    };
    // The default port, so the client's default probe port is what is tested.
    let server = ServerProcess::spawn(NetnsPair::exec(
        &pair.server,
        &bin_path("lanchat-server"),
        &["--bind", "0.0.0.0", "--port", "7070", "--name", "nsroom"],
    ));
    assert_eq!(server.addr().port(), 7070);

    let mut client = NetnsPair::exec(
        &pair.client,
        &bin_path("lanchat"),
        &[
            "--discover",
            "--name",
            "nsbot",
            "--no-timestamps",
            "--plaintext",
        ],
    );
    integration_tests::short_client_waits(&mut client)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut client = ChildGuard(client.spawn().expect("spawn lanchat in the namespace"));
    let mut stdin = client.0.stdin.take().expect("stdin");
    stdin
        .write_all(b"hello from the other namespace\n<quit>\n")
        .expect("stdin");
    drop(stdin);
    let (tx, rx) = mpsc::channel();
    for mut pipe in [
        Box::new(client.0.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
        Box::new(client.0.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            let _ = tx.send(s);
        });
    }
    let mut outputs = Vec::new();
    for _ in 0..2 {
        outputs.push(rx.recv_timeout(DEADLINE).expect("lanchat still running"));
    }
    let status = client.0.wait().expect("wait");
    let all = outputs.join("\n");
    assert!(status.success(), "{status:?}:\n{all}");
    assert!(
        all.contains(&format!("  1) nsroom at {SERVER_IP}:7070, 0 users")),
        "{all}"
    );
    assert!(all.contains("* here now (1): nsbot"), "{all}");
    assert!(
        server.log().contains("nsbot"),
        "server never saw the client:\n{}",
        server.log()
    );
    drop(server);
    drop(pair);
}
