//! A man page from a clap command: clap_mangen's title, name, synopsis, description and
//! options, then one section per heading of the command's `after_help` text (`Examples:`
//! becomes EXAMPLES), laid out as `--help` shows it.

use clap_mangen::Man;
use roff::{roman, Roff};

/// Which manual a page belongs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// 1: commands people run.
    User,
    /// 8: daemons and administration (as sshd(8)).
    Daemon,
}

impl Section {
    /// The section's number.
    pub fn number(self) -> &'static str {
        match self {
            Section::User => "1",
            Section::Daemon => "8",
        }
    }
}

/// The page for `cmd`, as roff source.
///
/// # Errors
/// Only if writing to memory fails (it does not).
pub fn page(cmd: clap::Command, section: Section) -> std::io::Result<Vec<u8>> {
    let after_help = cmd.get_after_help().map(|s| s.to_string());
    let version = cmd.get_version().map(str::to_owned);
    let man = Man::new(cmd)
        .section(section.number())
        .manual("lanchat")
        .source(format!("lanchat {}", version.unwrap_or_default()));
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    if let Some(text) = after_help {
        let mut roff = Roff::new();
        for (heading, lines) in sections(&text) {
            roff.control("SH", [heading.to_uppercase().as_str()]);
            // As typed: examples are copied from here, so no filling or hyphenation.
            roff.control("nf", []);
            for line in lines {
                roff.text([roman(line.strip_prefix("  ").unwrap_or(line))]);
            }
            roff.control("fi", []);
        }
        roff.to_writer(&mut out)?;
    }
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// `text` cut at its headings (an unindented line ending in `:`): each heading without the
/// colon, and the lines under it, blank ones at either end left out.
fn sections(text: &str) -> Vec<(&str, Vec<&str>)> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        match line.strip_suffix(':') {
            Some(heading) if !line.starts_with(' ') => out.push((heading, Vec::new())),
            _ => match out.last_mut() {
                Some((_, lines)) => lines.push(line),
                None => out.push(("Notes", vec![line])),
            },
        }
    }
    for (_, lines) in &mut out {
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        while lines.first().is_some_and(|l| l.trim().is_empty()) {
            lines.remove(0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_help_splits_at_its_headings() {
        let text = "Examples:\n  a --b\n      does b\n\nLogging:\n  to stderr\n";
        assert_eq!(
            sections(text),
            [
                ("Examples", vec!["  a --b", "      does b"]),
                ("Logging", vec!["  to stderr"]),
            ]
        );
        assert_eq!(sections("just text"), [("Notes", vec!["just text"])]);
    }

    #[test]
    fn the_server_page_has_its_flags_env_vars_and_examples() {
        use clap::CommandFactory as _;
        let page = page(lanchat_server::Config::command(), Section::Daemon).expect("render");
        let page = String::from_utf8(page).expect("utf-8");
        for want in [
            ".TH lanchat-server 8",
            "\\-\\-max\\-clients",
            "LANCHAT_NO_DISCOVERY",
            ".SH EXAMPLES",
            "lanchat\\-server \\-\\-bind 192.168.1.20",
            ".SH LOGGING",
            ".SH SIGNALS",
            "SIGHUP",
        ] {
            assert!(page.contains(want), "{want:?} missing from:\n{page}");
        }
    }

    #[test]
    fn the_client_page_has_its_examples_and_the_chat_commands() {
        use clap::CommandFactory as _;
        let page = page(lanchat_client::cli::Args::command(), Section::User).expect("render");
        let page = String::from_utf8(page).expect("utf-8");
        for want in [
            ".TH lanchat 1",
            ".SH EXAMPLES",
            "lanchat 192.168.1.20 \\-\\-name ann",
            ".SH \"IN THE CHAT\"",
            "/stats",
        ] {
            assert!(page.contains(want), "{want:?} missing from:\n{page}");
        }
    }
}
