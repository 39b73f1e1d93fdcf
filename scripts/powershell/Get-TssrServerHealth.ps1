<#
.SYNOPSIS
Reports a Windows server's health: disks, automatic services that are stopped, recent error events,
pending reboot; as an object and, on request, an HTML page.

.DESCRIPTION
Read-only, except the HTML file written with -HtmlPath (behind -WhatIf/-Confirm).
- Disks: every local fixed disk (Win32_LogicalDisk, DriveType 3) with size, free space and free percent;
  below -MinFreePercent it is a warning.
- Services: start mode Automatic but not running (Win32_Service), except those in -ExcludeService
  (services that start on demand and stop by design: sppsvc, gupdate, edgeupdate, MapsBroker,
  RemoteRegistry and a few more by default).
- Events: Critical and Error entries of the System and Application logs of the last -Hours hours
  (at most -MaxEvents).
- Pending reboot: the Component Based Servicing and Windows Update RebootRequired keys, and
  PendingFileRenameOperations.
Status is Warning when anything above is found, OK otherwise.

.PARAMETER ComputerName
The server to query (default: this one). Remote queries use CIM (WinRM) and the remote event log.

.PARAMETER MinFreePercent
A disk with less free space than this is a warning (default 15).

.PARAMETER Hours
How far back to look for error events (default 24).

.PARAMETER MaxEvents
At most this many events listed (default 50).

.PARAMETER ExcludeService
Service names never reported as stopped.

.PARAMETER HtmlPath
Also write the report as an HTML page to this file.

.EXAMPLE
.\Get-TssrServerHealth.ps1 | Format-List
The health of this server as one object.

.EXAMPLE
.\Get-TssrServerHealth.ps1 -ComputerName srv-files01 -Hours 72 -HtmlPath C:\Reports\srv-files01.html
Three days of errors on srv-files01, and an HTML page of it.

.EXAMPLE
(.\Get-TssrServerHealth.ps1).Disks | Where-Object -Property Warning
Only the disks that are short of space.

.OUTPUTS
PSCustomObject: ComputerName, Time, Status (OK or Warning), Disks, StoppedServices, RecentErrors,
PendingReboot, PendingRebootReasons.

