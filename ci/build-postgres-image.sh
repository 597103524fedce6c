#!/usr/bin/env bash
# Builds a PostgreSQL server image without any image registry: mmdebstrap makes a minimal
# Debian rootfs (bookworm: PostgreSQL 15, trixie: 17) with Debian's postgresql-N from the
# machine's own apt sources, and
# `docker import` turns it into an image whose entrypoint (ci/postgres-image/docker-entrypoint.sh)
# follows the official `postgres` image's contract (POSTGRES_PASSWORD/USER/DB, `-c` flags, log
# lines), so testcontainers-modules' Postgres and docker-compose.test.yml can use it.
#
#   ci/build-postgres-image.sh [--suite bookworm|trixie] [TAG]
#
# SUITE: the Debian release to build from, bookworm (PostgreSQL 15, the default) or trixie (17).
# Its packages come from the archives the machine's apt sources name for its own release (the
# same archive serves every release), with the suite names swapped.
# TAG: the argument, else (without --suite) $PERSISTENCE_TEST_IMAGE, else
# persistence/postgres:<major>-local (15-local, 17-local).
# Quick and idempotent: the image carries a hash of this script, the entrypoint and the
# postgresql-N version apt offers; when an image with TAG and that hash exists, nothing is built.
# Progress goes to stderr; the last line on stdout is the tag, so CI can do
#   export PERSISTENCE_TEST_IMAGE="$(ci/build-postgres-image.sh)"
# Needs root (apt-get, mmdebstrap's root mode) and a Docker daemon. No mirror host is written
# here: the archive URIs come from the machine's apt sources.
# Deliberate differences from the official image: no JIT (LLVM is left out, ~130 MB), no VOLUME
# (nothing leaks anonymous volumes), C.UTF-8 and en_US.UTF-8 are the only locales.
set -Eeuo pipefail

PROG="ci/build-postgres-image"
SCRIPT="$(readlink -f "${BASH_SOURCE[0]}")"
HERE="$(dirname "$SCRIPT")"
ENTRYPOINT_SRC="$HERE/postgres-image/docker-entrypoint.sh"
HASH_LABEL="io.persistence.build-hash"

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: FAILED: %s\n' "$PROG" "$*" >&2; exit 1; }
trap 'die "unexpected error at line $LINENO (exit status $?)"' ERR

SUITE=""
if [ "${1:-}" = "--suite" ]; then
	[ "$#" -ge 2 ] || die "usage: $0 [--suite bookworm|trixie] [TAG]"
	SUITE="$2"
	shift 2
fi
[ "$#" -le 1 ] || die "usage: $0 [--suite bookworm|trixie] [TAG]"
case "${SUITE:-bookworm}" in
	bookworm) PG_MAJOR=15 ;;
	trixie) PG_MAJOR=17 ;;
	*) die "unknown suite '$SUITE': expected bookworm (PostgreSQL 15) or trixie (PostgreSQL 17)" ;;
esac
if [ -n "$SUITE" ]; then
	TAG="${1:-persistence/postgres:${PG_MAJOR}-local}"
else
	SUITE=bookworm
	TAG="${1:-${PERSISTENCE_TEST_IMAGE:-persistence/postgres:15-local}}"
fi
# The release the machine's apt sources are written for; their entries are reused for SUITE.
HOST_SUITE="$(. /etc/os-release 2>/dev/null && printf '%s' "${VERSION_CODENAME:-}")"
HOST_SUITE="${HOST_SUITE:-$SUITE}"
[ -r "$ENTRYPOINT_SRC" ] || die "missing $ENTRYPOINT_SRC"
command -v docker >/dev/null 2>&1 || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "no Docker daemon answers (docker info failed)"

pg_candidate() {
	apt-cache policy "postgresql-$PG_MAJOR" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }' || true
}

build_hash() {
	{
		cat "$SCRIPT" "$ENTRYPOINT_SRC"
		printf 'postgresql-%s=%s\n' "$PG_MAJOR" "$(pg_candidate)"
	} | sha256sum | cut -c1-64
}

hash="$(build_hash)"
existing="$(docker image inspect -f "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$TAG" 2>/dev/null || true)"
if [ "$existing" = "$hash" ]; then
	log "image $TAG is up to date (build hash ${hash:0:12}), nothing to build"
	printf '%s\n' "$TAG"
	exit 0
fi

started=$SECONDS
export DEBIAN_FRONTEND=noninteractive
if ! command -v mmdebstrap >/dev/null 2>&1; then
	log "installing mmdebstrap"
	if ! apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null 2>&1; then
		apt-get update -qq >/dev/null || die "apt-get update failed"
		apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null || die "apt-get install mmdebstrap failed"
	fi
	# The lists may just have been refreshed: the label must match what the next run computes.
	hash="$(build_hash)"
fi

