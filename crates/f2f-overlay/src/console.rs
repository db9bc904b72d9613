//! `f2f-overlay console [-s DIR | -M PATH] [CMD...]`: a client for the
//! management console of a running switch (ours or vde_switch), spec/cli.md.
//!
//! - With CMD, one command for scripts: the reply's data lines go to stdout
//!   without the `0000 DATA END WITH '.'` / `.` framing; the exit status is 0
//!   on `1000 Success` (and on `9999 END OF SESSION` after `logout` or
//!   `shutdown`), else 1 with the status line on stderr.
//! - Without CMD, an interactive console with line editing, completion of
//!   command paths (from the switch's own `help`) and history in
//!   `STATE_DIR/console_history`. Replies are shown as the switch sends them,
//!   prompt aside. Ctrl-C clears the line, Ctrl-D leaves.
//!
//! The protocol is spec/vde-console.md §2: a banner and the prompt
//! `"\nvde$ "` on connect, then per line a reply that ends with the prompt.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use f2f_core::console::{END_OF_SESSION, PROMPT};
use rustyline::completion::Completer;
use rustyline::config::Configurer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context as LineContext, Editor, Helper};

use crate::cli::ConsoleArgs;

/// How long a reply may take before the client gives up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Most lines kept in the history file.
const HISTORY_LINES: usize = 1000;
/// The line that opens a data block.
const DATA_START: &str = "0000 DATA END WITH '.'";

/// Run the console subcommand.
pub fn run(args: &ConsoleArgs) -> Result<ExitCode> {
    let path = crate::client::mgmt_path(&args.at);
    let mut conn = Connection::open(&path)?;
    if args.command.is_empty() {
        interactive(&mut conn, args.common.state_dir.as_deref())
    } else {
        one_shot(&mut conn, &args.command.join(" "))
    }
}

/// One connection to a management socket.
struct Connection {
    stream: UnixStream,
    /// The banner the switch sent, prompt removed.
    banner: String,
}

impl Connection {
    fn open(path: &Path) -> Result<Connection> {
        let stream = UnixStream::connect(path).with_context(|| {
            format!(
                "cannot connect to the management socket {} (is the switch running? \
                 use -s DIR or -M PATH)",
                path.display()
            )
        })?;
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .context("cannot set a read timeout")?;
        let mut conn = Connection {
            stream,
            banner: String::new(),
        };
        let greeting = conn.read_reply()?;
        conn.banner = greeting.text;
        Ok(conn)
    }

    /// Send one line and read its reply.
    fn ask(&mut self, line: &str) -> Result<Raw> {
        if line.contains('\n') {
            bail!("a console command is one line");
        }
        self.stream
            .write_all(format!("{line}\n").as_bytes())
            .context("writing to the management socket")?;
        self.read_reply()
    }

    /// Read up to the prompt, the end of the session, or end of file.
    fn read_reply(&mut self) -> Result<Raw> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if buf.ends_with(PROMPT.as_bytes()) {
                buf.truncate(buf.len() - PROMPT.len());
                return Ok(Raw::new(buf, false));
            }
            if buf.ends_with(END_OF_SESSION.as_bytes()) {
                return Ok(Raw::new(buf, true));
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(Raw::new(buf, true)),
                Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    bail!("the switch did not answer within {REPLY_TIMEOUT:?}")
                }
                Err(e) => return Err(e).context("reading from the management socket"),
            }
        }
    }
}

/// A reply as received, prompt removed.
#[derive(Debug)]
struct Raw {
    text: String,
    /// The switch closed the session.
    ended: bool,
}

impl Raw {
    fn new(bytes: Vec<u8>, ended: bool) -> Raw {
        Raw {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            ended,
        }
    }
}

/// A reply split for scripts: what to print, and the status line.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// Data lines (framing removed) or, for `load`, the script's transcript.
    output: String,
    /// The last status line (`1000 Success`, `1022 Invalid argument`, …).
    status: String,
}

impl Outcome {
    fn parse(reply: &str) -> Outcome {
        let body = reply.trim_end_matches('\n');
        let (before, status) = match body.rsplit_once('\n') {
            Some((before, last)) => (before, last),
            None => ("", body),
        };
        let output = match before
            .strip_prefix(DATA_START)
            .and_then(|rest| rest.strip_suffix("\n."))
        {
            Some(data) => data.strip_prefix('\n').unwrap_or(data).to_string(),
            None => before.to_string(),
        };
        Outcome {
            output,
            status: status.to_string(),
        }
    }

    fn success(&self) -> bool {
        self.status.starts_with("1000 ") || self.status.starts_with("9999 ")
    }
}

