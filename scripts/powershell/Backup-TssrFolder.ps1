<#
.SYNOPSIS
Backs up a folder with robocopy: a mirror, or dated copies with retention; exit codes read correctly.

.DESCRIPTION
Mirror mode keeps DESTINATION\mirror identical to the source (robocopy /MIR: files deleted from the
source are deleted from the mirror). Versioned mode copies the source into a new folder
DESTINATION\yyyyMMdd-HHmmss, then deletes the oldest dated folders beyond -Keep (only folders whose name
is such a date are ever deleted; the new copy counts as one of the -Keep).

What is copied, so that a restore gives the files back as they were:
- data, attributes, timestamps, NTFS permissions (DACL), owner and auditing (SACL) of every file
  (/COPY:DATSO) and of every folder (/DCOPY:DAT), the folders' permissions included;
- in backup mode (/B): files the account running the script cannot read are read through the
  "Back up files and directories" right (SeBackupPrivilege), which Administrators (elevated) and Backup
  Operators hold; the script checks the right before it starts (exit 2 without it);
- junction points and symbolic links are not followed (/XJ): a junction to C:\ or to the backup
  itself would copy the wrong tree, or loop.
Open files: robocopy cannot read a file another program holds open without sharing (a mailbox .pst,
a database); after -Retry tries it counts the file as failed (code 8) and names it in the log. With
-UseShadowCopy the copy is read from a Volume Shadow Copy of the source volume taken at the start
(consistent, open files included), then the shadow copy is deleted. Shadow copies need a local NTFS
volume, an elevated administrator and Windows Server (Win32_ShadowCopy.Create is not available on the
client editions); a source on a network share cannot be shadow-copied.

Robocopy's exit code is a bit field, not an error code: 0 nothing to copy, 1 files copied, 2 extra
files at the destination, 4 mismatched files, combinations up to 7 are success; 8 (some files could not
be copied, after retries) and 16 (fatal: no access, bad path) are failures. This script turns it into
an object (Code, Success, Meaning) and fails only for 8 and above.

Relative paths (-Source, -Destination, -LogFolder) are resolved against the current PowerShell
location (Set-Location), not the process's working folder.

Each run writes robocopy's log to -LogFolder and one entry in the Application event log (source
tssr-kit; Information on success, Error on failure, event id 1000 / 1001). A failed versioned copy is
kept (named ...-incomplete) and never counts toward retention; after a successful versioned copy the
incomplete sets older than it are deleted. Logs older than -LogRetentionDays are deleted. -WhatIf lists
exactly what the real run would delete.

.PARAMETER Source
The folder to back up.

.PARAMETER Destination
The backup root: it receives mirror\ or the dated folders. Must not be inside the source.

.PARAMETER Mode
Mirror (default) or Versioned.

.PARAMETER Keep
Versioned mode: how many dated copies to keep (default 7, 1 to 365).

.PARAMETER LogFolder
Where robocopy logs go (default $env:ProgramData\tssr-kit\backup\logs).

.PARAMETER Retry
Robocopy /R: retries per failed file (default 2). The wait between retries (/W) is 5 seconds.

.PARAMETER LogRetentionDays
Logs of the log folder (backup-*.log) older than this are deleted (default 90).

.PARAMETER UseShadowCopy
Read the source from a Volume Shadow Copy taken at the start (open files included). Windows Server,
local NTFS volume, elevated administrator.

.EXAMPLE
.\Backup-TssrFolder.ps1 -Source D:\Shares\Compta -Destination \\nas\backup\compta -WhatIf
Says what it would copy (robocopy is not run) and what it would delete.

.EXAMPLE
.\Backup-TssrFolder.ps1 -Source D:\Shares\Compta -Destination E:\Backup\compta -Mode Versioned -Keep 14 -Verbose
A new dated copy, the 14 newest kept, narration on the verbose stream.

.EXAMPLE
.\Backup-TssrFolder.ps1 -Source D:\Shares\Compta -Destination E:\Backup\compta | Format-List
Shows the result object: Code, Success, Meaning, Target, LogFile, Removed.

.OUTPUTS
PSCustomObject: Source, Target, Mode, Code, Success, Meaning, LogFile, Removed (deleted dated and
incomplete folders), RemovedLogs.

