//! `lanchat-server`: parse flags, set up logging, load the key, bind, open the state directory,
//! print the address and the key's fingerprint, run.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory as _, Parser};
use lanchat_server::persist::Placement;
use lanchat_server::tls::{Identity, KeySource, Mode, Origin};
use lanchat_server::{sockets, Config, Exit, Server, Signals};

fn main() -> ExitCode {
    let mut config = Config::parse();
    if let Err(msg) = config.validate() {
        Config::command()
            .error(clap::error::ErrorKind::ArgumentConflict, msg)
            .exit();
    }
    lanchat_server::logger::init();
    let result = if config.fingerprint {
        print_fingerprint(&config)
    } else {
        run(&mut config)
    };
    match result {
        Ok(Exit::Graceful) => ExitCode::SUCCESS,
        Ok(Exit::Forced) => ExitCode::from(130),
        Err(e) => {
            eprintln!("lanchat-server: {e:#}");
            ExitCode::FAILURE
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

fn run(config: &mut Config) -> anyhow::Result<Exit> {
    // First: a reload or a stats request during start-up waits for the loop.
    let signals = Signals::catch().context("cannot install signal handlers")?;
    let mode = Mode::from_config(config)?;
    log_mode(&mode);
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
    let mut server = Server::bind(config, &mode)
        .with_context(|| format!("cannot listen on {}", config.addr()))?
        .with_state(&Placement::from_env(config));
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
