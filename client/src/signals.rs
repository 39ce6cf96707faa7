//! The client's signal plumbing, on signal-hook's safe calls: nothing here runs user code
//! inside a signal handler.
//!
//! - A terminal the line editor drives: Ctrl-C is a key there, and rustyline installs a SIGINT
//!   handler of its own while it reads a line (a SIGINT then ends `readline` with
//!   `Interrupted`). Between lines a SIGINT only sets a flag ([`InterruptFlag`]) that the main
//!   thread checks before it reads again; the reader thread wakes the main thread out of
//!   `readline` by raising SIGINT ([`wake_main`]).
//! - A terminal the line editor cannot drive (`TERM=dumb`): the kernel turns Ctrl-C into SIGINT
//!   after discarding the typed line, so it means "leave"; a thread of ours
//!   ([`on_interrupt`]) acts on it outside any handler. The handler is installed with
//!   `SA_RESTART`, so the main thread's read of the terminal simply goes on.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::SIGINT;
use signal_hook::iterator::Signals;

/// Set when a SIGINT arrives outside the line editor.
#[derive(Debug, Clone)]
pub struct InterruptFlag(Arc<AtomicBool>);

impl InterruptFlag {
    /// Catch SIGINT into a flag (instead of dying with the terminal half set up).
    ///
    /// # Errors
    /// The handler could not be installed.
    pub fn register() -> io::Result<InterruptFlag> {
        let flag = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(SIGINT, Arc::clone(&flag))?;
        Ok(InterruptFlag(flag))
    }

    /// Whether a SIGINT came since the last call.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

/// Wake the main thread out of `readline`: rustyline turns a SIGINT into `Interrupted`.
///
/// # Errors
/// `raise` failing.
pub fn wake_main() -> io::Result<()> {
    signal_hook::low_level::raise(SIGINT)
}

/// Run `act` on a thread of its own for every SIGINT, from now on.
///
/// # Errors
/// The handler or the thread could not be set up.
pub fn on_interrupt(mut act: impl FnMut() + Send + 'static) -> io::Result<()> {
    let mut signals = Signals::new([SIGINT])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                act();
            }
        })?;
    Ok(())
}

/// End the process at once with `code`, from any thread (nothing is unwound or flushed: the
/// callers flush what they printed first).
pub fn exit_now(code: u8) -> ! {
    signal_hook::low_level::exit(i32::from(code))
}
