//! Build-time probes for what a few tests need from the machine, so that a test that cannot run
//! here is reported as ignored, with the reason, instead of passing without checking anything:
//! - `lanchat_no_prlimit`: `prlimit` (util-linux) is missing (`robustness_fds`);
//! - `lanchat_no_netns`: not root, without `CAP_SYS_ADMIN` and `CAP_NET_ADMIN`, or `ip`
//!   (iproute2) is missing (`client_netns`);
//! - `lanchat_can_mount`, `lanchat_ignores_permissions`: this user can mount file systems
//!   (`CAP_SYS_ADMIN`), and is not bound by file modes (`CAP_DAC_OVERRIDE`), for the tests that
//!   give the server a full or read-only state directory (`persist_disk`);
//! - `has_man`, `has_systemd_analyze`: the packaging tests' tools (`install`), which `.ci/run`
//!   installs;
//! - `has_tmux`: a terminal that reflows its lines on a resize (`client_resize`), which
//!   `.ci/run` installs;
//! - `has_openssl`: `openssl s_client` talking to the server (`tls_server`).
//!
//! The probes run again when `PATH` changes, and when one of those tools is installed or
//! removed (or after `cargo clean -p integration-tests`).

use std::path::PathBuf;
use std::process::Command;

/// (cfg set when every tool is found, the tools)
const NEEDS: [(&str, &[&str]); 4] = [
    ("has_man", &["man", "groff"]),
    ("has_systemd_analyze", &["systemd-analyze"]),
    ("has_tmux", &["tmux"]),
    ("has_openssl", &["openssl"]),
];

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

include!("../server/build/capabilities.rs");

const CAP_NET_ADMIN: u64 = 1 << 12;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(lanchat_no_prlimit)");
    println!("cargo::rustc-check-cfg=cfg(lanchat_no_netns)");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=../server/build/capabilities.rs");
    if !runs("prlimit", &["--version"]) {
        println!("cargo::rustc-cfg=lanchat_no_prlimit");
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    // `ip netns add` unshares a network namespace and bind-mounts it (CAP_SYS_ADMIN), and the
    // test then moves a veth pair and sets addresses (CAP_NET_ADMIN): a root without them (a
    // container) cannot, and its test shows as ignored rather than passing untested.
    let caps = effective_capabilities();
    let netns_caps = caps & CAP_SYS_ADMIN != 0 && caps & CAP_NET_ADMIN != 0;
    if !root || !netns_caps || !runs("ip", &["-V"]) {
        println!("cargo::rustc-cfg=lanchat_no_netns");
    }
    capabilities();

    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    for (cfg, tools) in NEEDS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        let found: Vec<Option<PathBuf>> = tools
            .iter()
            .map(|t| dirs.iter().map(|d| d.join(t)).find(|p| p.is_file()))
            .collect();
        if found.iter().all(Option::is_some) {
            println!("cargo::rustc-cfg={cfg}");
            // Noticed when removed.
            for p in found.into_iter().flatten() {
                println!("cargo::rerun-if-changed={}", p.display());
            }
        } else {
            // Noticed when installed: a new file changes its folder.
            for d in dirs.iter().filter(|d| d.is_dir()) {
                println!("cargo::rerun-if-changed={}", d.display());
            }
        }
    }
}
