//! Build-time probes for what a few tests need from the machine, so that a test that cannot run
//! here is reported as ignored, with the reason, instead of passing without running:
//! - `lanchat_no_prlimit`: `prlimit` (util-linux) is missing (`robustness_fds`);
//! - `lanchat_no_netns`: not root, or `ip` (iproute2) is missing (`client_netns`).
//!
//! The probes run again when `PATH` changes (or after `cargo clean -p integration-tests`).

use std::process::Command;

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn main() {
    println!("cargo::rustc-check-cfg=cfg(lanchat_no_prlimit)");
    println!("cargo::rustc-check-cfg=cfg(lanchat_no_netns)");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-changed=build.rs");
    if !runs("prlimit", &["--version"]) {
        println!("cargo::rustc-cfg=lanchat_no_prlimit");
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root || !runs("ip", &["-V"]) {
        println!("cargo::rustc-cfg=lanchat_no_netns");
    }
}
