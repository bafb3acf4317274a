#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, every test, then
# the Debian package built and its contents checked. Needs the Rust
# toolchain pinned in rust-toolchain.toml: every server the tests use
# (feeds, webhook receiver, SMTP, systemd's notification socket) runs inside
# the tests. The package check installs cargo-deb when it is missing (a
# minute and a half, once) and needs Debian's dpkg-deb (skipped elsewhere,
# except in CI).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
scripts/check-deb.sh
