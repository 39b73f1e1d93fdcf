# Pester 5 tests of Register-TssrScheduledScript.ps1: no task is registered.
# Run: Invoke-Pester -Path scripts/powershell (Windows PowerShell 5.1 or PowerShell 7, Pester 5.3+).
# On Windows the ScheduledTasks module is present: New-ScheduledTaskAction, -Trigger, -SettingsSet and
# -Principal run for real (they only build objects in memory), Get-ScheduledTask and
# Register-ScheduledTask are mocked, with their CIM-typed parameters relaxed (-RemoveParameterType) so
# the test's objects bind. Where the module is absent, stand-ins are defined first and removed after.

BeforeAll {
    $script:Script = Join-Path -Path $PSScriptRoot -ChildPath 'Register-TssrScheduledScript.ps1'
    $stub = {
        # Register-ScheduledTask itself takes the password as a string: the stand-in has the same signature.
        [Diagnostics.CodeAnalysis.SuppressMessageAttribute('PSAvoidUsingPlainTextForPassword', '', Justification = 'the signature of Register-ScheduledTask')]
        [CmdletBinding()]
        param($TaskName, $TaskPath, $Action, $Trigger, $Settings, $Description, [switch]$Force, $Principal, $User,
            [string]$Password, $RunLevel, $Execute, $Argument, $WorkingDirectory, [switch]$Daily, [switch]$Weekly,
            [switch]$AtStartup, [switch]$Once, $At, $DaysOfWeek, [switch]$StartWhenAvailable, $ExecutionTimeLimit,
            $MultipleInstances, $UserId, $LogonType, $UserName)
    }
    $script:Stubbed = @()
    foreach ($name in @('Get-ScheduledTask', 'Register-ScheduledTask', 'New-ScheduledTaskAction', 'New-ScheduledTaskTrigger',
            'New-ScheduledTaskSettingsSet', 'New-ScheduledTaskPrincipal', 'Test-TssrBatchLogonRight')) {
        if ($name -like '*-Tssr*' -or -not (Get-Command -Name $name -ErrorAction SilentlyContinue)) {
            Set-Item -Path "function:global:$name" -Value $stub
            $script:Stubbed += $name
        }
    }
    $script:Target = Join-Path -Path $TestDrive -ChildPath 'Backup-Job.ps1'
    Set-Content -LiteralPath $Target -Value '# a script to schedule'
    $script:BaseArguments = "-NoProfile -NonInteractive -ExecutionPolicy Bypass -File `"$Target`""
    function New-TestTask {
        param([string]$Arguments = $script:BaseArguments, [string]$Kind = 'MSFT_TaskDailyTrigger', [string]$Start = '2026-01-01T02:30:00',
            [int]$Days = 0, [string]$User = 'SYSTEM', [bool]$Enabled = $true, [string]$Description = 'Runs it. tssr-kit fingerprint: 0000')
        [pscustomobject]@{
            Description = $Description; State = $(if ($Enabled) { 'Ready' } else { 'Disabled' })
            Actions     = @([pscustomobject]@{ Execute = 'powershell.exe'; Arguments = $Arguments; WorkingDirectory = (Split-Path -Path $script:Target -Parent) })
            Triggers    = @([pscustomobject]@{ CimClass = [pscustomobject]@{ CimClassName = $Kind }; StartBoundary = $Start; DaysOfWeek = $Days })
            Principal   = [pscustomobject]@{ UserId = $User; RunLevel = 'Highest' }
            Settings    = [pscustomobject]@{ Enabled = $Enabled }
        }
    }
}

AfterAll {
    foreach ($name in $script:Stubbed) { Remove-Item -Path "function:global:$name" }
}

Describe 'Register-TssrScheduledScript.ps1' {
    BeforeEach {
        $relax = @{ RemoveParameterType = @('Action', 'Trigger', 'Settings', 'Principal', 'InputObject') }
        Mock Get-ScheduledTask { @() }
        Mock Register-ScheduledTask @relax { [pscustomobject]@{ TaskName = $TaskName } }
        Mock Test-TssrBatchLogonRight { [pscustomobject]@{ Status = 'Granted'; Reason = 'test' } }
        if ($script:Stubbed -contains 'New-ScheduledTaskAction') {
            Mock New-ScheduledTaskAction { [pscustomobject]@{ Execute = $Execute; Arguments = $Argument; WorkingDirectory = $WorkingDirectory } }
            Mock New-ScheduledTaskTrigger { [pscustomobject]@{ Kind = 'trigger' } }
            Mock New-ScheduledTaskSettingsSet { [pscustomobject]@{ Kind = 'settings' } }
            Mock New-ScheduledTaskPrincipal { [pscustomobject]@{ UserId = $UserId } }
        }
    }

    It 'registers a daily task under SYSTEM that runs the script with -File' {
        $out = & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger Daily -At '02:30' -ArgumentList '-Mode', 'Versioned'
        $LASTEXITCODE | Should -Be 0
        $out.Action | Should -Be 'Created'
        Should -Invoke Register-ScheduledTask -Times 1 -Exactly -ParameterFilter {
            $TaskPath -eq '\tssr-kit\' -and $Description -like '*tssr-kit fingerprint:*' -and
            @($Action)[0].Execute -eq 'powershell.exe' -and @($Action)[0].Arguments -eq "$BaseArguments `"-Mode`" `"Versioned`"" -and
            [string]@($Principal)[0].UserId -like '*SYSTEM'
        }
    }

    It 'quotes <Case> so that the script receives it unchanged' -ForEach @(
        @{ Case = 'a trailing backslash'; Value = 'E:\Backup\'; Quoted = '"E:\Backup\\"' }
        @{ Case = 'a space'; Value = 'D:\Shares\Compta Paris'; Quoted = '"D:\Shares\Compta Paris"' }
        @{ Case = 'a double quote'; Value = 'say "hi"'; Quoted = '"say \"hi\""' }
        @{ Case = 'backslashes before a quote'; Value = 'a\\"b'; Quoted = '"a\\\\\"b"' }
        @{ Case = 'backslashes inside'; Value = '\\nas\backup\x'; Quoted = '"\\nas\backup\x"' }
        @{ Case = 'an empty argument'; Value = ''; Quoted = '""' }
    ) {
        & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger Daily -ArgumentList '-Destination', $Value | Out-Null
        $LASTEXITCODE | Should -Be 0
        Should -Invoke Register-ScheduledTask -Times 1 -Exactly -ParameterFilter { @($Action)[0].Arguments -ceq "$BaseArguments `"-Destination`" $Quoted" }
    }

    It 'refuses a % or a line break in an argument (exit 2, nothing registered)' -ForEach @(@{ Value = '%TEMP%\x' }, @{ Value = "a`nb" }) {
        & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger Daily -ArgumentList $Value 2>$null
        $LASTEXITCODE | Should -Be 2
        Should -Invoke Register-ScheduledTask -Times 0
    }

    It 'changes nothing when the registered task is the wanted one (a second run)' {
        $first = & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger Daily -At '02:30'
        Mock Get-ScheduledTask { New-TestTask -Description "Runs it. tssr-kit fingerprint: $($first.Fingerprint)" }
        $second = & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger Daily -At '02:30'
        $second.Action | Should -Be 'Unchanged'
        Should -Invoke Register-ScheduledTask -Times 1 -Exactly
    }

    It 'sees a task changed by hand (<Field>) and puts it back' -ForEach @(
        @{ Field = 'Arguments'; Task = @{ Arguments = '-NoProfile -File C:\evil.ps1' } }
        @{ Field = 'Enabled'; Task = @{ Enabled = $false } }
        @{ Field = 'At'; Task = @{ Start = '2026-01-01T04:00:00' } }
        @{ Field = 'User'; Task = @{ User = 'CORP\someone' } }
        @{ Field = 'Trigger'; Task = @{ Kind = 'MSFT_TaskBootTrigger'; Start = '' } }
    ) {
        $task = $Task
        $first = & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger Daily -At '02:30'
        $fingerprint = $first.Fingerprint
        Mock Get-ScheduledTask { New-TestTask @task -Description "Runs it. tssr-kit fingerprint: $fingerprint" }
        $out = & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger Daily -At '02:30' 3>$null
        $out.Action | Should -Be 'Updated'
        ($out.Drift -join ' ') | Should -Match "(^| )$Field \("
        Should -Invoke Register-ScheduledTask -Times 2 -Exactly
    }

    It 're-registers the task when a setting changed' {
        Mock Get-ScheduledTask { New-TestTask }
        $out = & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger Weekly -DaysOfWeek Monday -At '03:00'
        $out.Action | Should -Be 'Updated'
        Should -Invoke Register-ScheduledTask -Times 1 -Exactly -ParameterFilter { $Force }
    }

    It 'refuses to take over a task it did not create (exit 2)' {
        Mock Get-ScheduledTask { New-TestTask -Description 'made by someone else' }
        & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger Daily 2>$null
        $LASTEXITCODE | Should -Be 2
        Should -Invoke Register-ScheduledTask -Times 0
    }

    It 'refuses an account without "Log on as a batch job" (exit 2)' {
        Mock Test-TssrBatchLogonRight { [pscustomobject]@{ Status = 'Missing'; Reason = 'svc does not hold SeBatchLogonRight' } }
        $credential = [pscredential]::new('CORP\svc', (New-Object -TypeName System.Security.SecureString))
        & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger Daily -Credential $credential 2>$null
        $LASTEXITCODE | Should -Be 2
        Should -Invoke Register-ScheduledTask -Times 0
    }

    It 'registers for an account that holds the right, and warns when it cannot tell' -ForEach @(@{ Status = 'Granted' }, @{ Status = 'Unknown' }) {
        $status = $Status
        Mock Test-TssrBatchLogonRight { [pscustomobject]@{ Status = $status; Reason = 'test' } }
        $credential = [pscredential]::new('CORP\svc', (New-Object -TypeName System.Security.SecureString))
        & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger Daily -Credential $credential -WarningVariable warnings 3>$null | Out-Null
        $LASTEXITCODE | Should -Be 0
        Should -Invoke Register-ScheduledTask -Times 1 -Exactly -ParameterFilter { $User -eq 'CORP\svc' }
    }

    It 'registers nothing with -WhatIf' {
        & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger AtStartup -WhatIf | Out-Null
        Should -Invoke Register-ScheduledTask -Times 0
    }
}
