//! `make install` and `make uninstall` into a temporary folder: every file where it belongs,
//! binaries that run, man pages that `man` renders, completions bash loads, and a systemd
//! unit that `systemd-analyze verify` passes.
//!
//! The tests that need `man`/`groff` or `systemd-analyze` are ignored, saying so, where the
//! tool is not installed (found by build.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use integration_tests::bin_path;

/// A fresh folder under the system's temporary one, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("lanchat-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `make <target> <vars>` in the workspace, with the binaries this test run was built with.
#[track_caller]
fn make(target: &str, vars: &[(&str, &Path)]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let build = bin_path("lanchat-packaging")
        .parent()
        .expect("target dir")
        .to_path_buf();
    let _ = bin_path("lanchat");
    let mut cmd = Command::new("make");
    cmd.arg("-C").arg(root).arg(target);
    cmd.arg(format!("BUILD={}", build.display()));
    for (k, v) in vars {
        cmd.arg(format!("{k}={}", v.display()));
    }
    // Run as its own make, not as a part of the `make test` that may be running this.
    for k in ["MAKEFLAGS", "MFLAGS", "MAKELEVEL"] {
        cmd.env_remove(k);
    }
    let out = cmd.output().expect("run make");
    assert!(
        out.status.success(),
        "make {target} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every file `make install` puts under `root` (DESTDIR + PREFIX), relative to it, sorted.
fn files_under(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                let rel = path.strip_prefix(root).expect("under root");
                out.push(rel.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// What `make install` writes under the prefix.
const INSTALLED: [&str; 11] = [
    "bin/lanchat",
    "bin/lanchat-server",
    "lib/systemd/system/lanchat.service",
    "share/bash-completion/completions/lanchat",
    "share/bash-completion/completions/lanchat-server",
    "share/fish/vendor_completions.d/lanchat-server.fish",
    "share/fish/vendor_completions.d/lanchat.fish",
    "share/man/man1/lanchat.1",
    "share/man/man8/lanchat-server.8",
    "share/zsh/site-functions/_lanchat",
    "share/zsh/site-functions/_lanchat-server",
];

#[test]
fn make_install_puts_everything_under_destdir_and_uninstall_takes_it_away() {
    let destdir = TempDir::new("destdir");
    make("install", &[("DESTDIR", &destdir.0)]);
    let prefix = destdir.0.join("usr/local");
    assert_eq!(
        files_under(&destdir.0),
        INSTALLED.map(|f| format!("usr/local/{f}"))
    );

    // The installed binaries run.
    for (bin, want) in [
        ("lanchat-server", "lanchat-server "),
        ("lanchat", "lanchat "),
    ] {
        let out = Command::new(prefix.join("bin").join(bin))
            .arg("--version")
            .output()
            .expect("run installed binary");
        assert!(out.status.success(), "{bin} --version");
        let version = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            version.trim(),
            format!("{want}{}", env!("CARGO_PKG_VERSION"))
        );
        // Stripped: the debug info stays in target/.
        let size = |p: &Path| std::fs::metadata(p).expect("stat").len();
        let (built, installed) = (size(&bin_path(bin)), size(&prefix.join("bin").join(bin)));
        assert!(
            installed < built / 2,
            "{bin}: {installed} B installed, {built} B built"
        );
    }
    // The unit starts the server where it was installed (PREFIX, not DESTDIR).
    let unit = std::fs::read_to_string(prefix.join("lib/systemd/system/lanchat.service"))
        .expect("read unit");
    assert!(
        unit.lines()
            .any(|l| l == "ExecStart=/usr/local/bin/lanchat-server"),
        "{unit}"
    );
    // The page is the one --help describes.
    let page = std::fs::read_to_string(prefix.join("share/man/man8/lanchat-server.8"))
        .expect("read man page");
    assert!(page.contains("LANCHAT_MAX_CLIENTS") && page.contains(".SH EXAMPLES"));

    make("uninstall", &[("DESTDIR", &destdir.0)]);
    assert_eq!(files_under(&destdir.0), Vec::<String>::new());
}

#[test]
fn prefix_moves_everything_and_the_unit_follows() {
    let destdir = TempDir::new("prefix");
    make(
        "install",
        &[("DESTDIR", &destdir.0), ("PREFIX", Path::new("/usr"))],
    );
    assert_eq!(
        files_under(&destdir.0),
        INSTALLED.map(|f| format!("usr/{f}"))
    );
    let unit = std::fs::read_to_string(destdir.0.join("usr/lib/systemd/system/lanchat.service"))
        .expect("read unit");
    assert!(
        unit.lines()
            .any(|l| l == "ExecStart=/usr/bin/lanchat-server"),
        "{unit}"
    );
}

#[test]
fn bash_loads_the_completions() {
    let destdir = TempDir::new("bash");
    make("install", &[("DESTDIR", &destdir.0)]);
    let script = destdir
        .0
        .join("usr/local/share/bash-completion/completions/lanchat-server");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p lanchat-server",
            script.display()
        ))
        .output()
        .expect("run bash");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains(" lanchat-server"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[cfg_attr(
    not(has_man),
    ignore = "needs man and groff (apt-get install man-db groff-base; .ci/run installs them)"
)]
fn man_renders_the_installed_pages() {
    let destdir = TempDir::new("man");
    make("install", &[("DESTDIR", &destdir.0)]);
    let page = destdir.0.join("usr/local/share/man/man8/lanchat-server.8");
    let out = Command::new("man")
        .args(["--warnings", "-P", "cat", "-l"])
        .arg(&page)
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("run man");
    let text = String::from_utf8_lossy(&out.stdout);
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "man failed: {warnings}");
    assert_eq!(warnings, "", "groff warnings");
    for want in [
        "lanchat-server(8)",
        "--max-clients <MAX_CLIENTS>",
        "LANCHAT_NO_DISCOVERY",
        "EXAMPLES",
        // Dashes stay ASCII, so examples can be pasted.
        "lanchat-server --bind 192.168.1.20",
        "LOGGING",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
}

#[test]
#[cfg_attr(
    not(has_systemd_analyze),
    ignore = "needs systemd-analyze (apt-get install systemd; .ci/run tries to)"
)]
fn the_installed_unit_passes_systemd_analyze_verify() {
    // Installed for real under a temporary prefix (no DESTDIR), so the unit's ExecStart names
    // a binary that is there and its man: link a page that is there: verify checks both.
    let prefix = TempDir::new("unit");
    let usr = prefix.0.join("usr");
    make("install", &[("PREFIX", &usr)]);
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(usr.join("lib/systemd/system/lanchat.service"))
        .env("MANPATH", usr.join("share/man"))
        .output()
        .expect("run systemd-analyze");
    let said = String::from_utf8_lossy(&out.stderr);
    let about_ours: Vec<&str> = said.lines().filter(|l| l.contains("lanchat")).collect();
    assert!(
        out.status.success() && about_ours.is_empty(),
        "systemd-analyze verify: {said}"
    );
}
