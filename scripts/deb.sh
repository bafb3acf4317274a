#!/usr/bin/env bash
# Builds the Debian package target/debian/vigie_VERSION-1_ARCH.deb: the
# binary, the systemd unit, the example config as /etc/vigie/vigie.toml, its
# JSON Schema, man pages, completions and docs ([package.metadata.deb] in
# Cargo.toml).
#
#   scripts/deb.sh --release   from a release build: the package to ship
#   scripts/deb.sh             from the debug build `cargo test` already
#                              made: same layout, no second build (CI checks
#                              the package's contents this way)
#
# Installs cargo-deb first when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=dev
dir=debug
# A quick xz for the check; the release package is compressed hard.
compression=--fast
if [ "${1:-}" = "--release" ]; then
    profile=release
    dir=release
    compression=
fi

if ! cargo deb --version >/dev/null 2>&1; then
    echo "deb.sh: installing cargo-deb" >&2
    # Built in a directory of its own, not in this project's target.
    env -u CARGO_TARGET_DIR cargo install --locked cargo-deb --version 3.8.0
fi

cargo build --locked --profile "$profile" --bin vigie
bin="${CARGO_TARGET_DIR:-target}/$dir/vigie"

assets=target/deb-assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"
# The binary packaged, without debug information (cargo-deb only strips
# binaries it builds itself).
cp "$bin" "$assets/vigie"
strip --strip-debug "$assets/vigie"
"$bin" man --dir "$assets/man" 2>/dev/null
gzip -9n "$assets"/man/*.1
"$bin" completions bash >"$assets/completions/vigie.bash"
"$bin" completions zsh >"$assets/completions/_vigie"
"$bin" completions fish >"$assets/completions/vigie.fish"
# The installed config names the installed schema.
sed '1s|^#:schema .*|#:schema file:///usr/share/vigie/vigie.schema.json|' \
    config/vigie.example.toml >"$assets/vigie.toml"

mkdir -p target/debian
cargo deb --no-build $compression --output target/debian/
