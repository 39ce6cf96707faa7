//! Tells the persistence tests what this machine lets them do to file systems, so the ones it
//! cannot run show as ignored with their reason instead of passing without testing anything.
//! Read when the crate is built, which is as the user who then runs `cargo test`.

include!("build/capabilities.rs");

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=build/capabilities.rs");
    capabilities();
}