.NOTES
Exit codes: 0 success (robocopy 0-7); 1 failure (robocopy 8 or more, or another runtime error);
2 usage or validation error (nothing done).
What it changes: the destination folder, the log folder, the Application event log (and, on first run,
registers the event source tssr-kit, which needs an administrator); with -UseShadowCopy, a shadow copy
and a link to it under $env:TEMP, both deleted at the end.
Run it elevated (backup mode and owners need the backup and restore rights).
Schedule it with Register-TssrScheduledScript.ps1. Part of tssr-kit (scripts/powershell).
#>
[CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
[OutputType([pscustomobject])]
param(
    [Parameter(Mandatory)]
    [ValidateNotNullOrEmpty()]
    [string]$Source,

    [Parameter(Mandatory)]
    [ValidateNotNullOrEmpty()]
    [string]$Destination,

    [ValidateSet('Mirror', 'Versioned')]
    [string]$Mode = 'Mirror',

    [ValidateRange(1, 365)]
    [int]$Keep = 7,

    [ValidateNotNullOrEmpty()]
    [string]$LogFolder = (Join-Path -Path $env:ProgramData -ChildPath 'tssr-kit\backup\logs'),

    [ValidateRange(0, 100)]
    [int]$Retry = 2,

    [ValidateRange(1, 3650)]
    [int]$LogRetentionDays = 90,

    [switch]$UseShadowCopy
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'
$eventSource = 'tssr-kit'
$versionPattern = '^\d{8}-\d{6}$'

function ConvertFrom-TssrRobocopyExitCode {
    <#
    .SYNOPSIS
    Interprets a robocopy exit code: 0-7 success (bit field), 8 and more failure.
    .DESCRIPTION
    Bits: 1 files copied; 2 extra files or folders at the destination; 4 mismatched files or folders;
    8 some files or folders could not be copied (retries exhausted); 16 fatal error (nothing copied:
    usage error, no access to source or destination).
    .PARAMETER Code
    The exit code of robocopy.
    .EXAMPLE
    ConvertFrom-TssrRobocopyExitCode -Code 3
    Success $true, Meaning 'files copied; extra files at the destination'.
    .EXAMPLE
    ConvertFrom-TssrRobocopyExitCode -Code 9
    Success $false, Meaning 'files copied; some files could not be copied'.
    .OUTPUTS
    PSCustomObject: Code, Success, Meaning.
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param([Parameter(Mandatory)][ValidateRange(0, 255)][int]$Code)
    $meanings = [ordered]@{
        1  = 'files copied'
        2  = 'extra files at the destination'
        4  = 'mismatched files'
        8  = 'some files could not be copied'
        16 = 'fatal error: nothing copied'
    }
    $parts = @(foreach ($bit in $meanings.Keys) { if ($Code -band $bit) { $meanings[$bit] } })
    if ($parts.Count -eq 0) { $parts = @('nothing to copy: source and destination identical') }
    [pscustomobject]@{ Code = $Code; Success = ($Code -lt 8); Meaning = ($parts -join '; ') }
}

function Invoke-TssrRobocopy {
    <#
    .SYNOPSIS
    Runs robocopy.exe with an argument list and returns its exit code (a seam for the Pester tests).
    .DESCRIPTION
    Robocopy's own output goes to its log file (/LOG+), not to the pipeline.
    .PARAMETER ArgumentList
    The arguments, one per element (no quoting needed).
    .EXAMPLE
    Invoke-TssrRobocopy -ArgumentList @('C:\src', 'D:\dst', '/MIR')
    Mirrors C:\src to D:\dst.
    .EXAMPLE
    Invoke-TssrRobocopy -ArgumentList @('C:\src', 'D:\dst', '/E', '/L')
    Lists what a copy would do.
    .OUTPUTS
    System.Int32
    #>
    [CmdletBinding()]
    [OutputType([int])]
    param([Parameter(Mandatory)][string[]]$ArgumentList)
    & robocopy.exe @ArgumentList | Out-Null
    $LASTEXITCODE
}

function Write-TssrEvent {
    <#
    .SYNOPSIS
    Writes one entry to the Application event log under the source tssr-kit (registered if missing).
    .DESCRIPTION
    Uses System.Diagnostics.EventLog, present in Windows PowerShell 5.1 and PowerShell 7 on Windows.
    A failure to log is a warning: it never fails the backup.
    .PARAMETER Message
    The entry's text.
    .PARAMETER EntryType
    Information or Error.
    .PARAMETER EventId
    The event id.
    .EXAMPLE
    Write-TssrEvent -Message 'backup ok' -EntryType Information -EventId 1000
    One Information entry.
    .EXAMPLE
    Write-TssrEvent -Message 'backup failed' -EntryType Error -EventId 1001 -WhatIf
    Says so, writes nothing.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    param(
        [Parameter(Mandatory)][string]$Message,
        [Parameter(Mandatory)][ValidateSet('Information', 'Error')][string]$EntryType,
        [Parameter(Mandatory)][ValidateRange(1, 65535)][int]$EventId
    )
    if ($PSCmdlet.ShouldProcess("Application log, source $eventSource", "Write event $EventId")) {
        try {
            if (-not [System.Diagnostics.EventLog]::SourceExists($eventSource)) {
                [System.Diagnostics.EventLog]::CreateEventSource($eventSource, 'Application')
            }
            [System.Diagnostics.EventLog]::WriteEntry($eventSource, $Message, $EntryType, $EventId)
        }
        catch {
            Write-Warning -Message "could not write to the event log: $($_.Exception.Message)"
        }
    }
}

function Test-TssrBackupPrivilege {
    <#
    .SYNOPSIS
    Whether the account running the script holds the backup and restore rights robocopy /B and /COPY:O use.
    .DESCRIPTION
    Reads whoami /priv (the privileges of this process's token, enabled or not: robocopy enables them).
    A non-elevated administrator does not hold them.
    .EXAMPLE
    Test-TssrBackupPrivilege
    $true in an elevated session of an administrator or a Backup Operator.
    .EXAMPLE
    if (-not (Test-TssrBackupPrivilege)) { 'run elevated' }
    The script's own check.
    .OUTPUTS
    System.Boolean
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param()
    $privileges = @(& whoami.exe /priv /fo csv /nh | ConvertFrom-Csv -Header Name, Description, State | ForEach-Object -Process { $_.Name })
    ($privileges -contains 'SeBackupPrivilege') -and ($privileges -contains 'SeRestorePrivilege')
}

function New-TssrShadowCopy {
    <#
    .SYNOPSIS
    Takes a Volume Shadow Copy of a folder's volume and returns the folder as seen in it.
    .DESCRIPTION
    Win32_ShadowCopy.Create (Windows Server), then a directory symbolic link under $env:TEMP to the
    shadow copy's device (robocopy cannot read \\?\GLOBALROOT paths). Returns Path (the folder inside
    the shadow copy), Link and ShadowId, for Remove-TssrShadowCopy.
    .PARAMETER Folder
    The full path of the source folder on a local volume.
    .EXAMPLE
    $shadow = New-TssrShadowCopy -Folder 'D:\Shares\Compta'
    $shadow.Path is C:\Users\...\Temp\tssr-kit-vss-...\Shares\Compta.
    .EXAMPLE
    New-TssrShadowCopy -Folder 'D:\Shares\Compta' -WhatIf
    Says so, takes nothing.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    [OutputType([pscustomobject])]
    param([Parameter(Mandatory)][string]$Folder)
    $volume = [System.IO.Path]::GetPathRoot($Folder)
    if ($PSCmdlet.ShouldProcess($volume, 'Take a shadow copy')) {
        $created = Invoke-CimMethod -ClassName Win32_ShadowCopy -MethodName Create -Arguments @{ Volume = $volume; Context = 'ClientAccessible' } -ErrorAction Stop
        if ($created.ReturnValue -ne 0) { throw "Win32_ShadowCopy.Create on $volume returned $($created.ReturnValue)" }
        $shadow = Get-CimInstance -ClassName Win32_ShadowCopy -Filter "ID = '$($created.ShadowID)'" -ErrorAction Stop
        $link = Join-Path -Path $env:TEMP -ChildPath ('tssr-kit-vss-{0}' -f [guid]::NewGuid())
        New-Item -ItemType SymbolicLink -Path $link -Target "$($shadow.DeviceObject)\" -ErrorAction Stop | Out-Null
        [pscustomobject]@{ Path = (Join-Path -Path $link -ChildPath $Folder.Substring($volume.Length)); Link = $link; ShadowId = $created.ShadowID }
    }
}

function Remove-TssrShadowCopy {
    <#
    .SYNOPSIS
    Deletes the link and the shadow copy made by New-TssrShadowCopy.
    .DESCRIPTION
    The link first (a directory symbolic link: removing it does not touch its target), then the shadow copy.
    .PARAMETER Shadow
    The object New-TssrShadowCopy returned.
    .EXAMPLE
    Remove-TssrShadowCopy -Shadow $shadow
    Both gone.
    .EXAMPLE
    Remove-TssrShadowCopy -Shadow $shadow -WhatIf
    Says so.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(Mandatory)][pscustomobject]$Shadow)
    if ($PSCmdlet.ShouldProcess($Shadow.ShadowId, 'Delete the shadow copy and its link')) {
        [System.IO.Directory]::Delete($Shadow.Link)   # the link only, never what it points to
        Get-CimInstance -ClassName Win32_ShadowCopy -Filter "ID = '$($Shadow.ShadowId)'" -ErrorAction Stop | Remove-CimInstance -ErrorAction Stop
    }
}

