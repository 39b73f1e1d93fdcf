<#
.SYNOPSIS
Reports a Windows server's health: disks, automatic services that are stopped, recent error events,
pending reboot; as an object and, on request, an HTML page.

.DESCRIPTION
Read-only, except the HTML file written with -HtmlPath (behind -WhatIf/-Confirm). Status is Warning
when anything below is found (after the exclusions), OK otherwise: a Warning means something to look at.
- Volumes: every local fixed volume (Win32_Volume, DriveType 3) that has a drive letter or is mounted
  in a folder (a mount point such as D:\Mounts\Data\ is reported under that path), with size, free
  space and free percent; below -MinFreePercent it is a warning. Volumes with no path (the system
  reserved and recovery partitions) are left out.
- Services: start mode Automatic but not running (Win32_Service), except those that stop by design:
  services started on a trigger (a TriggerInfo key: they start when needed and stop when idle), and
  the names in the default list (sppsvc, gupdate, edgeupdate, MapsBroker, RemoteRegistry, ...) plus
  -ExcludeService (wildcards allowed).
- Events: Critical and Error entries of the System and Application logs of the last -Hours hours
  (at most -MaxEvents), except known noise: the default list (DCOM 10016, Schannel TLS alerts
  36874/36887/36888, Perflib 1008/1023, Software Protection 8198) plus -ExcludeEvent.
- Pending reboot, from every usual source: Component Based Servicing (RebootPending,
  RebootInProgress, PackagesPending), Windows Update (RebootRequired, Services\Pending),
  PendingFileRenameOperations (and ...2), UpdateExeVolatile, a pending computer rename, a pending
  domain join (Netlogon JoinDomain / AvoidSpnSet), Server Manager's CurrentRebootAttempts, and the
  Configuration Manager client when it is installed.
-NoDefaultExclusion drops the default lists (only -ExcludeService and -ExcludeEvent apply).

.PARAMETER ComputerName
The server to query (default: this one). Remote queries use CIM (WinRM) and the remote event log.

.PARAMETER MinFreePercent
A disk with less free space than this is a warning (default 15).

.PARAMETER Hours
How far back to look for error events (default 24).

.PARAMETER MaxEvents
At most this many events listed (default 50).

.PARAMETER ExcludeService
More service names (wildcards allowed) never reported as stopped, added to the default list.

.PARAMETER ExcludeEvent
More events never reported, added to the default list: 'Provider:Id' or 'Provider:*'
(e.g. 'Microsoft-Windows-DistributedCOM:10016').

.PARAMETER NoDefaultExclusion
Use only -ExcludeService and -ExcludeEvent, not the default lists.

.PARAMETER HtmlPath
Also write the report as an HTML page to this file (a relative path is resolved against the current
PowerShell location; its folder must exist).

.EXAMPLE
.\Get-TssrServerHealth.ps1 | Format-List
The health of this server as one object.

.EXAMPLE
.\Get-TssrServerHealth.ps1 -ComputerName srv-files01 -Hours 72 -HtmlPath C:\Reports\srv-files01.html
Three days of errors on srv-files01, and an HTML page of it.

.EXAMPLE
(.\Get-TssrServerHealth.ps1).Disks | Where-Object -Property Warning
Only the volumes (drive letters and mount points) that are short of space.

.EXAMPLE
.\Get-TssrServerHealth.ps1 -ExcludeService 'Veeam*' -ExcludeEvent 'MSSQLSERVER:17806'
The default exclusions plus those of this server's own software.

