#!/bin/sh
# Install Desktop Chat for the current user from an unpacked Linux bundle (the PyInstaller
# onedir "Desktop Chat/"), or remove it again with --uninstall. No root needed.
#
#   ./install.sh                 install the bundle "Desktop Chat/" beside this script, or this
#                                script's own directory if the executable sits right here
#   ./install.sh --bundle DIR    install the bundle in DIR
#   ./install.sh --uninstall     remove everything an install put in place
#   ./install.sh --destdir DIR   (or DESTDIR=DIR) stage the files under DIR instead (packagers,
#                                tests): paths written into files stay the final ones, and the
#                                desktop caches are left alone
#
# What goes where ($XDG_DATA_HOME defaults to ~/.local/share):
#   $XDG_DATA_HOME/desktop-chat/app/                   the bundle
#   ~/.local/bin/desktop-chat                          a symlink to the bundle's executable
#   $XDG_DATA_HOME/applications/app.desktopchat.DesktopChat.desktop   (Exec = the bundle)
#   $XDG_DATA_HOME/icons/hicolor/NxN/apps/app.desktopchat.DesktopChat.png, scalable/…svg
#   $XDG_DATA_HOME/metainfo/app.desktopchat.DesktopChat.metainfo.xml
# and desktopchat:// links are handed to the app (x-scheme-handler/desktopchat).
set -eu

APP_ID=app.desktopchat.DesktopChat
SIZES="16 24 32 48 64 128 256 512"