function Get-TssrRetentionPlan {
    <#
    .SYNOPSIS
    The folders retention deletes: dated copies beyond -Keep (the new one counted) and older incomplete sets.
    .DESCRIPTION
    Pure: the same list for -WhatIf and for the real run, because the new copy is counted by its name
    whether it exists yet or not.
    .PARAMETER Names
    The names of the destination's sub-folders.
    .PARAMETER NewName
    The name of this run's copy (yyyyMMdd-HHmmss).
    .PARAMETER Keep
    How many dated copies to keep.
    .EXAMPLE
    Get-TssrRetentionPlan -Names '20260101-020000', '20260102-020000' -NewName '20260103-020000' -Keep 2
    Returns 20260101-020000.
    .EXAMPLE
    Get-TssrRetentionPlan -Names '20260101-020000-incomplete' -NewName '20260102-020000' -Keep 7
    Returns 20260101-020000-incomplete (an older failed set).
    .OUTPUTS
    System.String
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([AllowEmptyCollection()][string[]]$Names = @(), [Parameter(Mandatory)][string]$NewName, [Parameter(Mandatory)][int]$Keep)
    $complete = @(@($Names) + $NewName | Where-Object -FilterScript { $_ -match $versionPattern } | Sort-Object -Unique -Descending)
    @($complete | Select-Object -Skip $Keep | Where-Object -FilterScript { $_ -ne $NewName })
    @($Names | Where-Object -FilterScript { $_ -match '^\d{8}-\d{6}-incomplete$' -and $_.Substring(0, 15) -lt $NewName })
}

