//! Tells the persistence tests what this machine lets them do to file systems, so the ones it
//! cannot run show as ignored with their reason instead of passing without testing anything.
//! Read when the crate is built, which is as the user who then runs `cargo test`.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(lanchat_can_mount)");
    println!("cargo::rustc-check-cfg=cfg(lanchat_ignores_permissions)");
    println!("cargo::rerun-if-changed=build.rs");
    // Effective capabilities, as a hex mask (Linux); none elsewhere.
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .unwrap_or(0);
    const CAP_DAC_OVERRIDE: u64 = 1 << 1;
    const CAP_SYS_ADMIN: u64 = 1 << 21;
    if caps & CAP_SYS_ADMIN != 0 {
        println!("cargo::rustc-cfg=lanchat_can_mount");
    }
    if caps & CAP_DAC_OVERRIDE != 0 {
        println!("cargo::rustc-cfg=lanchat_ignores_permissions");
    }
}
