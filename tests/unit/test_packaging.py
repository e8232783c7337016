"""The platform packaging (packaging/, resources/icons) is valid, consistent and installs."""

from __future__ import annotations

import configparser
import importlib.util
import os
import plistlib
import re
import shutil
import struct
import subprocess
import sys
import tomllib
import types
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from desktop_chat.core.links import SCHEME

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
ICONS = ROOT / "resources" / "icons"
APP_ID = "app.desktopchat.DesktopChat"
DESKTOP = PACKAGING / "linux" / f"{APP_ID}.desktop"
METAINFO = PACKAGING / "linux" / f"{APP_ID}.metainfo.xml"
INSTALL_SH = PACKAGING / "linux" / "install.sh"
INFO_PLIST = PACKAGING / "macos" / "Info.plist"
ISS = PACKAGING / "windows" / "desktop-chat.iss"
SPEC = PACKAGING / "desktop-chat.spec"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICNS_TYPES = {b"icp4": 16, b"icp5": 32, b"icp6": 64, b"ic07": 128, b"ic08": 256, b"ic09": 512}
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
VERSION: str = PYPROJECT["project"]["version"]
# freedesktop menu spec: main categories, and the additional ones used here with what they need.
MAIN_CATEGORIES = {
    "AudioVideo", "Audio", "Video", "Development", "Education", "Game", "Graphics",
    "Network", "Office", "Science", "Settings", "System", "Utility",
}  # fmt: skip
ADDITIONAL_NEEDS = {"InstantMessaging": {"Network"}, "Chat": {"Network"}}


def desktop_entry(path: Path = DESKTOP) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    assert parser.sections() == ["Desktop Entry"]
    return dict(parser["Desktop Entry"])


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (the first, right after the signature)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# the Linux desktop entry and AppStream metadata -------------------------------------------
def test_desktop_entry_launches_the_app_with_links() -> None:
    entry = desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Desktop Chat"
    assert entry["Exec"] == "desktop-chat %u"  # %u: the desktopchat:// link, one URL
    assert entry["TryExec"] == "desktop-chat"
    assert entry["Icon"] == APP_ID
    assert entry["Terminal"] == "false"
    assert f"x-scheme-handler/{SCHEME}" in entry["MimeType"].split(";")
    assert entry["MimeType"].endswith(";")
    # Qt's X11 WM_CLASS class is the application name the app sets.
    assert f'setApplicationName("{entry["StartupWMClass"]}")' in (
        ROOT / "desktop_chat" / "app.py"
    ).read_text(encoding="utf-8")
    assert {"GenericName", "Comment", "Keywords"} <= entry.keys()


def test_desktop_entry_categories_are_a_valid_combination() -> None:
    raw = desktop_entry()["Categories"]
    assert raw.endswith(";")
    categories = [c for c in raw.split(";") if c]
    assert categories == ["Network", "InstantMessaging", "Chat"]
    assert MAIN_CATEGORIES & set(categories)
    for category in categories:
        if category not in MAIN_CATEGORIES:
            assert ADDITIONAL_NEEDS[category] & set(categories), category