function Invoke-TssrBackup {
    <#
    .SYNOPSIS
    The whole run: validates, copies, applies retention, logs; outputs the result and sets $script:exitCode.
    .DESCRIPTION
    Kept in a function so the script ends with a single exit.
    .EXAMPLE
    Invoke-TssrBackup
    Runs with the script's parameters.
    .EXAMPLE
    Invoke-TssrBackup -WhatIf
    The same, as a dry run.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    [OutputType([pscustomobject])]
    param()

    # Validation, before anything is created. Paths are resolved against the PowerShell location.
    $paths = $PSCmdlet.SessionState.Path
    $sourceFull = $paths.GetUnresolvedProviderPathFromPSPath($Source).TrimEnd('\')
    $destinationFull = $paths.GetUnresolvedProviderPathFromPSPath($Destination).TrimEnd('\')
    $logFull = $paths.GetUnresolvedProviderPathFromPSPath($LogFolder).TrimEnd('\')
    $problems = [System.Collections.Generic.List[string]]::new()
    if (-not (Test-Path -LiteralPath $sourceFull -PathType Container)) { $problems.Add("Source: $sourceFull is not a folder") }
    if ($destinationFull -eq $sourceFull -or $destinationFull.StartsWith("$sourceFull\", [System.StringComparison]::OrdinalIgnoreCase)) {
        $problems.Add("Destination: $destinationFull is inside the source $sourceFull")
    }
    if (-not (Test-TssrBackupPrivilege)) { $problems.Add('the backup and restore rights are missing: run elevated, as an administrator or a Backup Operator') }
    if ($UseShadowCopy -and $sourceFull.StartsWith('\\')) { $problems.Add("UseShadowCopy: $sourceFull is on a network share: no shadow copy there") }
    if ($problems.Count -gt 0) {
        foreach ($p in $problems) { Write-Error -Message $p -ErrorAction Continue }
        $script:exitCode = 2
        return
    }
    $stamp = [datetime]::Now.ToString('yyyyMMdd-HHmmss')
    $target = if ($Mode -eq 'Mirror') { Join-Path -Path $destinationFull -ChildPath 'mirror' } else { Join-Path -Path $destinationFull -ChildPath $stamp }
    $logFile = Join-Path -Path $logFull -ChildPath ('backup-{0}.log' -f $stamp)
    # /COPY:DATSO /DCOPY:DAT: data, attributes, times, ACLs, owner, auditing; /B backup mode; /XJ no junctions.
    $options = @('/COPY:DATSO', '/DCOPY:DAT', '/B', '/XJ', "/R:$Retry", '/W:5', '/NP', '/NDL', "/LOG+:$logFile")
    if ($Mode -eq 'Mirror') { $options += '/MIR' } else { $options += '/E' }

    $result = [pscustomobject]@{
        Source = $sourceFull; Target = $target; Mode = $Mode; Code = $null; Success = $false
        Meaning = 'not run (-WhatIf)'; LogFile = $logFile; Removed = @(); RemovedLogs = @()
    }
    if ($PSCmdlet.ShouldProcess($target, "robocopy $sourceFull $target $($options -join ' ')")) {
        foreach ($folder in @($logFull, $destinationFull)) {
            if (-not (Test-Path -LiteralPath $folder)) { New-Item -Path $folder -ItemType Directory -ErrorAction Stop | Out-Null }
        }
        $shadow = $null
        try {
            $from = $sourceFull
            if ($UseShadowCopy) {
                $shadow = New-TssrShadowCopy -Folder $sourceFull
                $from = $shadow.Path
            }
            Write-Verbose -Message "robocopy $from $target $($options -join ' ')"
            $code = Invoke-TssrRobocopy -ArgumentList (@($from, $target) + $options)
        }
        finally {
            if ($null -ne $shadow) { Remove-TssrShadowCopy -Shadow $shadow }
        }
        $verdict = ConvertFrom-TssrRobocopyExitCode -Code $code
        $result.Code = $verdict.Code
        $result.Success = $verdict.Success
        $result.Meaning = $verdict.Meaning
        Write-Verbose -Message "robocopy exit code $code`: $($verdict.Meaning)"
        if (-not $verdict.Success -and $Mode -eq 'Versioned' -and (Test-Path -LiteralPath $target)) {
            Rename-Item -LiteralPath $target -NewName "$stamp-incomplete" -ErrorAction Stop
            $result.Target = "$target-incomplete"
        }
    }

    # Retention: after a successful versioned copy (or in the preview), the same list either way.
    if ($Mode -eq 'Versioned' -and ($result.Success -or $WhatIfPreference) -and (Test-Path -LiteralPath $destinationFull)) {
        $names = @(Get-ChildItem -LiteralPath $destinationFull -Directory -ErrorAction Stop | ForEach-Object -Process { $_.Name })
        $removed = [System.Collections.Generic.List[string]]::new()
        foreach ($name in @(Get-TssrRetentionPlan -Names $names -NewName $stamp -Keep $Keep)) {
            $old = Join-Path -Path $destinationFull -ChildPath $name
            if ($PSCmdlet.ShouldProcess($old, 'Delete the old copy (retention)')) {
                Remove-Item -LiteralPath $old -Recurse -Force -ErrorAction Stop
            }
            $removed.Add($old)
            Write-Verbose -Message "retention: $name removed"
        }
        $result.Removed = $removed.ToArray()
    }
    # Old logs: the same rule for -WhatIf and the real run.
    if (Test-Path -LiteralPath $logFull) {
        $limit = [datetime]::Now.AddDays(-$LogRetentionDays)
        $oldLogs = @(Get-ChildItem -LiteralPath $logFull -File -Filter 'backup-*.log' -ErrorAction Stop | Where-Object -FilterScript { $_.LastWriteTime -lt $limit })
        foreach ($log in $oldLogs) {
            if ($PSCmdlet.ShouldProcess($log.FullName, 'Delete the old log')) { Remove-Item -LiteralPath $log.FullName -Force -ErrorAction Stop }
        }
        $result.RemovedLogs = @($oldLogs | ForEach-Object -Process { $_.FullName })
    }

    if ($null -ne $result.Code) {
        $text = "tssr-kit backup $Mode of $sourceFull to $($result.Target): robocopy $($result.Code) ($($result.Meaning)); log $logFile"
        if ($result.Success) { Write-TssrEvent -Message $text -EntryType Information -EventId 1000 }
        else { Write-TssrEvent -Message $text -EntryType Error -EventId 1001 }
        if (-not $result.Success) { $script:exitCode = 1 }
    }
    $result
}

$script:exitCode = 0
try {
    Invoke-TssrBackup
}
catch {
    Write-Error -Message "Backup-TssrFolder: $($_.Exception.Message)" -ErrorAction Continue
    Write-TssrEvent -Message "tssr-kit backup of $Source failed: $($_.Exception.Message)" -EntryType Error -EventId 1001
    $script:exitCode = 1
}
exit $script:exitCode
