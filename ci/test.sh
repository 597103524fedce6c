#!/usr/bin/env bash
# The README's test command: formatting, lints, docs, the whole suite under nextest, and
# the doctests (nextest does not run those).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets --all-features -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features
cargo nextest run --no-fail-fast
cargo test --doc --all-features
