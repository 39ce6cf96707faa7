//! The client's signal plumbing, on signal-hook's safe calls: nothing here runs user code
//! inside a signal handler.
//!
//! - A terminal the line editor drives: Ctrl-C is a key there, and rustyline installs a SIGINT
//!   handler of its own while it reads a line (a SIGINT then ends `readline` with
//!   `Interrupted`). Between lines a SIGINT only sets a flag ([`InterruptFlag`]) that the main
//!   thread checks before it reads again; the reader thread wakes the main thread out of
//!   `readline` by raising SIGINT ([`wake_main`]). Such a wake-up that lands between two lines
//!   must not pass for a Ctrl-C (it would quit), so the flag is set only for a SIGINT the
//!   process did not raise itself (its `si_code` is not `SI_TKILL`).
//! - A terminal the line editor cannot drive (`TERM=dumb`): the kernel turns Ctrl-C into SIGINT
//!   after discarding the typed line, so it means "leave"; a thread of ours
//!   ([`on_interrupt`]) acts on it outside any handler. The handler is installed with
//!   `SA_RESTART`, so the main thread's read of the terminal simply goes on.
//! - A window resize (SIGWINCH): the line editor's own answer to it (move up as many rows as
//!   its line took at the old width, clear, draw again) assumes the terminal did not reflow
//!   what was on the screen; terminals that do (tmux, VTE, kitty ...) are left with a stale
//!   copy of the prompt, and the rows it moves up over can hold a message, which the clear
//!   erases. So SIGWINCH is blocked in every thread ([`block_resize`], before any thread
//!   starts) and never reaches the line editor's handler; a thread of ours takes it with
//!   `sigwait` ([`on_resize`]) and the front end draws the whole screen again itself.

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
        let set = Arc::clone(&flag);
        // SAFETY: the action only reads the siginfo it is given and stores to an atomic, both
        // async-signal-safe; it allocates nothing and takes no lock.
        unsafe {
            signal_hook_registry::register_sigaction(SIGINT, move |info: &libc::siginfo_t| {
                // Our own wake-ups (`raise`, which is `tgkill`) are not the user's Ctrl-C.
                if info.si_code != libc::SI_TKILL {
                    set.store(true, Ordering::SeqCst);
                }
            })?;
        }
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

/// The set holding only SIGWINCH.
fn resize_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set it is given (zeroed memory is a valid place for
    // it to do so), and sigaddset adds a valid signal number to an initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGWINCH);
        set
    }
}

/// Block SIGWINCH in this thread, and so in every thread it starts from now on (call it
/// before any other thread exists): resizes are then only seen by [`on_resize`].
///
/// # Errors
/// `pthread_sigmask` failing.
pub fn block_resize() -> io::Result<()> {
    let set = resize_set();
    // SAFETY: a valid, initialised set; the old mask is not asked for (null).
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Run `act` on a thread of its own after every window resize (SIGWINCH, which
/// [`block_resize`] must have blocked in every thread, so it waits for `sigwait`).
///
/// # Errors
/// The thread could not be started.
pub fn on_resize(mut act: impl FnMut() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new()
        .name("resize".into())
        .spawn(move || {
            let set = resize_set();
            loop {
                let mut sig = 0;
                // SAFETY: a valid, initialised set and a place for the signal number.
                if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
                    act();
                }
            }
        })?;
    Ok(())
}

/// End the process at once with `code`, from any thread (nothing is unwound or flushed: the
/// callers flush what they printed first).
pub fn exit_now(code: u8) -> ! {
    signal_hook::low_level::exit(i32::from(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_wake_up_is_not_a_ctrl_c() {
        // Regression: a wake-up that landed between two lines set the flag, and the main
        // thread took it for the user's Ctrl-C and quit.
        let flag = InterruptFlag::register().unwrap();
        wake_main().unwrap();
        assert!(!flag.take(), "raised by us");
        // One from outside (the terminal, kill): a Ctrl-C. The handler may run on another
        // thread, so look for a while.
        // SAFETY: kill(2) to our own pid.
        unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut seen = flag.take();
        while !seen && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
            seen = flag.take();
        }
        assert!(seen, "a SIGINT from outside");
    }
}
