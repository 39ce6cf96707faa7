//! `lanchat-packaging`: writes what `make install` installs besides the binaries and the
//! systemd unit: a man page and bash, zsh and fish completions for each command, generated
//! from the clap definitions the binaries parse their own flags with, so they never disagree
//! with `--help`.
//!
//! A binary of its own (not a hidden flag of the server) so the server carries no man-page
//! or completion code; the Makefile runs it with the install directories.

mod man;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser};
use clap_complete::Shell;

/// Write man pages and shell completions for lanchat's commands, and print each path written.
#[derive(Debug, Parser)]
#[command(name = "lanchat-packaging", version)]
struct Args {
    /// Root of the man pages (pages go to its manN/ folders), e.g. /usr/local/share/man.
    #[arg(long)]
    man_dir: PathBuf,
    /// Folder for bash completions, e.g. /usr/local/share/bash-completion/completions.
    #[arg(long)]
    bash_dir: PathBuf,
    /// Folder for zsh completions, e.g. /usr/local/share/zsh/site-functions.
    #[arg(long)]
    zsh_dir: PathBuf,
    /// Folder for fish completions, e.g. /usr/local/share/fish/vendor_completions.d.
    #[arg(long)]
    fish_dir: PathBuf,
}

/// Every installed command, with the man section its page goes in.
fn commands() -> Vec<(clap::Command, man::Section)> {
    vec![
        (lanchat_server::Config::command(), man::Section::Daemon),
        (lanchat_client::cli::Args::command(), man::Section::User),
    ]
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for (cmd, section) in commands() {
        let name = cmd.get_name().to_owned();
        let page = man::page(cmd.clone(), section)?;
        let man_dir = args.man_dir.join(format!("man{}", section.number()));
        write(&man_dir.join(format!("{name}.{}", section.number())), &page)?;
        for (shell, dir, file) in [
            (Shell::Bash, &args.bash_dir, name.clone()),
            (Shell::Zsh, &args.zsh_dir, format!("_{name}")),
            (Shell::Fish, &args.fish_dir, format!("{name}.fish")),
        ] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), &name, &mut script);
            write(&dir.join(file), &script)?;
        }
    }
    Ok(())
}

/// Write `bytes` to `path` (creating its folder) and print the path.
fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}
