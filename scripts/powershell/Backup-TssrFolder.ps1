<#
.SYNOPSIS
Backs up a folder with robocopy: a mirror, or dated copies with retention; exit codes read correctly.

.DESCRIPTION
Mirror mode keeps DESTINATION\mirror identical to the source (robocopy /MIR: files deleted from the
source are deleted from the mirror). Versioned mode copies the source into a new folder
DESTINATION\yyyyMMdd-HHmmss, then deletes the oldest dated folders beyond -Keep (only folders whose name
is such a date are ever deleted).

Robocopy's exit code is a bit field, not an error code: 0 nothing to copy, 1 files copied, 2 extra
files at the destination, 4 mismatched files, combinations up to 7 are success; 8 (some files could not
be copied, after retries) and 16 (fatal: no access, bad path) are failures. This script turns it into
an object (Code, Success, Meaning) and fails only for 8 and above.

Each run writes robocopy's log to -LogFolder and one entry in the Application event log (source
tssr-kit; Information on success, Error on failure, event id 1000 / 1001). A failed versioned copy is
kept (named ...-incomplete) and never counts toward retention.

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
PSCustomObject: Source, Target, Mode, Code, Success, Meaning, LogFile, Removed (deleted dated folders).

.NOTES
Exit codes: 0 success (robocopy 0-7); 1 failure (robocopy 8 or more, or another runtime error);
2 usage or validation error (nothing done).
What it changes: the destination folder, the log folder, the Application event log (and, on first run,
registers the event source tssr-kit, which needs an administrator).
Schedule it with Register-TssrScheduledScript.ps1. Part of tssr-kit (scripts/powershell).
#>
[CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
[OutputType([pscustomobject])]
param(
    [Parameter(Mandatory)]
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Container })]
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
    [int]$Retry = 2
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

    # Validation, before anything is created.
    $sourceFull = (Resolve-Path -LiteralPath $Source).ProviderPath.TrimEnd('\')
    $destinationFull = [System.IO.Path]::GetFullPath($Destination).TrimEnd('\')
    if ($destinationFull -eq $sourceFull -or $destinationFull.StartsWith("$sourceFull\", [System.StringComparison]::OrdinalIgnoreCase)) {
        Write-Error -Message "Destination: $destinationFull is inside the source $sourceFull" -ErrorAction Continue
        $script:exitCode = 2
        return
    }
    $stamp = [datetime]::Now.ToString('yyyyMMdd-HHmmss')
    $target = if ($Mode -eq 'Mirror') { Join-Path -Path $destinationFull -ChildPath 'mirror' } else { Join-Path -Path $destinationFull -ChildPath $stamp }
    $logFile = Join-Path -Path $LogFolder -ChildPath ('backup-{0}.log' -f $stamp)
    $copyArgs = @($sourceFull, $target, '/COPY:DAT', '/DCOPY:T', "/R:$Retry", '/W:5', '/NP', '/NDL', "/LOG+:$logFile")
    if ($Mode -eq 'Mirror') { $copyArgs += '/MIR' } else { $copyArgs += '/E' }

    $result = [pscustomobject]@{
        Source = $sourceFull; Target = $target; Mode = $Mode; Code = $null; Success = $false
        Meaning = 'not run (-WhatIf)'; LogFile = $logFile; Removed = @()
    }
    if ($PSCmdlet.ShouldProcess($target, "robocopy $($copyArgs -join ' ')")) {
        foreach ($folder in @($LogFolder, $destinationFull)) {
            if (-not (Test-Path -LiteralPath $folder)) { New-Item -Path $folder -ItemType Directory -ErrorAction Stop | Out-Null }
        }
        Write-Verbose -Message "robocopy $($copyArgs -join ' ')"
        $code = Invoke-TssrRobocopy -ArgumentList $copyArgs
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

    # Retention: only after a successful versioned copy, only folders named like a date.
    if ($Mode -eq 'Versioned' -and ($result.Success -or $WhatIfPreference) -and (Test-Path -LiteralPath $destinationFull)) {
        $versions = @(Get-ChildItem -LiteralPath $destinationFull -Directory -ErrorAction Stop |
                Where-Object -FilterScript { $_.Name -match $versionPattern } |
                Sort-Object -Property Name -Descending)
        $removed = [System.Collections.Generic.List[string]]::new()
        foreach ($old in @($versions | Select-Object -Skip $Keep)) {
            if ($PSCmdlet.ShouldProcess($old.FullName, 'Delete the old copy (retention)')) {
                Remove-Item -LiteralPath $old.FullName -Recurse -Force -ErrorAction Stop
            }
            $removed.Add($old.FullName)
            Write-Verbose -Message "retention: $($old.Name) removed"
        }
        $result.Removed = $removed.ToArray()
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
