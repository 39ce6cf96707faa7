//! The real `lanchat` binary in a terminal that reflows its lines when the window is resized
//! (tmux, like VTE, kitty or iTerm2), against the real server: resizing with a half-typed line
//! must leave no stale copy of the prompt and lose no message.
//!
//! A bare pseudo-terminal shows only the bytes the client writes, not what a reflowing
//! terminal makes of them, so the client runs in a detached tmux session (a server of its own,
//! on a socket named for this test, without the user's configuration) and the test reads the
//! screen and the scrollback back with `capture-pane`. Without tmux the test is ignored,
//! saying so (`.ci/run` installs it).

use integration_tests::procfs::wait_for;
use integration_tests::{bin_path, Client, ServerProcess, DEADLINE};
use std::process::{Command, Output};

/// A tmux server of its own running one window; killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// `command` in a detached window `cols` x `rows`.
    #[track_caller]
    fn start(label: &str, cols: u16, rows: u16, command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("lanchat-test-{label}-{}", std::process::id()),
        };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
            command,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux")
    }

    /// Type `text` as it is (no Enter).
    #[track_caller]
    fn type_text(&self, text: &str) {
        assert!(self.run(&["send-keys", "-l", text]).status.success());
    }

    #[track_caller]
    fn enter(&self) {
        assert!(self.run(&["send-keys", "Enter"]).status.success());
    }

    #[track_caller]
    fn resize(&self, cols: u16) {
        let out = self.run(&["resize-window", "-x", &cols.to_string()]);
        assert!(out.status.success(), "tmux resize-window: {out:?}");
    }

    /// The visible screen, one string per row (trailing blanks dropped).
    fn screen(&self) -> Vec<String> {
        rows(&self.run(&["capture-pane", "-p"]))
    }

    /// The scrollback and the screen, oldest row first.
    fn everything(&self) -> Vec<String> {
        rows(&self.run(&["capture-pane", "-p", "-S", "-"]))
    }

    fn width(&self) -> String {
        let out = self.run(&["display-message", "-p", "#{pane_width}"]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Wait (at most [`DEADLINE`]) until the screen satisfies `ok`; the screen then.
    fn wait_screen(&self, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
        wait_for(DEADLINE, || self.screen(), |s| ok(s))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- screen and scrollback ---\n{}",
                self.everything().join("\n")
            );
        }
        let _ = self.run(&["kill-server"]);
    }
}

/// Rows as tmux prints them, without trailing blanks (so the prompt alone is `ann>`).
fn rows(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end().to_owned())
        .collect()
}

fn count(rows: &[String], needle: &str) -> usize {
    rows.iter().filter(|r| r.contains(needle)).count()
}

#[test]
#[cfg_attr(
    not(has_tmux),
    ignore = "needs tmux (apt-get install tmux; .ci/run installs it)"
)]
fn a_resize_with_a_half_typed_line_leaves_no_stale_prompt_and_loses_no_message() {
    // Regression: typed past 50 columns in a 100-column window, shrunk to 50, a message
    // arrived, widened back: a stale copy of the prompt stayed, and the line editor's redraw
    // (moving up over rows the terminal had joined again) erased the message from the screen
    // and from the scrollback.
    let server = ServerProcess::start(&["--rate", "0"]);
    let command = format!(
        "env NO_COLOR=1 LANCHAT_PLAINTEXT=1 '{}' {} --name ann --no-timestamps",
        bin_path("lanchat").display(),
        server.addr()
    );
    let tmux = Tmux::start("resize", 100, 30, &command);
    tmux.wait_screen(|s| count(s, "* here now (1): ann") == 1 && count(s, "ann>") == 1);
    let mut bob = Client::join(server.addr(), "bob");
    tmux.wait_screen(|s| count(s, "* bob has joined the chat") == 1);

    // 80 columns typed: 85 with the prompt, one row at 100 columns, two at 50.
    let typed: String = (1..=16).map(|i| format!("wd{i:02} ")).collect();
    let typed = typed.trim_end();
    assert_eq!(typed.len(), 79);
    tmux.type_text(typed);
    tmux.wait_screen(|s| s.iter().any(|r| r == &format!("ann> {typed}")));

    tmux.resize(50);
    assert_eq!(tmux.width(), "50");
    let narrow = tmux.wait_screen(|s| count(s, "ann>") == 1 && count(s, "wd16") == 1);
    assert_eq!(
        (count(&narrow, "ann>"), count(&narrow, "wd01")),
        (1, 1),
        "a stale copy of the prompt at 50 columns:\n{}",
        narrow.join("\n")
    );

    bob.send("this arrives while the window is narrow");
    tmux.wait_screen(|s| count(s, "<bob> this arrives while the window is narrow") == 1);

    tmux.resize(100);
    assert_eq!(tmux.width(), "100");
    let prompt = format!("ann> {typed}");
    let wide = tmux.wait_screen(|s| {
        s.last().is_some_and(|r| r.is_empty() || r == &prompt)
            && s.iter().any(|r| r == &prompt)
            && count(s, "ann>") == 1
            && count(s, "<bob> this arrives") == 1
    });
    assert_eq!(
        count(&wide, "<bob> this arrives while the window is narrow"),
        1,
        "the message is gone from the screen:\n{}",
        wide.join("\n")
    );
    assert_eq!(
        (
            count(&wide, "ann>"),
            wide.iter().filter(|r| **r == prompt).count()
        ),
        (1, 1),
        "the prompt is not drawn once, whole:\n{}",
        wide.join("\n")
    );
    let all = tmux.everything();
    assert_eq!(
        count(&all, "<bob> this arrives while the window is narrow"),
        1,
        "the message is not in the scrollback once:\n{}",
        all.join("\n")
    );
    assert_eq!(
        count(&all, "ann>"),
        1,
        "a stale prompt in the scrollback:\n{}",
        all.join("\n")
    );

    // The half-typed line survived both resizes, whole.
    tmux.enter();
    bob.expect(&format!("MSG ann {typed}"));
}
