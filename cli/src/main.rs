//! The `persistence` command: migrations, development databases, health checks, typed
//! models, sqlx's offline data and a data browser, for projects that use `persistence-pg`.
//!
//! [`command`] parses the arguments and runs one command; each command is a module of its own.

/// `println!` that ignores a closed stdout (`persistence migrate status | head`).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::say(format_args!($($arg)*))
    };
}

mod command;
mod database;
mod db;
mod dev;
mod error;
mod generate;
mod health;
mod init;
mod migrate;
mod prepare;
mod project;
mod server;
mod source;
mod studio;
mod test_server;
mod throwaway;

fn main() -> std::process::ExitCode {
    // `dev` starts its server through a supervisor that is this very executable, re-run with
    // a request in its environment: serve that request (and exit) before anything else.
    persistence::ephemeral::supervisor::run_if_requested();
    command::main()
}

/// Prints a line on stdout, ignoring a closed pipe (`persistence migrate status | head`).
pub(crate) fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}
