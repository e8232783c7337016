#!/usr/bin/env bash
# Build the Linux bundle (packaging/desktop-chat.spec), check its size and run its own
# --self-test under Xvfb. Run by tools/test-all.sh after the tests; Linux only.
# BUNDLE_LIMIT_MIB: the size that fails the check (default 150 MiB, the goal).
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
bytes=$(du -s --apparent-size --block-size=1 "$bundle" | cut -f1)
size=$(( (bytes + 1048575) / 1048576 ))
limit=${BUNDLE_LIMIT_MIB:-150}
echo "bundle: $bundle, ${size} MiB (${bytes} bytes; fails above ${limit} MiB)"
if (( size > limit )); then
    echo "error: the bundle grew to ${size} MiB (limit ${limit} MiB)" >&2
    exit 1
fi

# The tarball (packaging/README.md), installed for a user whose home is a temporary dir; the
# installed app runs its self-test under Xvfb; --uninstall removes it again.
version=$(.venv/bin/python -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
stage="desktop-chat-$version-linux-$(uname -m)"
rm -rf "build/bundle/$stage" "build/bundle/$stage.tar.gz"
mkdir -p "build/bundle/$stage/icons"
cp -R "$bundle" "build/bundle/$stage/"
cp packaging/linux/install.sh packaging/linux/app.desktopchat.DesktopChat.desktop \
    packaging/linux/app.desktopchat.DesktopChat.metainfo.xml "build/bundle/$stage/"
cp resources/icons/app-*.png resources/icons/app.svg "build/bundle/$stage/icons/"
tar -C build/bundle -czf "build/bundle/$stage.tar.gz" "$stage"
echo "tarball: build/bundle/$stage.tar.gz ($(du -BM "build/bundle/$stage.tar.gz" | cut -f1))"
home="$work/home"
mkdir -p "$home"
tar -C "$work" -xzf "build/bundle/$stage.tar.gz"
HOME="$home" XDG_DATA_HOME="$home/.local/share" XDG_CONFIG_HOME="$home/.config" \
    "$work/$stage/install.sh"
HOME="$home" DESKTOP_CHAT_DATA_DIR="$home/data" DESKTOP_CHAT_LOG_DIR="$home/log" \
    xvfb-run -a "$home/.local/bin/desktop-chat" --self-test
HOME="$home" XDG_DATA_HOME="$home/.local/share" XDG_CONFIG_HOME="$home/.config" \
    "$work/$stage/install.sh" --uninstall
if [[ -e "$home/.local/bin/desktop-chat" || -e "$home/.local/share/desktop-chat" ]]; then
    echo "error: --uninstall left the app behind" >&2
    exit 1
fi
echo "bundle checks passed"
