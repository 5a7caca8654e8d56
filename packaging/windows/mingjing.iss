; Inno Setup script: dist\mingjing (the PyInstaller bundle) -> dist\Mingjing-<version>-setup.exe
;   iscc /DAppVersion=0.1.0 packaging\windows\mingjing.iss      (run from the repository root)
; The GPU variant (MINGJING_GPU=vulkan packaging/build.sh: dist\vulkan\mingjing) ->
; dist\Mingjing-<version>-vulkan-setup.exe, the same application (it replaces the CPU one):
;   iscc /DAppVersion=0.1.0 /DBundle=vulkan\mingjing /DVariant=-vulkan packaging\windows\mingjing.iss
; Per-user install by default (no administrator needed); the dialog offers all users.
; Uninstall removes the program only: %LOCALAPPDATA%\Mingjing (conversations, knowledge
; bases, settings, the assembled model) is kept.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef Bundle
  #define Bundle "mingjing"
#endif
#ifndef Variant
  #define Variant ""
#endif

[Setup]
AppId={{8C1F3B52-6E2D-4B7A-9A41-2D6C5E0B7F13}
AppName=Mingjing
AppVerName=Mingjing {#AppVersion}
AppVersion={#AppVersion}
AppPublisher=Mingjing
DefaultDirName={autopf}\Mingjing
DefaultGroupName=Mingjing
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=Mingjing-{#AppVersion}{#Variant}-setup
SetupIconFile=..\icons\mingjing.ico
UninstallDisplayIcon={app}\mingjingw.exe
Compression=lzma2/max
SolidCompression=yes
ChangesAssociations=yes
ChangesEnvironment=yes
WizardStyle=modern

[Languages]
Name: "en"; MessagesFile: "compiler:Default.isl"
Name: "zh"; MessagesFile: "compiler:Languages\ChineseSimplified.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; Flags: unchecked
Name: "ggufassoc"; Description: "Open .gguf files with Mingjing"
Name: "addtopath"; Description: "Add mingjing to PATH (command line)"; Flags: unchecked

[Files]
Source: "..\..\dist\{#Bundle}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Mingjing 明镜"; Filename: "{app}\mingjingw.exe"
Name: "{group}\{cm:UninstallProgram,Mingjing}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Mingjing 明镜"; Filename: "{app}\mingjingw.exe"; Tasks: desktopicon

[Registry]
Root: HKA; Subkey: "Software\Classes\.gguf\OpenWithProgids"; ValueType: string; ValueName: "Mingjing.gguf"; ValueData: ""; Flags: uninsdeletevalue; Tasks: ggufassoc
Root: HKA; Subkey: "Software\Classes\Mingjing.gguf"; ValueType: string; ValueName: ""; ValueData: "GGUF language model"; Flags: uninsdeletekey; Tasks: ggufassoc
Root: HKA; Subkey: "Software\Classes\Mingjing.gguf\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\mingjingw.exe,0"; Tasks: ggufassoc
Root: HKA; Subkey: "Software\Classes\Mingjing.gguf\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\mingjingw.exe"" ""%1"""; Tasks: ggufassoc
Root: HKA; Subkey: "Software\Classes\Applications\mingjingw.exe\SupportedTypes"; ValueType: string; ValueName: ".gguf"; ValueData: ""; Flags: uninsdeletekey; Tasks: ggufassoc
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; Check: NeedsAddPath(ExpandConstant('{app}')); Tasks: addtopath

[Run]
Filename: "{app}\mingjingw.exe"; Description: "{cm:LaunchProgram,Mingjing}"; Flags: nowait postinstall skipifsilent

[Code]
function NeedsAddPath(Dir: string): Boolean;
var
  Current: string;
begin
  if not RegQueryStringValue(HKCU, 'Environment', 'Path', Current) then
    Result := True
  else
    Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Current) + ';') = 0;
end;
