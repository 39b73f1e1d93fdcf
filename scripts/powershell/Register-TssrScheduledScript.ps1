<#
.SYNOPSIS
Schedules a PowerShell script as a Windows scheduled task (daily, weekly, at startup or once); re-running
with the same settings changes nothing.

.DESCRIPTION
Registers (or updates) the task TASKPATH\TASKNAME that runs
  powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "SCRIPT" ARGUMENTS
(pwsh.exe with -Shell pwsh) under SYSTEM, or under the account of -Credential.

Idempotent: the task's description carries a fingerprint (SHA-256) of everything this script sets
(script, arguments, shell, trigger, account). If a task of that name has the same fingerprint, nothing
is done (Action Unchanged); otherwise the task is registered again with -Force (Action Updated), or
created (Action Created). A task of that name that tssr-kit did not create is refused unless -Force.
The fingerprint cannot see a password change: give -Force to store a new password.

.PARAMETER ScriptPath
The .ps1 to run (absolute path; it must exist).

.PARAMETER TaskName
The task's name: letters, digits, space, . _ - (1 to 64).

.PARAMETER TaskPath
The Task Scheduler folder (default \tssr-kit\).

.PARAMETER Trigger
Daily, Weekly, AtStartup or Once.

.PARAMETER At
The time of day (Daily, Weekly) or the moment (Once), e.g. '02:30' or '2026-12-01 02:30'. Default 02:30.

.PARAMETER DaysOfWeek
Weekly: the days, e.g. Monday, Thursday. Default Sunday.

.PARAMETER ArgumentList
Arguments passed to the script, one per element (each is quoted in the command line).

.PARAMETER Shell
powershell (Windows PowerShell 5.1, default) or pwsh (PowerShell 7).

.PARAMETER Credential
Run as this account (its password is stored by Task Scheduler). Default: SYSTEM, no password.

.PARAMETER Force
Take over a task of that name not made by tssr-kit, or re-register even when nothing changed.

.EXAMPLE
.\Register-TssrScheduledScript.ps1 -ScriptPath C:\tssr-kit\Backup-TssrFolder.ps1 -TaskName 'Backup compta' -Trigger Daily -At 02:30 -ArgumentList '-Source', 'D:\Shares\Compta', '-Destination', 'E:\Backup\compta', '-Mode', 'Versioned'
A daily versioned backup at 02:30 under SYSTEM.

.EXAMPLE
.\Register-TssrScheduledScript.ps1 -ScriptPath C:\tssr-kit\Get-TssrServerHealth.ps1 -TaskName 'Health report' -Trigger Weekly -DaysOfWeek Monday -At 07:00 -Credential (Get-Credential) -WhatIf
Says what it would register, weekly on Mondays under the given account; registers nothing.

.OUTPUTS
PSCustomObject: TaskName, TaskPath, Action (Created, Updated, Unchanged), Fingerprint.

.NOTES
Exit codes: 0 success; 1 registration failed; 2 usage or validation error (nothing done).
What it changes: one scheduled task under TaskPath. Part of tssr-kit (scripts/powershell).
#>
[CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
[OutputType([pscustomobject])]
param(
    [Parameter(Mandatory)]
    [ValidateScript({ [System.IO.Path]::IsPathRooted($_) -and $_ -like '*.ps1' -and (Test-Path -LiteralPath $_ -PathType Leaf) })]
    [string]$ScriptPath,

    [Parameter(Mandatory)]
    [ValidatePattern('^[A-Za-z0-9 ._-]{1,64}$')]
    [string]$TaskName,

    [ValidatePattern('^\\([A-Za-z0-9 ._-]+\\)*$')]
    [string]$TaskPath = '\tssr-kit\',

    [Parameter(Mandatory)]
    [ValidateSet('Daily', 'Weekly', 'AtStartup', 'Once')]
    [string]$Trigger,

    [datetime]$At = '02:30',

    [ValidateSet('Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday')]
    [string[]]$DaysOfWeek = @('Sunday'),

    [ValidateNotNull()]
    [string[]]$ArgumentList = @(),

    [ValidateSet('powershell', 'pwsh')]
    [string]$Shell = 'powershell',

    [System.Management.Automation.PSCredential]
    [System.Management.Automation.Credential()]
    $Credential = [System.Management.Automation.PSCredential]::Empty,

    [switch]$Force
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'
$marker = 'tssr-kit fingerprint:'

function Get-TssrFingerprint {
    <#
    .SYNOPSIS
    SHA-256 (hex) of a text: the fingerprint of a task definition.
    .DESCRIPTION
    UTF-8 bytes of the text, hashed.
    .PARAMETER Text
    The canonical description of the task.
    .EXAMPLE
    Get-TssrFingerprint -Text 'a|b|c'
    64 hexadecimal characters.
    .EXAMPLE
    (Get-TssrFingerprint -Text 'x') -eq (Get-TssrFingerprint -Text 'x')
    $true: the same definition gives the same fingerprint.
    .OUTPUTS
    System.String
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)][string]$Text)
    $sha = [System.Security.Cryptography.SHA256]::Create()
    try { -join ($sha.ComputeHash([System.Text.Encoding]::UTF8.GetBytes($Text)) | ForEach-Object -Process { $_.ToString('x2') }) }
    finally { $sha.Dispose() }
}

