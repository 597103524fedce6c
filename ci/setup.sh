#!/usr/bin/env bash
# Installs what the test suite needs; idempotent and quick when everything is there.
#  - PostgreSQL server binaries for the harness's native backend (no cluster is created or
#    started: the harness runs its own servers);
#  - cargo-nextest, the README's test runner;
#  - rustfmt and clippy components, and the macOS and Windows targets of the cross checks;
#  - the PostgreSQL 15 and 17 images of the docker backend, built from Debian's packages
#    (bookworm and trixie; no registry);
#  - Chromium and chromedriver for the studio's browser tests.
set -euo pipefail

have_pg_server() {
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

if ! have_pg_server; then
  echo "ci/setup: installing the PostgreSQL server binaries"
  export DEBIAN_FRONTEND=noninteractive
  # Debian's package would create and start a cluster on port 5432; the tests need none.
  mkdir -p /etc/postgresql-common
  if ! grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf; then
    echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
have_pg_server || { echo "ci/setup: PostgreSQL server binaries still missing" >&2; exit 1; }

if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "ci/setup: installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^${component}" || rustup component add "$component"
done
for target in x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-msvc; do
  rustup target list --installed 2>/dev/null | grep -qx "$target" || rustup target add "$target"
done
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || {
  echo "ci/setup: installing docker-compose"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  }
}
# The studio's browser tests drive a headless Chromium through chromedriver.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "ci/setup: installing chromium and chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null || {
    apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
  }
fi
image=$(bash "$(dirname "$0")/build-postgres-image.sh" --suite bookworm | tail -n 1)
image17=$(bash "$(dirname "$0")/build-postgres-image.sh" --suite trixie | tail -n 1)

echo "ci/setup: ready (images $image $image17, $(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' ')$(cargo nextest --version | head -1))"
