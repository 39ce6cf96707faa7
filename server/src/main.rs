//! `lanchat-server`: parse flags, set up logging, load the key, bind, open the state directory,
//! print the address and the key's fingerprint, run.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{CommandFactory as _, Parser};
use lanchat_server::identity::{FileError, Names, Setup, Sources};
use lanchat_server::persist::Placement;
use lanchat_server::tls::{state_dir, Identity, KeySource, Mode, Origin};
use lanchat_server::{sockets, Clock, Config, Exit, Server, Signals};

fn main() -> ExitCode {
    let mut config = Config::parse();
    if let Err(msg) = config.validate() {
        Config::command()
            .error(clap::error::ErrorKind::ArgumentConflict, msg)
            .exit();
    }
    // The loop's clock, which the logger reads too (a test's clock moves both).
    let clock = lanchat_server::clock::of_process();
    lanchat_server::logger::init(Box::new(Arc::clone(&clock)));
    let result = if config.fingerprint {
        print_fingerprint(&config)
    } else {
        run(&mut config, clock)
    };
    match result {
        Ok(Exit::Graceful) => ExitCode::SUCCESS,
        Ok(Exit::Forced) => ExitCode::from(130),
        Err(e) => {
            eprintln!("lanchat-server: {e:#}");
            // A file a flag names that cannot be used is the flags' fault: exit 2, as clap's.
            if e.downcast_ref::<FileError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// `--fingerprint`: print the key's fingerprint line (creating the key if needed).
fn print_fingerprint(config: &Config) -> anyhow::Result<Exit> {
    let identity = Identity::load(&KeySource::of(config)?)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "fingerprint {}", identity.fingerprint())
        .and_then(|()| stdout.flush())
        .context("cannot print the fingerprint")?;
    Ok(Exit::Graceful)
}

fn run(config: &mut Config, clock: Arc<dyn Clock + Sync>) -> anyhow::Result<Exit> {
    // First: a reload or a stats request during start-up waits for the loop.
    let signals = Signals::catch().context("cannot install signal handlers")?;
    // Then the flags' files: a typo in one is said before anything else happens.
    let setup = identity(config)?;
    let mode = Mode::from_config(config)?;
    log_mode(&mode);
    if config.plaintext && config.password_file.is_some() {
        log::warn!(
            "--plaintext-password: the password crosses the network in the clear; anyone on \
             it can read it"
        );
    }
    lanchat_server::memory::tune_allocator();
    match sockets::raise_fd_limit() {
        Ok((nofile, _hard)) => {
            if let Some(asked) = config.fit_fd_limit(nofile) {
                log::warn!(
                    "--max-clients lowered from {asked} to {} to fit the file-descriptor limit ({nofile})",
                    config.max_clients
                );
            }
        }
        Err(e) => log::warn!("cannot read the file-descriptor limit: {e}"),
    }
    if config.history_bound() > lanchat_server::limits::HISTORY_WARN_BYTES {
        log::warn!(
            "--history {} x --max-line {} x --max-rooms {} lets history hold up to {} MiB once full",
            config.history,
            config.max_line,
            config.max_rooms,
            config.history_bound() >> 20
        );
    }
    let mut server = Server::bind_with_clock(config, &mode, Box::new(clock))
        .with_context(|| format!("cannot listen on {}", config.addr()))?
        .with_state(&Placement::from_env(config))
        .with_identity(setup);
    if let Mode::Tls(identity) = &mode {
        server.keep_tls_identity(identity);
    }
    server
        .handle_signals(signals)
        .context("cannot install signal handlers")?;
    // The one line on stdout: scripts and tests read the real port from it. Nobody reading it
    // (a closed pipe) is no reason not to serve: `println!` would panic on EPIPE.
    let mut stdout = std::io::stdout().lock();
    let printed = writeln!(stdout, "listening on {}", server.local_addr()).and_then(|()| {
        if let Mode::Tls(identity) = &mode {
            writeln!(stdout, "fingerprint {}", identity.fingerprint())?;
        }
        stdout.flush()
    });
    if let Err(e) = printed {
        log::warn!("cannot print the address on stdout: {e}");
    }
    drop(stdout);
    log::info!(
        "lanchat-server {} on {} (max {} clients, line limit {} bytes)",
        env!("CARGO_PKG_VERSION"),
        server.local_addr(),
        config.max_clients,
        config.max_line
    );
    server.run().context("poll failed")
}

/// Say at start what the port speaks, and where the key came from.
fn log_mode(mode: &Mode) {
    match mode {
        Mode::Plaintext => log::warn!(
            "--plaintext: connections are not encrypted; anyone on the network can read every \
             message, private ones included, and pose as this server"
        ),
        Mode::Tls(identity) => {
            let (key, cert, fingerprint) = (
                identity.key_path().display(),
                identity.cert_path().display(),
                identity.fingerprint(),
            );
            match identity.origin() {
                Origin::Generated => log::info!(
                    "generated a new key {key} and certificate {cert}: fingerprint {fingerprint}"
                ),
                Origin::CertRenewed => log::warn!(
                    "made a new certificate {cert} for key {key} (it was missing or for \
                     another key); the fingerprint is unchanged: {fingerprint}"
                ),
                Origin::Loaded | Origin::Operator => {
                    log::info!("key {key}, certificate {cert}: fingerprint {fingerprint}");
                }
            }
        }
    }
}

/// Identity's files and state: `--allow`, `--ops`, `--password-file` (errors here exit 2), the
/// claims and bans in the state directory (kept in memory only when there is none).
fn identity(config: &Config) -> anyhow::Result<Setup> {
    let state = match state_dir::resolve_from_env(config.state_dir.as_deref()) {
        Ok(_) if config.no_persist => {
            log::info!("--no-persist: claims on names and bans are kept in memory only");
            None
        }
        Ok(dir) => Some(dir),
        Err(e) => {
            log::warn!("{e}; claims on names and bans are kept in memory only");
            None
        }
    };
    let names = if config.plaintext {
        Names::FirstCome
    } else {
        Names::Claimed
    };
    let now = std::time::Instant::now();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Ok(Setup::load(
        Sources::of(config),
        state.as_deref(),
        names,
        config.claim_days,
        now,
        now_ms,
    )?)
}
