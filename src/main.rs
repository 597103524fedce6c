//! The `persistence` command-line tool: migrations, development databases, health checks.
//!
//! Everything happens in [`cli`]; this file only hands over the exit code.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
