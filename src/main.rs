//! The `persistence` command-line tool: migrations, development databases, health checks.
//!
//! Everything happens in [`cli`]; this file only hands over the exit code.

mod cli;

fn main() -> std::process::ExitCode {
    // `dev` starts its server through a supervisor that is this very executable, re-run with
    // a request in its environment: serve that request (and exit) before anything else.
    persistence::ephemeral::supervisor::run_if_requested();
    cli::main()
}
