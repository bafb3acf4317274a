#!/usr/bin/env bash
# The scale benchmark of issue 3: `vigie once` over 1,000 and 10,000 local
# feeds (cold, all 304, 10% changed) and rss2email on the same 1,000 feeds.
# Installs Debian's rss2email first when it is missing (root and apt needed;
# without them the rss2email part is skipped and says why).
#
#     scripts/bench-scale.sh            # 1000 and 10000 feeds
#     scripts/bench-scale.sh 1000       # 1000 only
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v r2e >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rss2email >/dev/null
    else
        echo "rss2email is not installed and cannot be installed here (needs root and apt-get)" >&2
    fi
fi
if [ "$#" -eq 0 ]; then
    set -- 1000 10000
fi
cargo bench --bench scale -- "$@"