.NOTES
Exit codes: 0 report made (whatever the status); 1 the server could not be queried or the HTML not
written; 2 usage error.
What it changes: nothing, except the -HtmlPath file. Part of tssr-kit (scripts/powershell).
#>
[CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Low')]
[OutputType([pscustomobject])]
param(
    [ValidatePattern('^[A-Za-z0-9.-]{1,253}$')]
    [string]$ComputerName = $env:COMPUTERNAME,

    [ValidateRange(1, 99)]
    [int]$MinFreePercent = 15,

    [ValidateRange(1, 8760)]
    [int]$Hours = 24,

    [ValidateRange(1, 10000)]
    [int]$MaxEvents = 50,

    [string[]]$ExcludeService = @('sppsvc', 'gupdate', 'edgeupdate', 'MapsBroker', 'RemoteRegistry', 'TrustedInstaller', 'CDPSvc', 'WbioSrvc', 'tiledatamodelsvc', 'ShellHWDetection'),

    [ValidateScript({ Test-Path -LiteralPath (Split-Path -Path ([System.IO.Path]::GetFullPath($_)) -Parent) -PathType Container })]
    [string]$HtmlPath
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'
# `$x / 1GB` is valid PowerShell, but tree-sitter-powershell (the static gate) fails on a division by an
# upper-case multiplier suffix: a named constant reads as well.
$bytesPerGiB = 1024 * 1024 * 1024

function Test-TssrPendingReboot {
    <#
    .SYNOPSIS
    The reasons a reboot is pending on this machine (none: empty list).
    .DESCRIPTION
    Reads three registry places; local machine only (remote: through Invoke-Command).
    .EXAMPLE
    Test-TssrPendingReboot
    Returns e.g. 'Windows Update' when updates wait for a restart.
    .EXAMPLE
    @(Test-TssrPendingReboot).Count -gt 0
    $true when a reboot is pending.
    .OUTPUTS
    System.String
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param()
    if (Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending') { 'Component Based Servicing' }
    if (Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired') { 'Windows Update' }
    $session = Get-ItemProperty -LiteralPath 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' -Name 'PendingFileRenameOperations' -ErrorAction SilentlyContinue
    if ($null -ne $session) { 'Pending file rename operations' }
}

function Get-TssrHealth {
    <#
    .SYNOPSIS
    Collects the report object.
    .DESCRIPTION
    Queries disks, services, events and pending reboot.
    .EXAMPLE
    Get-TssrHealth
    The report for -ComputerName.
    .EXAMPLE
    (Get-TssrHealth).Status
    OK or Warning.
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param()
    $local = $ComputerName -eq $env:COMPUTERNAME -or $ComputerName -eq 'localhost'
    $cim = @{ ErrorAction = 'Stop' }
    if (-not $local) { $cim['ComputerName'] = $ComputerName }

    $disks = @(Get-CimInstance @cim -ClassName Win32_LogicalDisk -Filter 'DriveType = 3' | ForEach-Object -Process {
            $freePercent = if ($_.Size -gt 0) { [math]::Round(100 * $_.FreeSpace / $_.Size, 1) } else { 0 }
            [pscustomobject]@{
                Drive       = $_.DeviceID
                SizeGB      = [math]::Round($_.Size / $bytesPerGiB, 1)
                FreeGB      = [math]::Round($_.FreeSpace / $bytesPerGiB, 1)
                FreePercent = $freePercent
                Warning     = $freePercent -lt $MinFreePercent
            }
        })
    $stopped = @(Get-CimInstance @cim -ClassName Win32_Service -Filter "StartMode = 'Auto' AND State <> 'Running'" |
            Where-Object -FilterScript { $ExcludeService -notcontains $_.Name } |
            ForEach-Object -Process { [pscustomobject]@{ Name = $_.Name; DisplayName = $_.DisplayName; State = $_.State } })

    $filter = @{ LogName = @('System', 'Application'); Level = @(1, 2); StartTime = (Get-Date).AddHours(-$Hours) }
    $eventArgs = @{ FilterHashtable = $filter; MaxEvents = $MaxEvents }
    if (-not $local) { $eventArgs['ComputerName'] = $ComputerName }
    $events = @()
    try {
        $events = @(Get-WinEvent @eventArgs -ErrorAction Stop | ForEach-Object -Process {
                [pscustomobject]@{ Time = $_.TimeCreated; Log = $_.LogName; Source = $_.ProviderName; Id = $_.Id; Level = $_.LevelDisplayName; Message = (([string]$_.Message) -split "`r?`n")[0] }
            })
    }
    catch {
        # Get-WinEvent reports "no events" as an error; anything else is a real failure.
        if ($_.FullyQualifiedErrorId -notlike 'NoMatchingEventsFound*') { throw }
    }

    $reasons = if ($local) { @(Test-TssrPendingReboot) }
    else { @(Invoke-Command -ComputerName $ComputerName -ScriptBlock ${function:Test-TssrPendingReboot} -ErrorAction Stop) }

    $warning = @($disks | Where-Object -Property Warning).Count -gt 0 -or $stopped.Count -gt 0 -or $events.Count -gt 0 -or $reasons.Count -gt 0
    [pscustomobject]@{
        ComputerName         = $ComputerName
        Time                 = Get-Date
        Status               = if ($warning) { 'Warning' } else { 'OK' }
        Disks                = $disks
        StoppedServices      = $stopped
        RecentErrors         = $events
        PendingReboot        = $reasons.Count -gt 0
        PendingRebootReasons = $reasons
    }
}

function Export-TssrHealthHtml {
    <#
    .SYNOPSIS
    Writes the report as one HTML page.
    .DESCRIPTION
    One table per section, ConvertTo-Html fragments (values HTML-encoded by the cmdlet).
    .PARAMETER Report
    The object made by Get-TssrHealth.
    .PARAMETER Path
    The HTML file.
    .EXAMPLE
    Export-TssrHealthHtml -Report (Get-TssrHealth) -Path C:\Reports\health.html
    Writes the page.
    .EXAMPLE
    Export-TssrHealthHtml -Report $report -Path .\h.html -WhatIf
    Says so, writes nothing.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(Mandatory)][pscustomobject]$Report, [Parameter(Mandatory)][string]$Path)
    $title = "Health of $($Report.ComputerName): $($Report.Status)"
    $body = @(
        "<h1>$([System.Net.WebUtility]::HtmlEncode($title))</h1><p>$($Report.Time.ToString('yyyy-MM-dd HH:mm'))</p>"
        ($Report.Disks | ConvertTo-Html -Fragment -PreContent '<h2>Disks</h2>' | Out-String)
        ($Report.StoppedServices | ConvertTo-Html -Fragment -PreContent '<h2>Automatic services not running</h2>' | Out-String)
        ($Report.RecentErrors | ConvertTo-Html -Fragment -PreContent "<h2>Errors of the last $Hours hours</h2>" | Out-String)
        "<h2>Pending reboot</h2><p>$(if ($Report.PendingReboot) { [System.Net.WebUtility]::HtmlEncode($Report.PendingRebootReasons -join ', ') } else { 'no' })</p>"
    ) -join "`n"
    if ($PSCmdlet.ShouldProcess($Path, 'Write the HTML report')) {
        ConvertTo-Html -Title $title -Body $body | Set-Content -LiteralPath $Path -Encoding utf8 -ErrorAction Stop
    }
}

$script:exitCode = 0
try {
    $report = Get-TssrHealth
    if ($HtmlPath) { Export-TssrHealthHtml -Report $report -Path $HtmlPath }
    $report
}
catch {
    Write-Error -Message "Get-TssrServerHealth: $($_.Exception.Message)" -ErrorAction Continue
    $script:exitCode = 1
}
exit $script:exitCode
