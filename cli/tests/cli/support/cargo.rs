//! Nested `cargo` commands run from a test.

use std::process::Command;

/// Removes the variables cargo sets for a test process from a nested `cargo` command. Left
/// in, `OUT_DIR` and `CARGO_MANIFEST_DIR` reach build scripts that watch them (ring's), so
/// every nested run rebuilds ring, rustls and all above them, and the next outer build
/// rebuilds them back.
pub fn without_cargo_test_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let set_for_tests = name.to_str().is_some_and(|name| {
            name == "OUT_DIR"
                || name == "CARGO_BIN_NAME"
                || name == "CARGO_CRATE_NAME"
                || name == "CARGO_PRIMARY_PACKAGE"
                || name == "CARGO_TARGET_TMPDIR"
                || name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_MANIFEST_")
                || name.starts_with("CARGO_BIN_EXE_")
        });
        if set_for_tests {
            command.env_remove(name);
        }
    }
}
