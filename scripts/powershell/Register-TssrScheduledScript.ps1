<#
.SYNOPSIS
Schedules a PowerShell script as a Windows scheduled task (daily, weekly, at startup or once); re-running
with the same settings changes nothing.

.DESCRIPTION
Registers (or updates) the task TASKPATH\TASKNAME that runs
  powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "SCRIPT" "ARGUMENT" ...
(pwsh.exe with -Shell pwsh) under SYSTEM, or under the account of -Credential.

Arguments are quoted with the Windows command-line rules (those of CommandLineToArgvW, which
powershell.exe and pwsh.exe use): each is put in double quotes, a double quote inside becomes \", and
backslashes before a quote, a trailing backslash included, are doubled, so 'E:\Backup\' reaches the
script as E:\Backup\ and not as E:\Backup" plus whatever follows. A % (Task Scheduler expands
%VARIABLES% in arguments) or a line break in the script path or an argument is refused.

Idempotent and drift-aware: the task as registered is read back and compared, field by field, with
what this script would register (program, arguments, working folder, trigger and time, days, account,
run level, enabled). Equal: nothing is done (Action Unchanged). A task of that name that tssr-kit made
(its description carries "tssr-kit fingerprint:") but that differs, because the settings changed or
because someone edited or disabled it by hand, is registered again (Action Updated) and the fields that
had drifted are listed (Drift) and written as a warning. A task of that name that tssr-kit did not
create is refused unless -Force.

With -Credential, the account must hold "Log on as a batch job" (SeBatchLogonRight) on this machine,
directly or through a local group: without it the task would fail at its first run with "Logon
failure: the user has not been granted the requested logon type". Checked before anything is done
(exit 2); when the right is granted only to domain groups, which this script cannot expand, a warning
says so. The password itself cannot be compared: give -Force to store a new one.

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
Arguments passed to the script, one per element (each is quoted in the command line with the Windows
rules; a trailing backslash is kept).

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
PSCustomObject: TaskName, TaskPath, Action (Created, Updated, Unchanged), Fingerprint, Drift (the fields
found different from the wanted task, empty when none).

.NOTES
Exit codes: 0 success; 1 registration failed; 2 usage or validation error (nothing done), including a
-Credential account without "Log on as a batch job". Run elevated.
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
# Task Scheduler's weekly trigger keeps the days as a bit mask.
$dayBits = [ordered]@{ Sunday = 1; Monday = 2; Tuesday = 4; Wednesday = 8; Thursday = 16; Friday = 32; Saturday = 64 }
$triggerKinds = @{ MSFT_TaskDailyTrigger = 'Daily'; MSFT_TaskWeeklyTrigger = 'Weekly'; MSFT_TaskBootTrigger = 'AtStartup'; MSFT_TaskTimeTrigger = 'Once' }

