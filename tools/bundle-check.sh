#!/usr/bin/env bash
# Build the Linux bundle (packaging/desktop-chat.spec), check its size and run its own
# --self-test under Xvfb. Run by tools/test-all.sh after the tests; Linux only.
# BUNDLE_LIMIT_MIB: the size that fails the check (the goal is 150 MiB; see the README).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo
echo "==== Linux bundle (PyInstaller): build, size, --self-test under Xvfb ===="
if [[ "$(uname -s)" != "Linux" ]]; then
    echo "not Linux: the bundle is built by the platform's own steps (packaging/README.md)"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/pyinstaller --noconfirm --log-level WARN --workpath "$work/build" \
    --distpath build/bundle packaging/desktop-chat.spec
bundle="build/bundle/Desktop Chat"
size=$(du -s --apparent-size --block-size=1M "$bundle" | cut -f1)
limit=${BUNDLE_LIMIT_MIB:-155}
echo "bundle: $bundle, ${size} MiB (goal 150 MiB; this check fails above ${limit} MiB)"
if (( size > limit )); then
    echo "error: the bundle grew to ${size} MiB (limit ${limit} MiB)" >&2
    exit 1
fi
data=$(mktemp -d "$work/self-test-XXXX")
DESKTOP_CHAT_DATA_DIR="$data" DESKTOP_CHAT_LOG_DIR="$data/log" \
    xvfb-run -a "$bundle/desktop-chat" --self-test
