#!/usr/bin/env bash
# Release builds of otpgate: static Linux binaries, one tarball each, and SHA256SUMS.
#
#   scripts/release.sh                  linux/amd64 and linux/arm64
#   scripts/release.sh linux/arm64      only those named
#   VERSION=v1.2.0 OUT=/tmp/dist scripts/release.sh
#
# VERSION defaults to `git describe --tags --always --dirty` (a "-dirty" suffix
# says the tree had uncommitted changes); the commit is `git rev-parse HEAD`.
# Both are set with -ldflags -X and shown by `otpgate version`.
#
# CGO_ENABLED=0: otpgate needs no C. Its embedded store is modernc.org/sqlite,
# SQLite translated to Go, and PostgreSQL is reached with pgx (pure Go), so the
# binaries are static (no libc, no dynamic loader) and run on any Linux of their
# architecture: Debian, Alpine (musl), distroless or scratch images.
# -trimpath leaves no build paths in them; -s -w drops the symbol table and DWARF
# (panics still print file:line; pprof still symbolizes).
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$PATH:/usr/local/go/bin"
out=${OUT:-dist}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
commit=$(git rev-parse HEAD 2>/dev/null || echo "")
platforms=("$@")
if [ ${#platforms[@]} -eq 0 ]; then
	platforms=(linux/amd64 linux/arm64)
fi
# Tarballs hold the same bytes for the same commit: files in name order, owned
# by root, dated at the commit.
mtime=$(git log -1 --format=%cI 2>/dev/null || echo "1970-01-01T00:00:00Z")

mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
names=()
for p in "${platforms[@]}"; do
	goos=${p%/*}
	goarch=${p#*/}
	name="otpgate-$version-$goos-$goarch"
	stage="$tmp/$name"
	mkdir -p "$stage"
	start=$(date +%s)
	CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch go build -trimpath \
		-ldflags "-s -w -X main.version=$version -X main.commit=$commit" \
		-o "$stage/otpgate" ./cmd/otpgate
	cp README.md "$stage/"
	mkdir -p "$stage/packaging" "$stage/docs" "$stage/examples/go" "$stage/examples/node" "$stage/examples/python"
	cp packaging/* "$stage/packaging/"
	cp docs/*.md "$stage/docs/"
	cp examples/*.json "$stage/examples/"
	cp examples/go/*.go examples/go/README.md "$stage/examples/go/"
	cp examples/node/*.js examples/node/package*.json examples/node/README.md "$stage/examples/node/"
	cp examples/python/*.py examples/python/README.md "$stage/examples/python/"
	tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="$mtime" \
		-C "$tmp" -cf - "$name" | gzip -n > "$out/$name.tar.gz"
	cp "$stage/otpgate" "$out/$name"
	names+=("$name" "$name.tar.gz")
	echo "$out/$name ($(stat -c %s "$out/$name") bytes, $(($(date +%s) - start)) s) and $name.tar.gz"
done
(cd "$out" && sha256sum "${names[@]}" > SHA256SUMS)
echo "$out/SHA256SUMS; version $version, commit ${commit:-unknown}"
