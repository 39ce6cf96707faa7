//! Finds the tools some packaging tests need (`man`, `groff`, `systemd-analyze`). Where one
//! is missing, those tests are compiled as ignored, with the reason, instead of passing
//! without checking anything. `.ci/run` installs them.

use std::path::PathBuf;

/// (cfg set when every tool is found, the tools)
const NEEDS: [(&str, &[&str]); 2] = [
    ("has_man", &["man", "groff"]),
    ("has_systemd_analyze", &["systemd-analyze"]),
];

fn main() {
    println!("cargo::rerun-if-env-changed=PATH");
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
