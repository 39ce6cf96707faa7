// What this machine lets tests do to file systems, as cfgs, so the tests it does not allow show
// as ignored with their reason instead of passing without testing anything. Read when a crate
// is built, which is as the user who then runs `cargo test`. Included by the build scripts of
// `lanchat-server` and `integration-tests`.

/// Set `lanchat_can_mount` when this user can mount file systems (`CAP_SYS_ADMIN`) and
/// `lanchat_ignores_permissions` when file modes do not bind it (`CAP_DAC_OVERRIDE`): Linux
/// effective capabilities; none elsewhere.
fn capabilities() {
    println!("cargo::rustc-check-cfg=cfg(lanchat_can_mount)");
    println!("cargo::rustc-check-cfg=cfg(lanchat_ignores_permissions)");
    let caps = effective_capabilities();
    if caps & CAP_SYS_ADMIN != 0 {
        println!("cargo::rustc-cfg=lanchat_can_mount");
    }
    if caps & CAP_DAC_OVERRIDE != 0 {
        println!("cargo::rustc-cfg=lanchat_ignores_permissions");
    }
}

const CAP_DAC_OVERRIDE: u64 = 1 << 1;
const CAP_SYS_ADMIN: u64 = 1 << 21;

/// This process's effective capabilities (Linux `CapEff`); none elsewhere.
fn effective_capabilities() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .unwrap_or(0)
}
