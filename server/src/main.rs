//! `lanchat-server`: parse flags, set up logging, bind, print the address, run.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use lanchat_server::{sockets, Config, Exit, Server};

fn main() -> ExitCode {
    let mut config = Config::parse();
    lanchat_server::logger::init();
    match run(&mut config) {
        Ok(Exit::Graceful) => ExitCode::SUCCESS,
        Ok(Exit::Forced) => ExitCode::from(130),
        Err(e) => {
            eprintln!("lanchat-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &mut Config) -> anyhow::Result<Exit> {
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
            "--history {} x --max-line {} lets history hold up to {} MiB once full",
            config.history,
            config.max_line,
            config.history_bound() >> 20
        );
    }
    let mut server =
        Server::bind(config).with_context(|| format!("cannot listen on {}", config.addr()))?;
    server
        .handle_signals()
        .context("cannot install signal handlers")?;
    // The one line on stdout: scripts and tests read the real port from it. Nobody reading it
    // (a closed pipe) is no reason not to serve: `println!` would panic on EPIPE.
    let mut stdout = std::io::stdout().lock();
    if let Err(e) =
        writeln!(stdout, "listening on {}", server.local_addr()).and_then(|()| stdout.flush())
    {
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