.OUTPUTS
PSCustomObject: ComputerName, Time, Status (OK or Warning), Disks (volumes: Path, Label, SizeGB, FreeGB,
FreePercent, Warning), StoppedServices, RecentErrors, PendingReboot, PendingRebootReasons.

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

    [ValidateNotNull()]
    [string[]]$ExcludeService = @(),

    [ValidatePattern('^[^:]+:(\*|\d{1,5})$')]
    [string[]]$ExcludeEvent = @(),

    [switch]$NoDefaultExclusion,

    [ValidateNotNullOrEmpty()]
    [string]$HtmlPath
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'
$bytesPerGiB = 1GB
# Automatic services that stop by design once their work is done (on top of the trigger-start ones).
$defaultExcludeService = @('sppsvc', 'gupdate', 'gupdatem', 'edgeupdate', 'edgeupdatem', 'MapsBroker', 'RemoteRegistry',
    'TrustedInstaller', 'CDPSvc', 'WbioSrvc', 'tiledatamodelsvc', 'ShellHWDetection', 'clr_optimization_*', 'GoogleUpdater*',
    'MozillaMaintenance', 'BITS', 'wuauserv', 'UsoSvc', 'dmwappushservice', 'sedsvc', 'WaaSMedicSvc')
# Error events that are known noise on a healthy server (Provider:Id).
$defaultExcludeEvent = @(
    'Microsoft-Windows-DistributedCOM:10016'   # a component without launch permission: documented as harmless
    'Schannel:36874', 'Schannel:36887', 'Schannel:36888'   # TLS alerts sent by or to clients
    'Microsoft-Windows-Perflib:1008', 'Microsoft-Windows-Perflib:1023'   # a performance counter DLL that does not load
    'Microsoft-Windows-Security-SPP:8198'      # activation could not reach the licensing server (offline)
)

