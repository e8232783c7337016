; Inno Setup 6 script: the Windows installer of Desktop Chat, per user (no administrator rights).
;
; Build the PyInstaller bundle first (from the repository root), then compile this script:
;   pyinstaller packaging\desktop-chat.spec
;   iscc packaging\windows\desktop-chat.iss /DAppVersion=0.1.0
; The installer is written to dist\DesktopChat-<version>-setup.exe.
; Relative paths below are relative to this file's folder (Inno's SourceDir).

#ifndef AppVersion
  ; Kept equal to pyproject.toml's [project] version (tests/unit/test_packaging.py checks).
  #define AppVersion "0.1.0"
#endif
#ifndef DistDir
  #define DistDir "..\..\dist\Desktop Chat"
#endif
#define AppName "Desktop Chat"
#define AppExe "Desktop Chat.exe"
#define AppUserModelId "app.desktopchat.DesktopChat"

[Setup]
; The AppId identifies the app across versions (upgrades, the uninstaller): never change it.
; "{{" is an escaped "{".
AppId={{B25E1B07-6225-4FC8-8433-159AD4C64731}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppName}
; Per-user install: {autopf} is then %LOCALAPPDATA%\Programs, and HKCU is the user's own hive.
PrivilegesRequired=lowest
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
Uninstallable=yes
UninstallDisplayName={#AppName}
UninstallDisplayIcon={app}\{#AppExe}
SetupIconFile=..\..\resources\icons\app.ico
OutputDir=..\..\dist
OutputBaseFilename=DesktopChat-{#AppVersion}-setup
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
; Ask a running Desktop Chat to close before its files are replaced (Restart Manager).
CloseApplications=yes
; Tells Explorer that the desktopchat: URL protocol changed.
ChangesAssociations=yes
; The PyInstaller bundle is 64-bit ("x64compatible" needs Inno Setup 6.3 or later).
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An upgrade starts from a clean bundle: a new PyInstaller build may ship other library files.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; AppUserModelID: "{#AppUserModelId}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; AppUserModelID: "{#AppUserModelId}"; Tasks: desktopicon

[Registry]
; desktopchat:// links (conversation/<id>, booking/<id>, skill/<id>) open the app, which takes
; the link as its one argument; a running instance receives it. Inno writes a double quote
; inside a quoted value as "".
Root: HKCU; Subkey: "Software\Classes\desktopchat"; ValueType: string; ValueName: ""; ValueData: "URL:Desktop Chat Protocol"; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\desktopchat"; ValueType: string; ValueName: "URL Protocol"; ValueData: ""
Root: HKCU; Subkey: "Software\Classes\desktopchat\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"",0"
Root: HKCU; Subkey: "Software\Classes\desktopchat\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""
; "Start at login" (the app's setting) writes the value "Desktop Chat" under the Run key. This
; entry creates nothing at install (ValueType: none, dontcreatekey: the key is not even opened)
; but still records the value in the uninstall log, so the uninstaller deletes it if present.
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: none; ValueName: "{#AppName}"; Flags: dontcreatekey uninsdeletevalue

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
