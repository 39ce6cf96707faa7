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
//! joined, 2 for bad flags (clap), 3 when the server went away or did not answer the quit.

mod app;

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let settings = match app::Settings::load(app::Args::parse()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lanchat: {e}");
            return ExitCode::FAILURE;
        }
    };
    let interactive = io::stdin().is_terminal() && io::stdout().is_terminal();
    let result = if interactive {
        app::interactive::run(&settings)
    } else {
        app::scripted::run(&settings)
    };
    match result {
        Ok(outcome) => {
            if let Some(why) = outcome.farewell() {
                eprintln!("lanchat: {why}");
            }
            ExitCode::from(outcome.exit_code())
        }
        Err(e) => {
            eprintln!("lanchat: {e:#}");
            ExitCode::FAILURE
        }
    }
}