die() {
    printf 'install.sh: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "$0"
}

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
bundle=""
uninstall=false
destdir="${DESTDIR:-}"
while [ $# -gt 0 ]; do
    case "$1" in
        --uninstall) uninstall=true ;;
        --bundle) [ $# -ge 2 ] || die "--bundle needs a directory"; bundle=$2; shift ;;
        --bundle=*) bundle=${1#--bundle=} ;;
        --destdir) [ $# -ge 2 ] || die "--destdir needs a directory"; destdir=$2; shift ;;
        --destdir=*) destdir=${1#--destdir=} ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

[ -n "${HOME:-}" ] || die "HOME is not set"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
config="${XDG_CONFIG_HOME:-$HOME/.config}"
case "$data" in /*) ;; *) data="$HOME/.local/share" ;; esac # relative: ignored, as XDG says
case "$config" in /*) ;; *) config="$HOME/.config" ;; esac
appdir="$data/desktop-chat/app"
bindir="$HOME/.local/bin"
link="$bindir/desktop-chat"
desktop="$data/applications/$APP_ID.desktop"
icons="$data/icons/hicolor"
metainfo="$data/metainfo/$APP_ID.metainfo.xml"

# Quote one argument for a desktop entry's Exec key: inside double quotes, ", `, $ and \ take
# a backslash; then the whole value is a desktop-entry string, where \ itself is escaped, and
# % is doubled (a lone % starts a field code such as %u).
exec_quoted() {
    printf '%s' "$1" | sed -e 's/[\\"`$]/\\&/g' -e 's/\\/\\\\/g' -e 's/%/%%/g'
}

# Refresh what desktops cache about applications, icons and URL handlers (best effort: the
# tools are optional, and a staged install under DESTDIR leaves the real caches alone).
refresh_caches() {
    [ -z "$destdir" ] || return 0
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q "$data/applications" 2>/dev/null || true
    fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -d "$icons" ]; then
        # -t: the user's hicolor dir usually has no index.theme of its own.
        gtk-update-icon-cache -q -t -f "$icons" 2>/dev/null || true
    fi
}

do_uninstall() {
    rm -rf "$destdir$appdir"
    rmdir "$destdir$data/desktop-chat" 2>/dev/null || true
    # The link only if it is ours (a pip install --user owns a plain desktop-chat script there).
    if [ -L "$destdir$link" ]; then
        target=$(readlink "$destdir$link" 2>/dev/null || printf '%s' "$appdir/")
        case "$target" in "$appdir"/*) rm -f "$destdir$link" ;; esac
    fi
    rm -f "$destdir$desktop" "$destdir$metainfo" "$destdir$icons/scalable/apps/$APP_ID.svg"
    for size in $SIZES; do
        rm -f "$destdir$icons/${size}x$size/apps/$APP_ID.png"
    done
    # The login item the app writes when "start at login" is on (desktop_chat/ui/autostart.py).
    rm -f "$destdir$config/autostart/$APP_ID.desktop"
    # The default handler xdg-mime recorded for desktopchat:// links.
    mimeapps="$destdir$config/mimeapps.list"
    if [ -f "$mimeapps" ] && grep -q "^x-scheme-handler/desktopchat=$APP_ID.desktop\$" "$mimeapps"; then
        grep -v "^x-scheme-handler/desktopchat=$APP_ID.desktop\$" "$mimeapps" >"$mimeapps.tmp" || true
        mv -f "$mimeapps.tmp" "$mimeapps"
    fi
    refresh_caches
    printf 'Desktop Chat removed.\n'
}

# The bundle's executable: "desktop-chat" (the Linux build's name) or "Desktop Chat".
bundle_executable() {
    for name in desktop-chat "Desktop Chat"; do
        if [ -f "$1/$name" ] && [ -x "$1/$name" ]; then
            printf '%s' "$name"
            return 0
        fi
    done
    return 1
}

# The icons: a tarball's icons/ beside this script, the bundle's own resources (PyInstaller 6
# puts data under _internal/), or the source tree's resources/icons when run from a checkout.
find_icons() {
    for dir in "$here/icons" "$1/_internal/desktop_chat/resources/icons" \
        "$1/desktop_chat/resources/icons" "$here/../../resources/icons"; do
        if [ -f "$dir/app-16.png" ]; then
            printf '%s' "$dir"
            return 0
        fi
    done
    return 1
}

do_install() {
    if [ -z "$bundle" ]; then
        if [ -d "$here/Desktop Chat" ]; then
            bundle="$here/Desktop Chat"
        else
            bundle="$here"
        fi
    fi
    [ -d "$bundle" ] || die "no bundle directory: $bundle"
    bundle=$(CDPATH='' cd -- "$bundle" && pwd)
    exe=$(bundle_executable "$bundle") || die "no desktop-chat executable in $bundle"
    [ -f "$here/$APP_ID.desktop" ] || die "missing $here/$APP_ID.desktop"
    [ -f "$here/$APP_ID.metainfo.xml" ] || die "missing $here/$APP_ID.metainfo.xml"
    icon_dir=$(find_icons "$bundle") || die "no icons (app-16.png …) found"

    # The bundle: copied beside the old one, then swapped in, so a failed copy breaks nothing.
    mkdir -p "$destdir$data/desktop-chat"
    rm -rf "$destdir$appdir.new"
    mkdir "$destdir$appdir.new"
    cp -R "$bundle/." "$destdir$appdir.new/"
    rm -rf "$destdir$appdir"
    mv "$destdir$appdir.new" "$destdir$appdir"
    # Do not ship the installer files into the app dir when the bundle is this script's dir.
    rm -f "$destdir$appdir/install.sh" "$destdir$appdir/$APP_ID.desktop" \
        "$destdir$appdir/$APP_ID.metainfo.xml"

    mkdir -p "$destdir$bindir"
    if [ -e "$destdir$link" ] && [ ! -L "$destdir$link" ]; then
        printf 'install.sh: %s exists and is not a symlink: left as it is\n' "$link" >&2
    else
        ln -sf "$appdir/$exe" "$destdir$link"
    fi

    # The desktop entry, its Exec and TryExec pointing at the installed executable.
    mkdir -p "$destdir$data/applications"
    EXEC_LINE="Exec=\"$(exec_quoted "$appdir/$exe")\" %u" \
        TRYEXEC_LINE="TryExec=$(printf '%s' "$appdir/$exe" | sed 's/\\/\\\\/g')" \
        awk '/^Exec=/ { print ENVIRON["EXEC_LINE"]; next }
             /^TryExec=/ { print ENVIRON["TRYEXEC_LINE"]; next }
             { print }' "$here/$APP_ID.desktop" >"$destdir$desktop.tmp"
    mv -f "$destdir$desktop.tmp" "$destdir$desktop"
    chmod 644 "$destdir$desktop"

    for size in $SIZES; do
        if [ -f "$icon_dir/app-$size.png" ]; then
            mkdir -p "$destdir$icons/${size}x$size/apps"
            cp "$icon_dir/app-$size.png" "$destdir$icons/${size}x$size/apps/$APP_ID.png"
        fi
    done
    if [ -f "$icon_dir/app.svg" ]; then
        mkdir -p "$destdir$icons/scalable/apps"
        cp "$icon_dir/app.svg" "$destdir$icons/scalable/apps/$APP_ID.svg"
    fi

    mkdir -p "$destdir$data/metainfo"
    cp "$here/$APP_ID.metainfo.xml" "$destdir$metainfo"

    refresh_caches
    if [ -z "$destdir" ] && command -v xdg-mime >/dev/null 2>&1; then
        xdg-mime default "$APP_ID.desktop" x-scheme-handler/desktopchat 2>/dev/null || true
    fi
    printf 'Desktop Chat installed in %s\n' "$appdir"
    case ":${PATH:-}:" in
        *":$bindir:"*) ;;
        *) printf 'Note: %s is not on PATH; the menu entry works all the same.\n' "$bindir" ;;
    esac
}

if [ "$uninstall" = true ]; then
    do_uninstall
else
    do_install
fi
