//! `lanchat`: chat on a lanchat server from the terminal.
//!
//! Thin glue around `lanchat_client`: flags, then one of two front ends (`app`), then the exit
//! code the session decided.
//!
//! - **Interactive** (stdin and stdout are terminals): rustyline prompts for the address and
//!   name, then edits chat lines on the main thread while a reader thread prints what arrives
//!   through rustyline's `ExternalPrinter`, above the line being typed.
//! - **Scripted** (otherwise): no prompts, no line editor; stdin lines are sent, received lines
//!   go to stdout rendered without colour.
//!
//! Exit codes: 0 after quitting (the server answered the quit), 1 when no server could be
//! joined (not trusted, not on its allowlist, a wrong password), 2 for bad flags (clap, an
//! unreadable `--password-file`), 3 when the server went away or did not answer the quit, 4
//! when the server's key is not the one expected, 5 when an operator kicked the user, 6 when
//! the user is banned (sent away by a ban, or refused on arrival).

mod app;

use std::io::{self, IsTerminal, Write as _};
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser};
use lanchat_client::connect::{ConnectFailure, JoinError};
use lanchat_client::password::PasswordFileError;

fn main() -> ExitCode {
    let args = app::Args::parse();
    if let Err(msg) = args.validate() {
        app::Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, msg)
            .exit();
    }
    let settings = match app::Settings::load(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lanchat: {e}");
            return ExitCode::FAILURE;
        }
    };
    if settings.args.fingerprint {
        return print_fingerprint(&settings);
    }
    let interactive = io::stdin().is_terminal() && io::stdout().is_terminal();
    let result = if interactive {
        app::interactive::run(&settings)
    } else {
        app::scripted::run(&settings)
    };
    match result {
        Ok(outcome) => {
            if let Some(text) = outcome.farewell_text() {
                eprintln!("{text}");
            }
            ExitCode::from(outcome.exit_code())
        }
        // Not trusted, not encrypted: the words (several lines) and the exit code are its own.
        Err(e) => {
            if let Some(failure) = e.downcast_ref::<ConnectFailure>() {
                eprintln!("{}", failure.message());
                return ExitCode::from(failure.exit_code());
            }
            eprintln!("lanchat: {e:#}");
            if let Some(kept_out) = e.downcast_ref::<JoinError>() {
                return ExitCode::from(kept_out.exit_code());
            }
            if e.downcast_ref::<PasswordFileError>().is_some() {
                return ExitCode::from(2);
            }
            ExitCode::FAILURE
        }
    }
}

/// `--fingerprint`: the user's key's fingerprint line (making the key if needed), as the
/// server's `--fingerprint` prints its own.
fn print_fingerprint(settings: &app::Settings) -> ExitCode {
    match settings.identity(&mut |note| eprintln!("{note}")) {
        Ok(me) => {
            let mut out = io::stdout().lock();
            match writeln!(out, "fingerprint {}", me.fingerprint()).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("lanchat: cannot print the fingerprint: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("lanchat: {e}");
            ExitCode::FAILURE
        }
    }
}
