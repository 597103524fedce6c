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

# Nothing may outlive the run: once the idle grace (5 s) has passed, no test server, data
# directory or supervisor is left.
sleep 7
leaks=$(pgrep -af 'postgres -D .*/persistence-' || true; ls -d /dev/shm/persistence-* 2>/dev/null || true; pgrep -af '__persistence_supervisor__' || true)
if [ -n "$leaks" ]; then
  echo "ci/test: left behind after the run:" >&2
  echo "$leaks" >&2
  exit 1
fi
echo "ci/test: nothing left behind"