# --- The archive: every enabled `deb` entry of the machine's apt sources for its own release
# (and its -updates and -security) with component main, as one-line sources for mmdebstrap,
# renamed to SUITE.
deb822_entries() {
	awk '
		function flush(   n, m, i, j, U, S) {
			if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no" && comps ~ /(^|[ \t])main([ \t]|$)/) {
				n = split(uris, U, /[ \t]+/); m = split(suites, S, /[ \t]+/)
				for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print U[i], S[j], signed
			}
			types = uris = suites = comps = signed = enabled = ""
		}
		/^[ \t]*#/ { next }
		/^[ \t]*$/ { flush(); next }
		/^[ \t]/ { next }  # continuation line (an inline Signed-By key block)
		{
			c = index($0, ":"); if (c == 0) next
			key = tolower(substr($0, 1, c - 1)); val = substr($0, c + 1)
			gsub(/^[ \t]+|[ \t]+$/, "", val)
			if (key == "types") types = val
			else if (key == "uris") uris = val
			else if (key == "suites") suites = val
			else if (key == "components") comps = val
			else if (key == "enabled") enabled = tolower(val)
			else if (key == "signed-by") { split(val, K, /[ \t,]+/); signed = (K[1] ~ /^\//) ? K[1] : "" }
		}
		END { flush() }
	' "$1"
}
oneline_entries() {
	awk '
		/^[ \t]*(#|$)/ { next }
		$1 == "deb" {
			line = $0; opts = ""
			if (match(line, /\[[^\]]*\]/)) {
				opts = substr(line, RSTART + 1, RLENGTH - 2)
				line = substr(line, 1, RSTART - 1) " " substr(line, RSTART + RLENGTH)
			}
			n = split(line, F, /[ \t]+/)
			main = 0; for (i = 4; i <= n; i++) if (F[i] == "main") main = 1
			signed = ""
			if (match(opts, /signed-by=[^ \t]+/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
			if (main) print F[2], F[3], signed
		}
	' "$1"
}
sources=()
while read -r uri suite signed; do
	case "$suite" in
		"$SUITE" | "$SUITE-updates" | "$SUITE-security") ;;
		"$HOST_SUITE" | "$HOST_SUITE-updates" | "$HOST_SUITE-security") suite="$SUITE${suite#"$HOST_SUITE"}" ;;
		*) continue ;;
	esac
	case "$uri" in cdrom:*) continue ;; esac
	opts=""
	if [ -n "$signed" ] && [ -r "$signed" ]; then opts="[signed-by=$signed] "; fi
	sources+=("deb ${opts}${uri} ${suite} main")
