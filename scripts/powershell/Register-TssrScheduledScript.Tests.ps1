# Pester 5 tests of Register-TssrScheduledScript.ps1 with the ScheduledTasks cmdlets mocked: no task is
# registered. Run: Invoke-Pester -Path scripts/powershell (Windows PowerShell 5.1 or PowerShell 7, Pester 5).

BeforeAll {
    $script:Script = Join-Path -Path $PSScriptRoot -ChildPath 'Register-TssrScheduledScript.ps1'
    $stub = {
        [CmdletBinding()]
        param($TaskName, $TaskPath, $Action, $Trigger, $Settings, $Description, $Force, $Principal, $User, $Password,
            $RunLevel, $Execute, $Argument, $WorkingDirectory, $Daily, $Weekly, $AtStartup, $Once, $At, $DaysOfWeek,
            $StartWhenAvailable, $ExecutionTimeLimit, $MultipleInstances, $UserId, $LogonType)
    }
    foreach ($name in @('Get-ScheduledTask', 'Register-ScheduledTask', 'New-ScheduledTaskAction', 'New-ScheduledTaskTrigger',
            'New-ScheduledTaskSettingsSet', 'New-ScheduledTaskPrincipal')) {
        if (-not (Get-Command -Name $name -ErrorAction SilentlyContinue)) { Set-Item -Path "function:global:$name" -Value $stub }
    }
    $script:Target = Join-Path -Path $TestDrive -ChildPath 'Backup-Job.ps1'
    Set-Content -LiteralPath $Target -Value '# a script to schedule'
}

Describe 'Register-TssrScheduledScript.ps1' {
    BeforeEach {
        Mock Get-ScheduledTask { @() }
        Mock Register-ScheduledTask { [pscustomobject]@{ TaskName = $TaskName } }
        Mock New-ScheduledTaskAction { [pscustomobject]@{ Execute = $Execute; Arguments = $Argument } }
        Mock New-ScheduledTaskTrigger { [pscustomobject]@{ Kind = 'trigger' } }
        Mock New-ScheduledTaskSettingsSet { [pscustomobject]@{ Kind = 'settings' } }
        Mock New-ScheduledTaskPrincipal { [pscustomobject]@{ UserId = $UserId } }
    }

    It 'registers a daily task under SYSTEM that runs the script with -File' {
        $out = & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger Daily -At '02:30' -ArgumentList '-Mode', 'Versioned'
        $LASTEXITCODE | Should -Be 0
        $out.Action | Should -Be 'Created'
        Should -Invoke New-ScheduledTaskAction -Times 1 -Exactly -ParameterFilter {
            $Execute -eq 'powershell.exe' -and $Argument -like "*-File `"$Target`" `"-Mode`" `"Versioned`"*"
        }
        Should -Invoke New-ScheduledTaskTrigger -Times 1 -Exactly -ParameterFilter { $Daily }
        Should -Invoke New-ScheduledTaskPrincipal -Times 1 -Exactly -ParameterFilter { $UserId -eq 'SYSTEM' }
        Should -Invoke Register-ScheduledTask -Times 1 -Exactly -ParameterFilter { $TaskPath -eq '\tssr-kit\' -and $Description -like '*tssr-kit fingerprint:*' }
    }

    It 'changes nothing when the task already has the same fingerprint (a second run)' {
        $first = & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger Daily -At '02:30'
        Mock Get-ScheduledTask { [pscustomobject]@{ Description = "Runs it. tssr-kit fingerprint: $($first.Fingerprint)" } }
        $second = & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger Daily -At '02:30'
        $second.Action | Should -Be 'Unchanged'
        Should -Invoke Register-ScheduledTask -Times 1 -Exactly
    }

    It 're-registers the task when a setting changed' {
        Mock Get-ScheduledTask { [pscustomobject]@{ Description = 'Runs it. tssr-kit fingerprint: 0000' } }
        $out = & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger Weekly -DaysOfWeek Monday -At '03:00'
        $out.Action | Should -Be 'Updated'
        Should -Invoke Register-ScheduledTask -Times 1 -Exactly -ParameterFilter { $Force }
    }

    It 'refuses to take over a task it did not create (exit 2)' {
        Mock Get-ScheduledTask { [pscustomobject]@{ Description = 'made by someone else' } }
        & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger Daily 2>$null
        $LASTEXITCODE | Should -Be 2
        Should -Invoke Register-ScheduledTask -Times 0
    }

    It 'registers nothing with -WhatIf' {
        & $Script -ScriptPath $Target -TaskName 'Backup compta' -Trigger AtStartup -WhatIf | Out-Null
        Should -Invoke Register-ScheduledTask -Times 0
    }
}