fn one_shot(conn: &mut Connection, line: &str) -> Result<ExitCode> {
    let reply = conn.ask(line)?;
    let outcome = Outcome::parse(&reply.text);
    let mut stdout = std::io::stdout().lock();
    if !outcome.output.is_empty() {
        writeln!(stdout, "{}", outcome.output).context("writing to stdout")?;
    }
    if outcome.success() {
        Ok(ExitCode::SUCCESS)
    } else {
        let status = if outcome.status.is_empty() {
            "no reply (the switch closed the connection)"
        } else {
            &outcome.status
        };
        eprintln!("f2f-overlay console: {line}: {status}");
        Ok(ExitCode::FAILURE)
    }
}

fn interactive(conn: &mut Connection, state_dir: Option<&Path>) -> Result<ExitCode> {
    print!("{}", conn.banner);
    let commands = conn
        .ask("help")
        .map(|r| command_paths(&r.text))
        .unwrap_or_default();
    let mut editor: Editor<Commands, rustyline::history::DefaultHistory> =
        Editor::new().context("cannot set up line editing")?;
    editor.set_helper(Some(Commands(commands)));
    let _ = editor.set_max_history_size(HISTORY_LINES);
    let history = history_file(state_dir);
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let result = loop {
        match editor.readline("vde$ ") {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                match conn.ask(&line) {
                    Ok(reply) => {
                        print!("{}", reply.text);
                        if reply.ended {
                            println!();
                            break Ok(ExitCode::SUCCESS);
                        }
                    }
                    Err(e) => break Err(e),
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break Ok(ExitCode::SUCCESS),
            Err(e) => break Err(e).context("reading the terminal"),
        }
    };
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = editor.save_history(h) {
            tracing::warn!(file = %h.display(), %e, "cannot save the console history");
        }
    }
    result
}

/// `STATE_DIR/console_history` (spec/cli.md's state directory).
fn history_file(state_dir: Option<&Path>) -> Option<PathBuf> {
    let dir = match state_dir {
        Some(d) => d.to_path_buf(),
        None if crate::sys::is_root() => PathBuf::from("/var/lib/f2f-overlay"),
        None => match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
            Some(x) => PathBuf::from(x).join("f2f-overlay"),
            None => crate::sys::home_dir()?.join(".local/state/f2f-overlay"),
        },
    };
    Some(dir.join("console_history"))
}

/// The command paths in a `help` reply (its data lines' first words).
fn command_paths(help: &str) -> Vec<String> {
    let Some(data) = help.strip_prefix(DATA_START) else {
        return Vec::new();
    };
    data.lines()
        .skip(3)
        .take_while(|l| *l != ".")
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Completion of command paths.
struct Commands(Vec<String>);

impl Completer for Commands {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &LineContext<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let typed = line.get(..pos).unwrap_or(line);
        if typed.contains(' ') {
            return Ok((pos, Vec::new()));
        }
        let start = typed.len() - typed.trim_start().len();
        let word = typed.trim_start();
        let found = self
            .0
            .iter()
            .filter(|c| c.starts_with(word))
            .cloned()
            .collect();
        Ok((start, found))
    }
}

impl Hinter for Commands {
    type Hint = String;
}

impl Highlighter for Commands {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}

impl Validator for Commands {}

impl Helper for Commands {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_replies_lose_their_framing() {
        let o = Outcome::parse("0000 DATA END WITH '.'\nNumports=32\nHUB=false\n.\n1000 Success\n");
        assert_eq!(o.output, "Numports=32\nHUB=false");
        assert!(o.success());
        let o = Outcome::parse("0000 DATA END WITH '.'\n.\n1006 No such device or address\n");
        assert_eq!((o.output.as_str(), o.success()), ("", false));
        assert_eq!(o.status, "1006 No such device or address");
        let o = Outcome::parse("1038 Function not implemented\n");
        assert_eq!((o.output.as_str(), o.success()), ("", false));
        assert!(Outcome::parse("9999 END OF SESSION").success());
        let load = "vde[/x]: port/create 3\n1000 Success\n1000 Success\n";
        let o = Outcome::parse(load);
        assert_eq!(o.output, "vde[/x]: port/create 3\n1000 Success");
        assert!(o.success());
    }

    #[test]
    fn completion_words_come_from_help() {
        let help = "0000 DATA END WITH '.'\nCOMMAND PATH       SYNTAX          HELP\n------------       --------------  ------------\nds                 ============    DATA SOCKET MENU\nds/showinfo                        show ds info\n.\n1000 Success\n";
        assert_eq!(command_paths(help), ["ds", "ds/showinfo"]);
        assert!(command_paths("1038 Function not implemented\n").is_empty());
    }

    #[test]
    fn history_lives_in_the_state_dir() {
        assert_eq!(
            history_file(Some(Path::new("/s"))),
            Some(PathBuf::from("/s/console_history"))
        );
    }
}