done < <(
	shopt -s nullglob
	for f in /etc/apt/sources.list.d/*.sources; do deb822_entries "$f"; done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do [ -r "$f" ] && oneline_entries "$f"; done
	true
)
mapfile -t sources < <(printf '%s\n' "${sources[@]}" | awk 'NF && !seen[$0]++')
grep -q " $SUITE main\$" <<<"$(printf '%s\n' "${sources[@]}")" \
	|| die "no enabled 'deb ... $SUITE main' (or $HOST_SUITE main) entry in /etc/apt/sources.list{,.d/*.list,.d/*.sources}"
grep -q " $SUITE-security main\$" <<<"$(printf '%s\n' "${sources[@]}")" \
	|| log "warning: no $SUITE-security entry in the apt sources; building without security updates"

aptopts=(--aptopt='Apt::Install-Recommends "false"' --aptopt='Acquire::Languages "none"')
eval "$(apt-config shell HTTP_PROXY Acquire::http::Proxy HTTPS_PROXY Acquire::https::Proxy)"
[ -z "${HTTP_PROXY:-}" ] || aptopts+=(--aptopt="Acquire::http::Proxy \"$HTTP_PROXY\"")
[ -z "${HTTPS_PROXY:-}" ] || aptopts+=(--aptopt="Acquire::https::Proxy \"$HTTPS_PROXY\"")

work="$(mktemp -d "${TMPDIR:-/var/tmp}/persistence-pg-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp "$ENTRYPOINT_SRC" "$work/docker-entrypoint.sh"

# Runs outside the rootfs ($1), with /proc and /dev mounted inside it by mmdebstrap.
cat > "$work/customize.sh" <<EOF
set -eu
root="\$1"
chroot "\$root" /bin/sh -eu <<'IN'
chmod 0755 /usr/local/bin/docker-entrypoint.sh
# No cluster in the image (createcluster.conf said so; make sure): the entrypoint runs initdb.
rm -rf /var/lib/postgresql/$PG_MAJOR /etc/postgresql/$PG_MAJOR
mkdir -p /docker-entrypoint-initdb.d /var/lib/postgresql/data
chown postgres:postgres /var/lib/postgresql /var/lib/postgresql/data
chmod 0700 /var/lib/postgresql/data
# As the official image: clusters made by initdb listen on every address.
sed -ri "s!^#?(listen_addresses)\\s*=\\s*\\S+.*!\\1 = '*'!" /usr/share/postgresql/$PG_MAJOR/postgresql.conf.sample
grep -q "^listen_addresses = '\\*'" /usr/share/postgresql/$PG_MAJOR/postgresql.conf.sample
# en_US.UTF-8 as in the official image (C.UTF-8 is built into glibc); then drop the sources.
echo 'en_US.UTF-8 UTF-8' > /etc/locale.gen
locale-gen >/dev/null
rm -rf /usr/share/i18n/charmaps /usr/share/i18n/locales
# No JIT: its llvmjit.so was never unpacked, so LLVM (and its solver) is dead weight.
for p in \$(dpkg-query -W -f='\${Package}\n' 'libllvm*' 'libz3-*' 2>/dev/null); do
	dpkg --purge --force-depends "\$p" >/dev/null 2>&1 || true
done
rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/log/*.log /var/log/apt/*
IN
chroot "\$root" dpkg-query -W -f='\${Package} \${Version}\n' > "$work/packages.txt"
EOF

tarball="$work/rootfs.tar"
log "building $TAG from Debian $SUITE's postgresql-$PG_MAJOR (mmdebstrap; log in $work/mmdebstrap.log while it runs)"
# shellcheck disable=SC2016 # the hooks' "$1" is for mmdebstrap's shell (the rootfs)
if ! mmdebstrap \
	--variant=minbase \
	--format=tar \
	"${aptopts[@]}" \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/lintian/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-include=/usr/share/locale/locale.alias' \
	--dpkgopt="path-exclude=/usr/lib/postgresql/$PG_MAJOR/lib/llvmjit*" \
	--dpkgopt="path-exclude=/usr/lib/postgresql/$PG_MAJOR/lib/bitcode/*" \
	--include="postgresql-$PG_MAJOR,locales" \
	--essential-hook='mkdir -p "$1/etc/postgresql-common" && echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.conf"' \
	--customize-hook="upload $work/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh" \
	--customize-hook="sh $work/customize.sh \"\$1\"" \
	"$SUITE" "$tarball" "${sources[@]}" \
	>"$work/mmdebstrap.log" 2>&1; then
	tail -n 25 "$work/mmdebstrap.log" >&2
	die "mmdebstrap could not build the rootfs (last lines of its log above)"
fi

pg_version="$(awk -v p="postgresql-$PG_MAJOR" '$1 == p { print $2 }' "$work/packages.txt")"
[ -n "$pg_version" ] || die "postgresql-$PG_MAJOR is not in the built rootfs"
old_id="$(docker image inspect -f '{{ .Id }}' "$TAG" 2>/dev/null || true)"
new_id="$(docker import \
	--change "ENV PATH=/usr/lib/postgresql/$PG_MAJOR/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
	--change "ENV PG_MAJOR=$PG_MAJOR" \
	--change "ENV PG_VERSION=$pg_version" \
	--change 'ENV PGDATA=/var/lib/postgresql/data' \
	--change 'ENV LANG=en_US.utf8' \
	--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
	--change 'CMD ["postgres"]' \
	--change 'EXPOSE 5432' \
	--change "LABEL $HASH_LABEL=$hash" \
	--change "LABEL io.persistence.postgresql-version=$pg_version" \
	--change "LABEL io.persistence.packages-sha256=$(sha256sum < "$work/packages.txt" | cut -c1-64)" \
	--message "$PROG: Debian $SUITE postgresql-$PG_MAJOR $pg_version" \
	"$tarball" 2>"$work/import.log")" || { cat "$work/import.log" >&2; die "docker import failed"; }
# STOPSIGNAL SIGINT (fast shutdown, as the official image): Docker 20.10's `import --change`
# refuses STOPSIGNAL, so a metadata-only build adds it (classic builder: BuildKit would look the
# local base image up in a registry).
tmp_tag="persistence-build-tmp/postgres:${hash:0:12}"
docker tag "$new_id" "$tmp_tag" || die "docker tag $new_id $tmp_tag failed"
printf 'FROM %s\nSTOPSIGNAL SIGINT\n' "$tmp_tag" \
	| DOCKER_BUILDKIT=0 docker build --quiet --tag "$TAG" - >"$work/build.log" 2>&1 \
	|| { cat "$work/build.log" >&2; docker rmi "$tmp_tag" >/dev/null 2>&1 || true; die "docker build (STOPSIGNAL) failed"; }
docker rmi "$tmp_tag" >/dev/null 2>&1 || true
new_id="$(docker image inspect -f '{{ .Id }}' "$TAG")"
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
	docker rmi "$old_id" >/dev/null 2>&1 || true # the replaced build, unless something still uses it
fi

size="$(docker image inspect -f '{{ .Size }}' "$TAG" | awk '{ printf "%d MB", $1 / 1000000 }')"
log "built $TAG (postgresql-$PG_MAJOR $pg_version, $size, build hash ${hash:0:12}) in $((SECONDS - started)) s"
printf '%s\n' "$TAG"