def test_desktop_file_validate() -> None:
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate (desktop-file-utils) is not installed")
    done = subprocess.run([tool, str(DESKTOP)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "error" not in done.stdout + done.stderr


def test_appstreamcli_validates_the_metainfo() -> None:
    tool = shutil.which("appstreamcli")
    if tool is None:
        pytest.skip("appstreamcli (appstream) is not installed")
    done = subprocess.run(
        [tool, "validate", "--no-net", str(METAINFO)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_metainfo_names_the_app_and_the_current_release() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component"
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("metadata_license") == "CC0-1.0"
    assert root.findtext("project_license") == "MIT"  # pyproject's license
    assert root.findtext("name") == "Desktop Chat"
    launchable = root.find("launchable")
    assert launchable is not None
    assert launchable.get("type") == "desktop-id"
    assert launchable.text == DESKTOP.name
    assert [b.text for b in root.iterfind("provides/binary")] == ["desktop-chat"]
    rating = root.find("content_rating")
    assert rating is not None
    assert rating.get("type") == "oars-1.1"
    releases = root.findall("releases/release")
    assert releases, "no <release>"
    assert releases[0].get("version") == VERSION  # the newest comes first
    assert releases[0].get("date") == "2026-11-26"


# macOS ----------------------------------------------------------------------------------------
def test_info_plist() -> None:
    with INFO_PLIST.open("rb") as handle:
        info = plistlib.load(handle)
    assert info["CFBundleIdentifier"] == APP_ID
    assert info["CFBundleName"] == info["CFBundleDisplayName"] == "Desktop Chat"
    assert info["CFBundleExecutable"] == "Desktop Chat"
    assert info["CFBundleIconFile"] == "app.icns"
    assert info["CFBundlePackageType"] == "APPL"
    assert info["CFBundleShortVersionString"] == VERSION
    assert info["CFBundleVersion"] == VERSION
    assert info["LSMinimumSystemVersion"] == "11.0"
    assert info["NSHighResolutionCapable"] is True
    assert info["LSUIElement"] is False
    (url_type,) = info["CFBundleURLTypes"]
    assert url_type["CFBundleURLName"] == APP_ID
    assert url_type["CFBundleURLSchemes"] == [SCHEME]


# Windows --------------------------------------------------------------------------------------
_INNO_PARAM = re.compile(r'\s*(\w+):\s*("(?:[^"]|"")*"|[^;]*?)\s*(?:;|$)')


def inno_defines() -> dict[str, str]:
    return dict(re.findall(r'^\s*#define\s+(\w+)\s+"([^"]*)"', ISS.read_text("utf-8"), re.M))


def inno_section(name: str) -> list[str]:
    """The lines of [name], without comments and blank lines."""
    lines, inside = [], False
    for line in ISS.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            inside = stripped == f"[{name}]"
        elif inside and stripped and not stripped.startswith(";"):
            lines.append(stripped)
    return lines


def inno_entries(section: str) -> list[dict[str, str]]:
    """The entries of a [section] of `Name: value; Name: "value"` lines, values unquoted and
    with the script's #define constants ({#Name}) filled in."""
    defines = inno_defines()
    entries = []
    for line in inno_section(section):
        entry = {}
        for key, raw in _INNO_PARAM.findall(line):
            value = raw[1:-1].replace('""', '"') if raw.startswith('"') else raw
            entry[key] = re.sub(r"\{#(\w+)\}", lambda m: defines[m.group(1)], value)
        entries.append(entry)
    return entries


def test_inno_setup_installs_per_user_with_an_uninstaller() -> None:
    defines = inno_defines()
    assert defines["AppVersion"] == VERSION
    assert defines["AppExe"] == "Desktop Chat.exe"
    assert re.search(r"^\s*#ifndef AppVersion\s*$", ISS.read_text("utf-8"), re.M)
    setup = dict(line.split("=", 1) for line in inno_section("Setup"))
    assert re.fullmatch(r"\{\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}", setup["AppId"])
    assert setup["AppVersion"] == "{#AppVersion}"
    assert setup["PrivilegesRequired"] == "lowest"
    assert setup["DefaultDirName"] == r"{autopf}\{#AppName}"
    assert setup["Uninstallable"] == "yes"
    assert setup["UninstallDisplayIcon"] == r"{app}\{#AppExe}"
    (files,) = inno_entries("Files")
    assert files["Source"] == r"..\..\dist\Desktop Chat\*"
    assert {"recursesubdirs", "createallsubdirs"} <= set(files["Flags"].split())
    icons = {entry["Name"]: entry for entry in inno_entries("Icons")}
    assert icons[r"{autoprograms}\Desktop Chat"]["Filename"] == r"{app}\Desktop Chat.exe"
    assert icons[r"{autodesktop}\Desktop Chat"]["Tasks"] == "desktopicon"
    (run,) = inno_entries("Run")
    assert run["Filename"] == r"{app}\Desktop Chat.exe"
    assert {"postinstall", "nowait", "skipifsilent"} <= set(run["Flags"].split())


def test_inno_setup_registers_the_url_protocol_and_cleans_up() -> None:
    registry = {(entry["Subkey"], entry["ValueName"]): entry for entry in inno_entries("Registry")}
    key = rf"Software\Classes\{SCHEME}"
    assert all(entry["Root"] == "HKCU" for entry in registry.values())
    assert registry[key, ""]["ValueData"] == "URL:Desktop Chat Protocol"
    assert "uninsdeletekey" in registry[key, ""]["Flags"].split()
    assert registry[key, "URL Protocol"]["ValueData"] == ""
    assert registry[key, "URL Protocol"]["ValueType"] == "string"
    assert registry[rf"{key}\DefaultIcon", ""]["ValueData"] == r'"{app}\Desktop Chat.exe",0'
    command = registry[rf"{key}\shell\open\command", ""]
    assert command["ValueData"] == r'"{app}\Desktop Chat.exe" "%1"'
    run = registry[r"Software\Microsoft\Windows\CurrentVersion\Run", "Desktop Chat"]
    assert run["ValueType"] == "none"  # creates nothing, only logs the value for the uninstaller
    assert set(run["Flags"].split()) == {"dontcreatekey", "uninsdeletevalue"}


# the PyInstaller spec --------------------------------------------------------------------------
def run_spec(monkeypatch: pytest.MonkeyPatch, platform: str) -> dict[str, Any]:
    """Execute the spec as PyInstaller would on *platform*, with recording stand-ins for
    PyInstaller's classes and hooks; returns what each was called with."""
    calls: dict[str, Any] = {}

    class Target:
        def __init__(self, kind: str, *args: Any, **kwargs: Any) -> None:
            self.args, self.kwargs = args, kwargs
            self.pure: list[tuple[str, str, str]] = []
            self.scripts = self.binaries = self.datas = ()
            calls[kind] = self

    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda name: [f"<submodules of {name}>"]  # type: ignore[attr-defined]
    hooks.copy_metadata = lambda name: [(f"<metadata of {name}>", name)]  # type: ignore[attr-defined]
    namespace: dict[str, Any] = {
        kind: (lambda *a, _kind=kind, **k: Target(_kind, *a, **k))
        for kind in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")
    }
    namespace["SPECPATH"] = str(PACKAGING)
    code = compile(SPEC.read_bytes(), str(SPEC), "exec")
    with monkeypatch.context() as patch:
        for name in ("PyInstaller", "PyInstaller.utils"):
            patch.setitem(sys.modules, name, types.ModuleType(name))
        patch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
        patch.setattr(sys, "platform", platform)
        exec(code, namespace)
    return calls


def qt_modules_the_app_imports() -> set[str]:
    found = set()
    for path in (ROOT / "desktop_chat").rglob("*.py"):
        found |= set(re.findall(r"PySide6\.(Qt\w+)", path.read_text(encoding="utf-8")))
    return found


def test_spec_compiles() -> None:
    compile(SPEC.read_bytes(), str(SPEC), "exec")


def test_spec_bundles_the_resources_and_leaves_out_unused_qt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = run_spec(monkeypatch, "linux")
    analysis = calls["Analysis"]
    assert analysis.args == ([str(PACKAGING / "entry.py")],)
    datas = set(analysis.kwargs["datas"])
    for name in ("database.rules.json", "icons/app.svg", "icons/app-64.png", "sounds/message.wav"):
        path = ROOT / "resources" / name
        target = "/".join(["desktop_chat/resources", *name.split("/")[:-1]])
        assert (str(path), target) in datas, name
    assert not any(src.endswith("__init__.py") for src, _ in datas)
    hidden = analysis.kwargs["hiddenimports"]
    assert "<submodules of desktop_chat>" in hidden  # the server, for --serve-embedded
    assert {"engineio.async_drivers.aiohttp", "qasync", "dbus_next"} <= set(hidden)
    excludes = set(analysis.kwargs["excludes"])
    assert {"PySide6.QtQml", "PySide6.QtWebEngineCore", "PySide6.Qt3DCore"} <= excludes
    used = qt_modules_the_app_imports()
    assert {"QtMultimedia", "QtNetwork"} <= used
    assert not {f"PySide6.{module}" for module in used} & excludes
    # the mapped package desktop_chat.resources, which an analysis from the checkout misses
    assert calls["PYZ"].args[0] == [
        ("desktop_chat.resources", str(ROOT / "resources" / "__init__.py"), "PYMODULE")
    ]
    exe = calls["EXE"].kwargs
    assert exe["name"] == "desktop-chat"
    assert exe["console"] is False
    assert calls["COLLECT"].kwargs["name"] == "Desktop Chat"
    assert "BUNDLE" not in calls


@pytest.mark.parametrize(("platform", "icon"), [("win32", "app.ico"), ("darwin", "app.icns")])
def test_spec_names_the_executable_and_icon_per_platform(
    monkeypatch: pytest.MonkeyPatch, platform: str, icon: str
) -> None:
    calls = run_spec(monkeypatch, platform)
    exe = calls["EXE"].kwargs
    assert exe["name"] == "Desktop Chat"  # the .iss's {app}\Desktop Chat.exe, CFBundleExecutable
    assert exe["icon"] == str(ICONS / icon)
    assert exe["console"] is False
    keyring = "keyring.backends.Windows" if platform == "win32" else "keyring.backends.macOS"
    assert keyring in calls["Analysis"].kwargs["hiddenimports"]
    if platform == "darwin":
        bundle = calls["BUNDLE"].kwargs
        assert bundle["name"] == "Desktop Chat.app"
        assert bundle["bundle_identifier"] == APP_ID
        assert bundle["version"] == VERSION
        assert bundle["info_plist"]["CFBundleShortVersionString"] == VERSION
        assert bundle["info_plist"]["CFBundleURLTypes"][0]["CFBundleURLSchemes"] == [SCHEME]
        assert exe["argv_emulation"] is True
    else:
        assert "BUNDLE" not in calls


# icons ------------------------------------------------------------------------------------------
def load_make_icons() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("make_icons", ROOT / "tools" / "make_icons.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("size", PNG_SIZES)
def test_png_icon_has_its_size(size: int) -> None:
    assert png_size((ICONS / f"app-{size}.png").read_bytes()) == (size, size)


def test_ico_holds_16_to_256() -> None:
    data = (ICONS / "app.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind) == (0, 1)
    sizes = []
    for index in range(count):
        width, height, _, _, planes, bits, length, offset = struct.unpack(
            "<BBBBHHII", data[6 + 16 * index : 22 + 16 * index]
        )
        side = width or 256  # 0 means 256
        assert (width, height, planes, bits) == (width, width, 1, 32)
        assert png_size(data[offset : offset + length]) == (side, side)
        sizes.append(side)
    assert sizes == [16, 24, 32, 48, 64, 128, 256]


def test_icns_holds_16_to_512() -> None:
    data = (ICONS / "app.icns").read_bytes()
    assert data[:4] == b"icns"
    assert struct.unpack(">I", data[4:8])[0] == len(data)
    found, at = {}, 8
    while at < len(data):
        kind, length = data[at : at + 4], struct.unpack(">I", data[at + 4 : at + 8])[0]
        assert length > 8
        found[kind] = png_size(data[at + 8 : at + length])
        at += length
    assert at == len(data)
    assert found == {kind: (size, size) for kind, size in ICNS_TYPES.items()}


def test_ico_and_icns_are_made_from_the_pngs() -> None:
    tool = load_make_icons()
    pngs = {size: (ICONS / f"app-{size}.png").read_bytes() for size in PNG_SIZES}
    ico_sizes = [size for size in PNG_SIZES if size <= 256]
    assert tool.ico({s: pngs[s] for s in ico_sizes}) == (ICONS / "app.ico").read_bytes()
    assert tool.icns(pngs) == (ICONS / "app.icns").read_bytes()


def test_the_wheel_ships_the_icon_formats() -> None:
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["desktop_chat.resources.icons"]
    assert {"*.svg", "*.png", "*.ico", "*.icns"} <= set(patterns)


# install.sh ------------------------------------------------------------------------------------
def test_install_sh_syntax() -> None:
    done = subprocess.run(
        ["sh", "-n", str(INSTALL_SH)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert os.access(INSTALL_SH, os.X_OK)


def test_install_sh_shellcheck() -> None:
    tool = shutil.which("shellcheck")
    if tool is None:
        pytest.skip("shellcheck is not installed")
    done = subprocess.run([tool, str(INSTALL_SH)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty home dir with a space in its path (the Exec key must quote it)."""
    path = tmp_path / "home dir"
    path.mkdir()
    return path


def fake_bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle" / "Desktop Chat"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "_internal" / "library.so").write_bytes(b"\0" * 16)
    exe = bundle / "desktop-chat"
    exe.write_text('#!/bin/sh\necho "fake desktop-chat $*"\n', encoding="utf-8")
    exe.chmod(0o755)
    return bundle


def run_install(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "DESTDIR"))}
    environ.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), **env)
    return subprocess.run(
        ["sh", str(INSTALL_SH), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.mark.parametrize("custom_data_home", [False, True])
def test_install_and_uninstall(tmp_path: Path, home: Path, custom_data_home: bool) -> None:
    bundle = fake_bundle(tmp_path)
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg data")} if custom_data_home else {}
    data = tmp_path / "xdg data" if custom_data_home else home / ".local" / "share"
    done = run_install(home, "--bundle", str(bundle), **env)
    assert done.returncode == 0, done.stderr

    app = data / "desktop-chat" / "app"
    assert (app / "desktop-chat").read_bytes() == (bundle / "desktop-chat").read_bytes()
    assert os.access(app / "desktop-chat", os.X_OK)
    assert (app / "_internal" / "library.so").is_file()
    link = home / ".local" / "bin" / "desktop-chat"
    assert link.is_symlink()
    assert link.resolve() == (app / "desktop-chat").resolve()
    ran = subprocess.run(
        [str(link), f"{SCHEME}://skill/x"], capture_output=True, text=True, check=True
    )
    assert ran.stdout == f"fake desktop-chat {SCHEME}://skill/x\n"

    entry = desktop_entry(data / "applications" / DESKTOP.name)
    assert entry["Exec"] == f'"{app / "desktop-chat"}" %u'  # quoted: the path has a space
    assert entry["TryExec"] == str(app / "desktop-chat")
    assert entry["Icon"] == APP_ID
    assert entry["MimeType"] == desktop_entry()["MimeType"]
    hicolor = data / "icons" / "hicolor"
    for size in PNG_SIZES:
        installed = hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        assert installed.read_bytes() == (ICONS / f"app-{size}.png").read_bytes()
    svg = hicolor / "scalable" / "apps" / f"{APP_ID}.svg"
    assert svg.read_bytes() == (ICONS / "app.svg").read_bytes()
    assert (data / "metainfo" / METAINFO.name).read_bytes() == METAINFO.read_bytes()
    validate = shutil.which("desktop-file-validate")
    if validate is not None:  # the rewritten entry is still valid
        checked = subprocess.run(
            [validate, str(data / "applications" / DESKTOP.name)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout

    # The app's own "start at login" entry goes with it.
    autostart = home / ".config" / "autostart" / f"{APP_ID}.desktop"
    autostart.parent.mkdir(parents=True)
    autostart.write_text("[Desktop Entry]\n", encoding="utf-8")

    done = run_install(home, "--uninstall", **env)
    assert done.returncode == 0, done.stderr
    assert not link.exists()
    assert not link.is_symlink()
    assert not (data / "desktop-chat").exists()
    assert not autostart.exists()
    # Only the desktop caches the refresh tools keep (if installed) may remain.
    left = {p.name for p in files_under(home) | files_under(data)}
    assert left <= {"mimeinfo.cache", "icon-theme.cache", "mimeapps.list"}, left
    if (home / ".config" / "mimeapps.list").exists():
        assert SCHEME not in (home / ".config" / "mimeapps.list").read_text("utf-8")


def test_install_leaves_a_foreign_desktop_chat_alone(tmp_path: Path, home: Path) -> None:
    script = home / ".local" / "bin" / "desktop-chat"  # e.g. from `pip install --user`
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    done = run_install(home, "--bundle", str(fake_bundle(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert "not a symlink" in done.stderr
    assert run_install(home, "--uninstall").returncode == 0
    assert script.read_text(encoding="utf-8") == "#!/bin/sh\n"


def test_install_stages_under_destdir(tmp_path: Path, home: Path) -> None:
    stage = tmp_path / "stage"
    done = run_install(home, "--bundle", str(fake_bundle(tmp_path)), DESTDIR=str(stage))
    assert done.returncode == 0, done.stderr
    assert not files_under(home)
    app = home / ".local" / "share" / "desktop-chat" / "app"
    staged = Path(str(stage) + str(home))
    entry = desktop_entry(staged / ".local" / "share" / "applications" / DESKTOP.name)
    assert entry["Exec"] == f'"{app / "desktop-chat"}" %u'  # the final path, not the stage
    assert os.readlink(staged / ".local" / "bin" / "desktop-chat") == str(app / "desktop-chat")
    assert (Path(str(stage) + str(app)) / "desktop-chat").is_file()


def test_install_refuses_a_dir_without_the_executable(tmp_path: Path, home: Path) -> None:
    done = run_install(home, "--bundle", str(tmp_path))
    assert done.returncode == 1
    assert "no desktop-chat executable" in done.stderr
    assert not files_under(home)