function Get-TssrPendingReboot {
    <#
    .SYNOPSIS
    The reasons a reboot is pending on this machine (none: empty list), from every usual source.
    .DESCRIPTION
    Registry places of Windows servicing, Windows Update, file renames, computer rename, domain join
    and Server Manager, plus the Configuration Manager client when installed. Local machine only
    (remote: through Invoke-Command, which runs this same function there).
    .EXAMPLE
    Get-TssrPendingReboot
    Returns e.g. 'Windows Update' when updates wait for a restart.
    .EXAMPLE
    @(Get-TssrPendingReboot).Count -gt 0
    $true when a reboot is pending.
    .OUTPUTS
    System.String
    #>
    [Diagnostics.CodeAnalysis.SuppressMessageAttribute('unguarded-change', '',
        Justification = 'CCM_ClientUtilities.DetermineIfRebootPending only reads the client state')]
    [CmdletBinding()]
    [OutputType([string])]
    param()
    $cbs = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing'
    $wu = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate'
    $session = 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager'
    if (Test-Path -LiteralPath "$cbs\RebootPending") { 'Component Based Servicing' }
    if (Test-Path -LiteralPath "$cbs\RebootInProgress") { 'Component Based Servicing (reboot in progress)' }
    if (Test-Path -LiteralPath "$cbs\PackagesPending") { 'Component Based Servicing (packages pending)' }
    if (Test-Path -LiteralPath "$wu\Auto Update\RebootRequired") { 'Windows Update' }
    if (@(Get-ChildItem -LiteralPath "$wu\Services\Pending" -ErrorAction SilentlyContinue).Count -gt 0) { 'Windows Update (services pending)' }
    foreach ($name in @('PendingFileRenameOperations', 'PendingFileRenameOperations2')) {
        $value = Get-ItemProperty -LiteralPath $session -Name $name -ErrorAction SilentlyContinue
        if ($null -ne $value -and @($value.$name | Where-Object -FilterScript { $_ }).Count -gt 0) { 'Pending file rename operations' }
    }
    $volatile = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Updates' -Name 'UpdateExeVolatile' -ErrorAction SilentlyContinue
    if ($null -ne $volatile -and [int]$volatile.UpdateExeVolatile -ne 0) { 'Update executable (UpdateExeVolatile)' }
    $active = (Get-ItemProperty -LiteralPath 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName\ActiveComputerName' -ErrorAction SilentlyContinue)
    $pending = (Get-ItemProperty -LiteralPath 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName\ComputerName' -ErrorAction SilentlyContinue)
    if ($null -ne $active -and $null -ne $pending -and $active.ComputerName -ne $pending.ComputerName) { 'Computer rename' }
    foreach ($name in @('JoinDomain', 'AvoidSpnSet')) {
        if (Test-Path -LiteralPath "HKLM:\SYSTEM\CurrentControlSet\Services\Netlogon\$name") { 'Domain join' }
    }
    if (Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\ServerManager\CurrentRebootAttempts') { 'Server Manager (role or feature)' }
    try {
        $ccm = Invoke-CimMethod -Namespace 'ROOT\ccm\ClientSDK' -ClassName 'CCM_ClientUtilities' -MethodName 'DetermineIfRebootPending' -ErrorAction Stop
        if ($ccm.RebootPending -or $ccm.IsHardRebootPending) { 'Configuration Manager client' }
    }
    catch {
        Write-Verbose -Message "no Configuration Manager client: $($_.Exception.Message)"
    }
}

function Get-TssrTriggerStartService {
    <#
    .SYNOPSIS
    The names of the services that start on a trigger (they stop by design when idle).
    .DESCRIPTION
    A service with a TriggerInfo key under its registry key. Local machine only (remote: Invoke-Command).
    .EXAMPLE
    Get-TssrTriggerStartService
    Returns e.g. W32Time, WinHttpAutoProxySvc, ...
    .EXAMPLE
    (Get-TssrTriggerStartService) -contains 'W32Time'
    $true on a member server.
    .OUTPUTS
    System.String
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param()
    Get-ChildItem -LiteralPath 'HKLM:\SYSTEM\CurrentControlSet\Services' -ErrorAction Stop |
        Where-Object -FilterScript { Test-Path -LiteralPath (Join-Path -Path $_.PSPath -ChildPath 'TriggerInfo') } |
        ForEach-Object -Process { $_.PSChildName }
}

function Test-TssrExcludedEvent {
    <#
    .SYNOPSIS
    Whether an event is known noise: its Provider:Id or Provider:* is in the exclusion list.
    .DESCRIPTION
    Provider names compare without regard to case.
    .PARAMETER Provider
    The event's provider name.
    .PARAMETER Id
    The event id.
    .PARAMETER Exclusion
    The list (Provider:Id or Provider:*).
    .EXAMPLE
    Test-TssrExcludedEvent -Provider 'Microsoft-Windows-DistributedCOM' -Id 10016 -Exclusion 'Microsoft-Windows-DistributedCOM:10016'
    $true.
    .EXAMPLE
    Test-TssrExcludedEvent -Provider 'Disk' -Id 7 -Exclusion 'Schannel:*'
    $false.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param([string]$Provider, [int]$Id, [string[]]$Exclusion)
    foreach ($entry in $Exclusion) {
        $name, $number = $entry -split ':', 2
        if ($name -eq $Provider -and ($number -eq '*' -or $number -eq [string]$Id)) { return $true }
    }
    $false
}

function Get-TssrHealth {
    <#
    .SYNOPSIS
    Collects the report object.
    .DESCRIPTION
    Queries volumes, services, events and pending reboot; applies the exclusions.
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
    $excludeService = @($ExcludeService)
    $excludeEvent = @($ExcludeEvent)
    if (-not $NoDefaultExclusion) { $excludeService += $defaultExcludeService; $excludeEvent += $defaultExcludeEvent }

    # Volumes with a drive letter or mounted in a folder; the ones with no path (\\?\Volume{...}) are left out.
    $disks = @(Get-CimInstance @cim -ClassName Win32_Volume -Filter 'DriveType = 3' |
            Where-Object -FilterScript { $_.Name -and -not ([string]$_.Name).StartsWith('\\?\') } |
            ForEach-Object -Process {
                $freePercent = if ($_.Capacity -gt 0) { [math]::Round(100 * $_.FreeSpace / $_.Capacity, 1) } else { 0 }
                [pscustomobject]@{
                    Drive       = ([string]$_.Name).TrimEnd('\')
                    Path        = [string]$_.Name
                    Label       = [string]$_.Label
                    SizeGB      = [math]::Round($_.Capacity / $bytesPerGiB, 1)
                    FreeGB      = [math]::Round($_.FreeSpace / $bytesPerGiB, 1)
                    FreePercent = $freePercent
                    Warning     = $freePercent -lt $MinFreePercent
                }
            })
    $triggered = if ($local) { @(Get-TssrTriggerStartService) }
    else { @(Invoke-Command -ComputerName $ComputerName -ScriptBlock ${function:Get-TssrTriggerStartService} -ErrorAction Stop) }
    $stopped = @(Get-CimInstance @cim -ClassName Win32_Service -Filter "StartMode = 'Auto' AND State <> 'Running'" |
            Where-Object -FilterScript {
                $name = $_.Name
                $triggered -notcontains $name -and @($excludeService | Where-Object -FilterScript { $name -like $_ }).Count -eq 0
            } |
            ForEach-Object -Process { [pscustomobject]@{ Name = $_.Name; DisplayName = $_.DisplayName; State = $_.State; ExitCode = $_.ExitCode } })

    $filter = @{ LogName = @('System', 'Application'); Level = @(1, 2); StartTime = (Get-Date).AddHours(-$Hours) }
    $eventArgs = @{ FilterHashtable = $filter; MaxEvents = $MaxEvents }
    if (-not $local) { $eventArgs['ComputerName'] = $ComputerName }
    $events = @()
    try {
        $events = @(Get-WinEvent @eventArgs -ErrorAction Stop |
                Where-Object -FilterScript { -not (Test-TssrExcludedEvent -Provider $_.ProviderName -Id $_.Id -Exclusion $excludeEvent) } |
                ForEach-Object -Process {
                    [pscustomobject]@{ Time = $_.TimeCreated; Log = $_.LogName; Source = $_.ProviderName; Id = $_.Id; Level = $_.LevelDisplayName; Message = (([string]$_.Message) -split "`r?`n")[0] }
                })
    }
    catch {
        # Get-WinEvent reports "no events" as an error; anything else is a real failure.
        if ($_.FullyQualifiedErrorId -notlike 'NoMatchingEventsFound*') { throw }
    }

    $reasons = if ($local) { @(Get-TssrPendingReboot) }
    else { @(Invoke-Command -ComputerName $ComputerName -ScriptBlock ${function:Get-TssrPendingReboot} -ErrorAction Stop) }
    $reasons = @($reasons | Select-Object -Unique)

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
    The HTML file (full path).
    .EXAMPLE
    Export-TssrHealthHtml -Report (Get-TssrHealth) -Path C:\Reports\health.html
    Writes the page.
    .EXAMPLE
    Export-TssrHealthHtml -Report $report -Path C:\Reports\h.html -WhatIf
    Says so, writes nothing.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(Mandatory)][pscustomobject]$Report, [Parameter(Mandatory)][string]$Path)
    $title = "Health of $($Report.ComputerName): $($Report.Status)"
    $body = @(
        "<h1>$([System.Net.WebUtility]::HtmlEncode($title))</h1><p>$($Report.Time.ToString('yyyy-MM-dd HH:mm'))</p>"
        ($Report.Disks | Select-Object -Property Path, Label, SizeGB, FreeGB, FreePercent, Warning | ConvertTo-Html -Fragment -PreContent '<h2>Volumes</h2>' | Out-String)
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
    $htmlFull = $null
    if ($HtmlPath) {
        $htmlFull = $PSCmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($HtmlPath)
        if (-not (Test-Path -LiteralPath (Split-Path -Path $htmlFull -Parent) -PathType Container)) {
            Write-Error -Message "HtmlPath: the folder of $htmlFull does not exist" -ErrorAction Continue
            exit 2
        }
    }
    $report = Get-TssrHealth
    if ($htmlFull) { Export-TssrHealthHtml -Report $report -Path $htmlFull }
    $report
}
catch {
    Write-Error -Message "Get-TssrServerHealth: $($_.Exception.Message)" -ErrorAction Continue
    $script:exitCode = 1
}
exit $script:exitCode