function ConvertTo-TssrCommandLineArgument {
    <#
    .SYNOPSIS
    Quotes one argument for a Windows command line (the rules of CommandLineToArgvW).
    .DESCRIPTION
    Always in double quotes; a double quote inside becomes \"; n backslashes before a quote (or before
    the closing quote) become 2n backslashes. Everything else is kept as it is.
    .PARAMETER Value
    The argument.
    .EXAMPLE
    ConvertTo-TssrCommandLineArgument -Value 'E:\Backup\'
    Returns "E:\Backup\\" (read back as E:\Backup\).
    .EXAMPLE
    ConvertTo-TssrCommandLineArgument -Value 'say "hi"'
    Returns "say \"hi\"".
    .OUTPUTS
    System.String
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)][AllowEmptyString()][string]$Value)
    $builder = [System.Text.StringBuilder]::new('"')
    $backslashes = 0
    foreach ($ch in $Value.ToCharArray()) {
        if ($ch -eq '\') { $backslashes++; continue }
        if ($ch -eq '"') { [void]$builder.Append('\', 2 * $backslashes + 1) }
        elseif ($backslashes -gt 0) { [void]$builder.Append('\', $backslashes) }
        $backslashes = 0
        [void]$builder.Append($ch)
    }
    [void]$builder.Append('\', 2 * $backslashes)
    [void]$builder.Append('"')
    $builder.ToString()
}

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

function Get-TssrTaskState {
    <#
    .SYNOPSIS
    The fields of a registered task the script compares, as Get-ScheduledTask shows them.
    .DESCRIPTION
    Program, arguments, working folder, trigger kind, time, days, account, run level, enabled: the same
    keys as the wanted state, so that a hand-made change is seen field by field.
    .PARAMETER Task
    The object Get-ScheduledTask returned.
    .EXAMPLE
    Get-TssrTaskState -Task (Get-ScheduledTask -TaskName 'Backup compta' -TaskPath '\tssr-kit\')
    An ordered dictionary: Execute, Arguments, WorkingDirectory, Trigger, At, Days, User, RunLevel, Enabled.
    .EXAMPLE
    (Get-TssrTaskState -Task $task).Enabled
    'False' after Disable-ScheduledTask.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][object]$Task)
    $action = @($Task.Actions)[0]
    $trigger = @($Task.Triggers)[0]
    $kind = ''
    $at = ''
    $days = ''
    if ($null -ne $trigger) {
        $kind = [string]$triggerKinds[[string]$trigger.CimClass.CimClassName]
        if ($trigger.StartBoundary) {
            $start = [datetime]::Parse([string]$trigger.StartBoundary, [System.Globalization.CultureInfo]::InvariantCulture)
            $at = if ($kind -eq 'Once') { $start.ToString('yyyy-MM-ddTHH:mm') } elseif ($kind -eq 'AtStartup') { '' } else { $start.ToString('HH:mm') }
        }
        if ($kind -eq 'Weekly') {
            $days = (@($dayBits.Keys | Where-Object -FilterScript { [int]$trigger.DaysOfWeek -band $dayBits[$_] }) -join ',')
        }
    }
    $enabled = [string]$Task.Settings.Enabled -eq 'True' -and [string]$Task.State -ne 'Disabled'
    [ordered]@{
        Execute          = [string]$action.Execute
        Arguments        = [string]$action.Arguments
        WorkingDirectory = [string]$action.WorkingDirectory
        Trigger          = $kind
        At               = $at
        Days             = $days
        User             = ([string]$Task.Principal.UserId -replace '^NT AUTHORITY\\', '').ToLowerInvariant()
        RunLevel         = [string]$Task.Principal.RunLevel
        Enabled          = [string]$enabled
    }
}

function Test-TssrBatchLogonRight {
    <#
    .SYNOPSIS
    Whether an account holds "Log on as a batch job" here: Granted, Missing or Unknown (with the reason).
    .DESCRIPTION
    Exports the local security policy's user rights (secedit /export /areas USER_RIGHTS) into a file
    readable only by this session, reads SeBatchLogonRight, and looks for the account's SID or a local
    group holding the account (ADSI, one level). Domain groups cannot be expanded here: Unknown.
    .PARAMETER UserName
    DOMAIN\user, .\user or user.
    .EXAMPLE
    Test-TssrBatchLogonRight -UserName 'CORP\svc-backup'
    Status Granted, Reason 'through BUILTIN\Backup Operators'.
    .EXAMPLE
    (Test-TssrBatchLogonRight -UserName 'svc-report').Status
    Missing: grant it in secpol.msc, Local Policies, User Rights Assignment.
    #>
    [Diagnostics.CodeAnalysis.SuppressMessageAttribute('unguarded-change', '',
        Justification = 'secedit /export writes the policy to a private temporary file, deleted at once: it reads only')]
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param([Parameter(Mandatory)][string]$UserName)
    $name = $UserName -replace '^\.\\', "$env:COMPUTERNAME\"
    $sid = ([System.Security.Principal.NTAccount]::new($name)).Translate([System.Security.Principal.SecurityIdentifier]).Value
    $export = Join-Path -Path ([System.IO.Path]::GetTempPath()) -ChildPath ('tssr-kit-rights-{0}.inf' -f [guid]::NewGuid())
    try {
        & secedit.exe /export /areas USER_RIGHTS /cfg $export /quiet | Out-Null
        $line = @(Get-Content -LiteralPath $export -Encoding Unicode | Where-Object -FilterScript { $_ -match '^SeBatchLogonRight\s*=' })
    }
    finally {
        Remove-Item -LiteralPath $export -Force -ErrorAction SilentlyContinue
    }
    $holders = if ($line.Count -gt 0) { @(($line[0] -split '=', 2)[1] -split ',' | ForEach-Object -Process { $_.Trim().TrimStart('*') }) } else { @() }
    $unknown = @()
    foreach ($holder in $holders) {
        $holderSid = if ($holder -like 'S-1-*') { $holder } else { ([System.Security.Principal.NTAccount]::new($holder)).Translate([System.Security.Principal.SecurityIdentifier]).Value }
        if ($holderSid -eq $sid) { return [pscustomobject]@{ Status = 'Granted'; Reason = 'granted to the account itself' } }
        $group = ([System.Security.Principal.SecurityIdentifier]::new($holderSid)).Translate([System.Security.Principal.NTAccount]).Value
        $local = $group -like 'BUILTIN\*' -or $group -like "$env:COMPUTERNAME\*"
        if (-not $local) { $unknown += $group; continue }
        $adsi = [adsi]"WinNT://$env:COMPUTERNAME/$(($group -split '\\')[-1]),group"
        foreach ($member in @($adsi.psbase.Invoke('Members'))) {
            $bytes = [byte[]]$member.GetType().InvokeMember('objectSid', 'GetProperty', $null, $member, $null)
            if ([System.Security.Principal.SecurityIdentifier]::new($bytes, 0).Value -eq $sid) {
                return [pscustomobject]@{ Status = 'Granted'; Reason = "through $group" }
            }
        }
    }
    if ($unknown.Count -gt 0) { return [pscustomobject]@{ Status = 'Unknown'; Reason = "granted to domain groups this script cannot expand: $($unknown -join ', ')" } }
    [pscustomobject]@{ Status = 'Missing'; Reason = "$UserName does not hold SeBatchLogonRight (Log on as a batch job)" }
}

function Register-TssrTask {
    <#
    .SYNOPSIS
    The whole run: outputs the result object and sets $script:exitCode.
    .DESCRIPTION
    Validates, builds the wanted state, compares it with the registered task, registers when needed.
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

    $problems = [System.Collections.Generic.List[string]]::new()
    foreach ($value in @($ScriptPath) + $ArgumentList) {
        if ($value -match '%') { $problems.Add("'$value': Task Scheduler would expand %...% in it: no % in the script path or the arguments") }
        if ($value -match '[\r\n]') { $problems.Add('a line break in the script path or an argument') }
    }
    $account = if ($Credential -ne [System.Management.Automation.PSCredential]::Empty) { $Credential.UserName } else { 'SYSTEM' }
    if ($account -ne 'SYSTEM') {
        $right = Test-TssrBatchLogonRight -UserName $account
        if ($right.Status -eq 'Missing') { $problems.Add("Credential: $($right.Reason): grant it (secpol.msc, User Rights Assignment) or run as SYSTEM") }
        elseif ($right.Status -eq 'Unknown') { Write-Warning -Message "Credential: $($right.Reason)" }
    }
    if ($problems.Count -gt 0) {
        foreach ($p in $problems) { Write-Error -Message $p -ErrorAction Continue }
        $script:exitCode = 2
        return
    }

    $exe = if ($Shell -eq 'pwsh') { 'pwsh.exe' } else { 'powershell.exe' }
    $quoted = @($ArgumentList | ForEach-Object -Process { ConvertTo-TssrCommandLineArgument -Value $_ })
    $arguments = (@('-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-File', (ConvertTo-TssrCommandLineArgument -Value $ScriptPath)) + $quoted) -join ' '
    $workingDirectory = Split-Path -Path $ScriptPath -Parent
    $when = switch ($Trigger) {
        'Daily' { $At.ToString('HH:mm') }
        'Weekly' { $At.ToString('HH:mm') }
        'Once' { $At.ToString('yyyy-MM-ddTHH:mm') }
        default { '' }
    }
    $days = if ($Trigger -eq 'Weekly') { (@($dayBits.Keys | Where-Object -FilterScript { $DaysOfWeek -contains $_ }) -join ',') } else { '' }
    $wanted = [ordered]@{
        Execute = $exe; Arguments = $arguments; WorkingDirectory = $workingDirectory; Trigger = $Trigger; At = $when
        Days = $days; User = ($account -replace '^\.\\', '').ToLowerInvariant(); RunLevel = 'Highest'; Enabled = 'True'
    }
    $fingerprint = Get-TssrFingerprint -Text (@($wanted.Values) -join '|')
    $description = "Runs $ScriptPath ($Trigger $days $when). $marker $fingerprint"

    $existing = Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -ErrorAction SilentlyContinue
    $action = 'Created'
    $drift = @()
    if ($null -ne $existing) {
        $current = [string]$existing.Description
        if (-not $current.Contains($marker) -and -not $Force) {
            Write-Error -Message "TaskName: a task '$TaskPath$TaskName' exists that tssr-kit did not create (use -Force to take it over)" -ErrorAction Continue
            $script:exitCode = 2
            return
        }
        $state = Get-TssrTaskState -Task $existing
        foreach ($key in $wanted.Keys) {
            $have = [string]$state[$key]
            $want = [string]$wanted[$key]
            # An account may read back with or without its DOMAIN\ part: compare the user part.
            if ($key -eq 'User') { $have = ($have -split '\\')[-1]; $want = ($want -split '\\')[-1] }
            if ($have -cne $want) { $drift += "$key ('$have', wanted '$want')" }
        }
        if ($drift.Count -eq 0 -and -not $Force) {
            Write-Verbose -Message "$TaskPath$TaskName is up to date"
            return [pscustomobject]@{ TaskName = $TaskName; TaskPath = $TaskPath; Action = 'Unchanged'; Fingerprint = $fingerprint; Drift = @() }
        }
        if ($current.EndsWith("$marker $fingerprint") -and $drift.Count -gt 0) {
            Write-Warning -Message "$TaskPath$TaskName was changed outside tssr-kit: $($drift -join '; ')"
        }
        $action = 'Updated'
    }

    $taskAction = New-ScheduledTaskAction -Execute $exe -Argument $arguments -WorkingDirectory $workingDirectory
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
    if ($PSCmdlet.ShouldProcess("$TaskPath$TaskName", "$action scheduled task: $exe $arguments ($Trigger $days $when, as $account)")) {
        Register-ScheduledTask @register -ErrorAction Stop | Out-Null
        Write-Verbose -Message "$TaskPath$TaskName $($action.ToLowerInvariant())"
    }
    [pscustomobject]@{ TaskName = $TaskName; TaskPath = $TaskPath; Action = $action; Fingerprint = $fingerprint; Drift = $drift }
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
