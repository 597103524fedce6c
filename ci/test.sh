#!/usr/bin/env bash
# The README's test command, as CI runs it: formatting, lints and docs, the cross-target
# checks (macOS on both architectures, Windows), then the whole suite under nextest once per
# backend (native; docker with the local PostgreSQL 15 and 17 images; external against the
# docker-compose service), the doctests, and a check that nothing outlived the run.
set -euo pipefail
cd "$(dirname "$0")/.."

image="${PERSISTENCE_TEST_IMAGE:-persistence/postgres:15-local}"
# The docker pass runs once per image: every server version CI covers.
read -r -a docker_images <<<"${PERSISTENCE_TEST_IMAGES:-$image persistence/postgres:17-local}"
cross_targets=(x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-msvc)
compose_port="${PERSISTENCE_COMPOSE_PORT:-55432}"
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
compose+=(-f docker-compose.test.yml)

cargo fmt --all -- --check
cargo clippy --all-targets --all-features -- -D warnings
# The library as its users build it: the production core alone, and the harness without the
# docker backend (its `cfg(feature = "docker")` code the other way round).
cargo clippy -p persistence-pg --lib --no-default-features -- -D warnings
cargo clippy -p persistence-pg --lib --no-default-features --features testing -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features

# The example application's checked queries build from its committed .sqlx/ alone (no
# database), and its generated models and .sqlx/ still match its migrations and queries (run
# from its directory: its ./migrations, its .sqlx/).
env -u DATABASE_URL SQLX_OFFLINE=true cargo build -p page-builder --all-targets --all-features
env -u DATABASE_URL SQLX_OFFLINE=true cargo build -p persistence-pg-cli
persistence_bin="${CARGO_TARGET_DIR:-target}/debug/persistence"
(cd examples/page-builder && PERSISTENCE_TEST_BACKEND=native cargo run -q -p persistence-pg-cli -- \
  generate --check --out src/models/generated.rs)
(cd examples/page-builder && PERSISTENCE_TEST_BACKEND=native cargo run -q -p persistence-pg-cli -- \
  prepare --check --all-features)

# Nothing Linux-only may slip back in: the crates, their tests and benches must build for
# macOS and Windows. `tls` is off because ring's C code cannot be cross-compiled here; every
# other feature is on: the library's `testing` and `docker`, and the command's default
# features but `tls` (`studio`, and `docker`, which both packages have).
for target in "${cross_targets[@]}"; do
  echo "ci/test: cross-checking $target"
  # clippy type-checks every target as `cargo check` does: no separate check needed.
  cargo clippy --all-targets --no-default-features --features testing,docker,persistence-pg-cli/studio --target "$target" -- -D warnings
done

# The repository's main job from a fresh clone is one command (README.md, cli/README.md):
# the example application's development database, set up, checked and removed (--once).
PERSISTENCE_TEST_BACKEND=native cargo run -p persistence-pg-cli -- dev --once --source examples/page-builder/migrations

# Each pass gets a server of its own backend and version: a server of the previous pass still
# in its idle grace would otherwise be joined (with a "not applied" line) instead.
stop_test_servers() {
  "$persistence_bin" test-server stop || echo "ci/test: warning: could not stop the previous pass's test server" >&2
}

stop_test_servers
echo "ci/test: suite on the native backend"
PERSISTENCE_TEST_BACKEND=native cargo nextest run --no-fail-fast

# Concurrent tests never wait for or deadlock with each other (issue 7): the opposite-order
# and same-fixture tests 20 times in a row under both runners, and 40 + 40 tests at once.
echo "ci/test: concurrency checks on the native backend"
export PERSISTENCE_TEST_BACKEND=native
for _ in $(seq 1 20); do
  cargo test -q --test harness -- concurrent:: --test-threads 16
  cargo nextest run --test harness --status-level fail concurrent:: >/dev/null
done
cargo test -q --test harness -- many_at_once:: --test-threads 80
cargo nextest run --test harness -j 32 many_at_once::
# Under cargo test a process resets and reuses its own clones (under nextest the janitor
# does): the reuse tests' same-clone checks run here.
cargo test -q --test harness -- clone_reuse:: database_isolation::
unset PERSISTENCE_TEST_BACKEND

for docker_image in "${docker_images[@]}"; do
  stop_test_servers
  echo "ci/test: suite on the docker backend ($docker_image)"
  PERSISTENCE_TEST_BACKEND=docker PERSISTENCE_TEST_IMAGE="$docker_image" cargo nextest run --no-fail-fast
done

stop_test_servers
echo "ci/test: suite on the external backend (docker-compose.test.yml, port $compose_port)"
export PERSISTENCE_TEST_IMAGE="$image" PERSISTENCE_COMPOSE_PORT="$compose_port"
trap '"${compose[@]}" down -v >/dev/null 2>&1 || true' EXIT
"${compose[@]}" up -d
for _ in $(seq 1 60); do
  id=$("${compose[@]}" ps -q postgres)
  [ "$(docker inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null)" = healthy ] && break
  sleep 1
done
PERSISTENCE_TEST_BACKEND=external \
  TEST_DATABASE_URL="postgres://postgres:postgres@127.0.0.1:${compose_port}/postgres" \
  cargo nextest run --no-fail-fast
"${compose[@]}" down -v
trap - EXIT

cargo test --doc --all-features

# Nothing may outlive the run: once the idle grace (5 s) has passed, no test server, data
# directory, supervisor or container of the harness is left.
sleep 7
leaks=$(
  pgrep -af 'postgres -D .*/persistence-' || true
  ls -d /dev/shm/persistence-* 2>/dev/null || true
  pgrep -af '__persistence_supervisor__' || true
  find target/persistence/servers -mindepth 1 -maxdepth 1 ! -name 'external-*' 2>/dev/null || true
  docker ps -a -q --filter label=org.persistence.harness || true
)
if [ -n "$leaks" ]; then
  echo "ci/test: left behind after the run:" >&2
  echo "$leaks" >&2
  exit 1
fi
echo "ci/test: nothing left behind"
