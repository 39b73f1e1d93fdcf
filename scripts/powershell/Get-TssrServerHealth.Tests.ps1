# Pester 5 tests of Get-TssrServerHealth.ps1 with CIM, the event log and the registry check mocked.
# Run: Invoke-Pester -Path scripts/powershell (Windows PowerShell 5.1 or PowerShell 7, Pester 5).

BeforeAll {
    $script:Script = Join-Path -Path $PSScriptRoot -ChildPath 'Get-TssrServerHealth.ps1'
    $stub = {
        [CmdletBinding()]
        param($ClassName, $Filter, $ComputerName, $FilterHashtable, $MaxEvents)
    }
    foreach ($name in @('Get-WinEvent', 'Test-TssrPendingReboot')) {
        if (-not (Get-Command -Name $name -ErrorAction SilentlyContinue) -or $name -eq 'Test-TssrPendingReboot') {
            Set-Item -Path "function:global:$name" -Value $stub
        }
    }
}

Describe 'Get-TssrServerHealth.ps1' {
    BeforeEach {
        Mock Get-CimInstance { [pscustomobject]@{ DeviceID = 'C:'; Size = 100GB; FreeSpace = 50GB } } -ParameterFilter { $ClassName -eq 'Win32_LogicalDisk' }
        Mock Get-CimInstance { @() } -ParameterFilter { $ClassName -eq 'Win32_Service' }
        Mock Get-WinEvent { @() }
        Mock Test-TssrPendingReboot { @() }
    }

    It 'says OK for a healthy server' {
        $out = & $Script -ComputerName $env:COMPUTERNAME
        $LASTEXITCODE | Should -Be 0
        $out.Status | Should -Be 'OK'
        $out.Disks[0].FreePercent | Should -Be 50
        $out.PendingReboot | Should -BeFalse
    }

    It 'warns about a disk below the free-space threshold' {
        Mock Get-CimInstance { [pscustomobject]@{ DeviceID = 'D:'; Size = 100GB; FreeSpace = 5GB } } -ParameterFilter { $ClassName -eq 'Win32_LogicalDisk' }
        $out = & $Script -ComputerName $env:COMPUTERNAME -MinFreePercent 10
        $out.Status | Should -Be 'Warning'
        $out.Disks[0].Warning | Should -BeTrue
    }

    It 'lists automatic services that are stopped, except the excluded ones' {
        Mock Get-CimInstance {
            [pscustomobject]@{ Name = 'Spooler'; DisplayName = 'Print Spooler'; State = 'Stopped' }
            [pscustomobject]@{ Name = 'sppsvc'; DisplayName = 'Software Protection'; State = 'Stopped' }
        } -ParameterFilter { $ClassName -eq 'Win32_Service' }
        $out = & $Script -ComputerName $env:COMPUTERNAME
        @($out.StoppedServices).Name | Should -Be @('Spooler')
        $out.Status | Should -Be 'Warning'
    }

    It 'reports a pending reboot and recent error events' {
        Mock Test-TssrPendingReboot { 'Windows Update' }
        Mock Get-WinEvent { [pscustomobject]@{ TimeCreated = Get-Date; LogName = 'System'; ProviderName = 'Disk'; Id = 7; LevelDisplayName = 'Error'; Message = "bad block`r`nmore" } }
        $out = & $Script -ComputerName $env:COMPUTERNAME
        $out.PendingReboot | Should -BeTrue
        $out.PendingRebootReasons | Should -Be @('Windows Update')
        $out.RecentErrors[0].Message | Should -Be 'bad block'
    }

    It 'writes the HTML page, and not with -WhatIf' {
        $html = Join-Path -Path $TestDrive -ChildPath 'health.html'
        & $Script -ComputerName $env:COMPUTERNAME -HtmlPath $html -WhatIf | Out-Null
        Test-Path -LiteralPath $html | Should -BeFalse
        & $Script -ComputerName $env:COMPUTERNAME -HtmlPath $html | Out-Null
        Get-Content -LiteralPath $html -Raw | Should -Match '<h2>Disks</h2>'
    }
}