function Register-TssrTask {
    <#
    .SYNOPSIS
    The whole run: outputs the result object and sets $script:exitCode.
    .DESCRIPTION
    Builds action, trigger and principal, compares the fingerprint, registers when needed.
    .EXAMPLE
    Register-TssrTask
    Runs with the script's parameters.
    .EXAMPLE
    Register-TssrTask -WhatIf
    The same, as a dry run.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    [OutputType([pscustomobject])]
    param()

    $quoted = @($ArgumentList | ForEach-Object -Process { '"{0}"' -f ($_ -replace '"', '\"') })
    $exe = if ($Shell -eq 'pwsh') { 'pwsh.exe' } else { 'powershell.exe' }
    $arguments = (@('-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-File', ('"{0}"' -f $ScriptPath)) + $quoted) -join ' '
    $account = if ($Credential -ne [System.Management.Automation.PSCredential]::Empty) { $Credential.UserName } else { 'SYSTEM' }
    $when = switch ($Trigger) {
        'Daily' { $At.ToString('HH:mm') }
        'Weekly' { '{0} {1}' -f ($DaysOfWeek -join ','), $At.ToString('HH:mm') }
        'Once' { $At.ToString('yyyy-MM-ddTHH:mm') }
        default { '' }
    }
    $fingerprint = Get-TssrFingerprint -Text (@($exe, $arguments, $Trigger, $when, $account) -join '|')
    $description = "Runs $ScriptPath ($Trigger $when). $marker $fingerprint"

    $existing = Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -ErrorAction SilentlyContinue
    $action = 'Created'
    if ($null -ne $existing) {
        $current = [string]$existing.Description
        if (-not $current.Contains($marker) -and -not $Force) {
            Write-Error -Message "TaskName: a task '$TaskPath$TaskName' exists that tssr-kit did not create (use -Force to take it over)" -ErrorAction Continue
            $script:exitCode = 2
            return
        }
        if ($current.EndsWith("$marker $fingerprint") -and -not $Force) {
            Write-Verbose -Message "$TaskPath$TaskName is up to date"
            return [pscustomobject]@{ TaskName = $TaskName; TaskPath = $TaskPath; Action = 'Unchanged'; Fingerprint = $fingerprint }
        }
        $action = 'Updated'
    }

    $taskAction = New-ScheduledTaskAction -Execute $exe -Argument $arguments -WorkingDirectory (Split-Path -Path $ScriptPath -Parent)
    $taskTrigger = switch ($Trigger) {
        'Daily' { New-ScheduledTaskTrigger -Daily -At $At }
        'Weekly' { New-ScheduledTaskTrigger -Weekly -DaysOfWeek $DaysOfWeek -At $At }
        'AtStartup' { New-ScheduledTaskTrigger -AtStartup }
        'Once' { New-ScheduledTaskTrigger -Once -At $At }
    }
    $settings = New-ScheduledTaskSettingsSet -StartWhenAvailable -ExecutionTimeLimit (New-TimeSpan -Hours 12) -MultipleInstances IgnoreNew
    $register = @{
        TaskName    = $TaskName
        TaskPath    = $TaskPath
        Action      = $taskAction
        Trigger     = $taskTrigger
        Settings    = $settings
        Description = $description
        Force       = $true
    }
    if ($account -eq 'SYSTEM') {
        $register['Principal'] = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
    }
    else {
        $register['User'] = $Credential.UserName
        $register['Password'] = $Credential.GetNetworkCredential().Password  # the cmdlet takes only a string
        $register['RunLevel'] = 'Highest'
    }
    if ($PSCmdlet.ShouldProcess("$TaskPath$TaskName", "$action scheduled task: $exe $arguments ($Trigger $when, as $account)")) {
        Register-ScheduledTask @register -ErrorAction Stop | Out-Null
        Write-Verbose -Message "$TaskPath$TaskName $($action.ToLowerInvariant())"
    }
    [pscustomobject]@{ TaskName = $TaskName; TaskPath = $TaskPath; Action = $action; Fingerprint = $fingerprint }
}

$script:exitCode = 0
try {
    Register-TssrTask
}
catch {
    Write-Error -Message "Register-TssrScheduledScript: $($_.Exception.Message)" -ErrorAction Continue
    $script:exitCode = 1
}
exit $script:exitCode
