# Pester 5 tests of Get-TssrServerHealth.ps1 with CIM, the event log and the registry checks mocked
# (Get-CimInstance and Get-WinEvent are the real cmdlets' mocks on Windows; the script's own seams
# Get-TssrPendingReboot and Get-TssrTriggerStartService are stood in for, then mocked).
# Run: Invoke-Pester -Path scripts/powershell (Windows PowerShell 5.1 or PowerShell 7, Pester 5.3+).

BeforeAll {
    $script:Script = Join-Path -Path $PSScriptRoot -ChildPath 'Get-TssrServerHealth.ps1'
    $stub = {
        [CmdletBinding()]
        param($ClassName, $Filter, $ComputerName, $FilterHashtable, $MaxEvents)
    }
    $script:Stubbed = @()
    foreach ($name in @('Get-WinEvent', 'Get-TssrPendingReboot', 'Get-TssrTriggerStartService')) {
        if ($name -like '*-Tssr*' -or -not (Get-Command -Name $name -ErrorAction SilentlyContinue)) {
            Set-Item -Path "function:global:$name" -Value $stub
            $script:Stubbed += $name
        }
    }
    function New-TestVolume {
        param([string]$Name, [double]$Capacity = 100GB, [double]$Free = 50GB, [string]$Label = '')
        [pscustomobject]@{ Name = $Name; Label = $Label; Capacity = $Capacity; FreeSpace = $Free }
    }
    function New-TestEvent {
        param([string]$Provider, [int]$Id, [string]$Message = 'something failed')
        [pscustomobject]@{ TimeCreated = Get-Date; LogName = 'System'; ProviderName = $Provider; Id = $Id; LevelDisplayName = 'Error'; Message = $Message }
    }
}

AfterAll {
    foreach ($name in $script:Stubbed) { Remove-Item -Path "function:global:$name" }
}

Describe 'Get-TssrServerHealth.ps1' {
    BeforeEach {
        Mock Get-CimInstance { New-TestVolume -Name 'C:\' } -ParameterFilter { $ClassName -eq 'Win32_Volume' }
        Mock Get-CimInstance { @() } -ParameterFilter { $ClassName -eq 'Win32_Service' }
        Mock Get-WinEvent { @() }
        Mock Get-TssrPendingReboot { @() }
        Mock Get-TssrTriggerStartService { @('W32Time') }
    }

    It 'says OK for a healthy server' {
        $out = & $Script -ComputerName $env:COMPUTERNAME
        $LASTEXITCODE | Should -Be 0
        $out.Status | Should -Be 'OK'
        $out.Disks[0].FreePercent | Should -Be 50
        $out.PendingReboot | Should -BeFalse
    }

    It 'reports volumes mounted in a folder, warns below the threshold, and leaves out volumes with no path' {
        Mock Get-CimInstance {
            New-TestVolume -Name 'C:\'
            New-TestVolume -Name 'D:\Mounts\Data\' -Free 5GB -Label 'Data'
            New-TestVolume -Name '\\?\Volume{0c1e3b0e-0000-0000-0000-100000000000}\' -Free 1GB -Label 'Recovery'
        } -ParameterFilter { $ClassName -eq 'Win32_Volume' }
        $out = & $Script -ComputerName $env:COMPUTERNAME -MinFreePercent 10
        $out.Status | Should -Be 'Warning'
        @($out.Disks).Count | Should -Be 2
        ($out.Disks | Where-Object -Property Path -EQ 'D:\Mounts\Data\').Warning | Should -BeTrue
    }

    It 'lists stopped automatic services except the by-design ones, the trigger-start ones and the added ones' {
        Mock Get-CimInstance {
            foreach ($name in @('Spooler', 'sppsvc', 'W32Time', 'VeeamBackupSvc', 'clr_optimization_v4.0.30319_64')) {
                [pscustomobject]@{ Name = $name; DisplayName = $name; State = 'Stopped'; ExitCode = 0 }
            }
        } -ParameterFilter { $ClassName -eq 'Win32_Service' }
        $out = & $Script -ComputerName $env:COMPUTERNAME -ExcludeService 'Veeam*'
        @($out.StoppedServices).Name | Should -Be @('Spooler')
        $out.Status | Should -Be 'Warning'
        $all = & $Script -ComputerName $env:COMPUTERNAME -NoDefaultExclusion
        @($all.StoppedServices).Name | Should -Be @('Spooler', 'sppsvc', 'VeeamBackupSvc', 'clr_optimization_v4.0.30319_64')
    }

    It 'leaves known noise out of the errors, the default list plus the added entries' {
        Mock Get-WinEvent {
            New-TestEvent -Provider 'Microsoft-Windows-DistributedCOM' -Id 10016
            New-TestEvent -Provider 'Schannel' -Id 36887
            New-TestEvent -Provider 'MSSQLSERVER' -Id 17806
            New-TestEvent -Provider 'Disk' -Id 7 -Message "bad block`r`nmore"
        }
        $out = & $Script -ComputerName $env:COMPUTERNAME -ExcludeEvent 'MSSQLSERVER:*'
        @($out.RecentErrors).Source | Should -Be @('Disk')
        $out.RecentErrors[0].Message | Should -Be 'bad block'
        $out.Status | Should -Be 'Warning'
    }

    It 'is OK when the only errors are known noise' {
        Mock Get-WinEvent { New-TestEvent -Provider 'Microsoft-Windows-DistributedCOM' -Id 10016 }
        (& $Script -ComputerName $env:COMPUTERNAME).Status | Should -Be 'OK'
    }

    It 'reports each reason a reboot is pending once' {
        Mock Get-TssrPendingReboot { 'Windows Update'; 'Pending file rename operations'; 'Pending file rename operations' }
        $out = & $Script -ComputerName $env:COMPUTERNAME
        $out.PendingReboot | Should -BeTrue
        $out.PendingRebootReasons | Should -Be @('Windows Update', 'Pending file rename operations')
        $out.Status | Should -Be 'Warning'
    }

    It 'writes the HTML page, not with -WhatIf, and resolves a relative path against the PowerShell location' {
        $html = Join-Path -Path $TestDrive -ChildPath 'health.html'
        & $Script -ComputerName $env:COMPUTERNAME -HtmlPath $html -WhatIf | Out-Null
        Test-Path -LiteralPath $html | Should -BeFalse
        Push-Location -LiteralPath $TestDrive
        try { & $Script -ComputerName $env:COMPUTERNAME -HtmlPath 'health.html' | Out-Null }
        finally { Pop-Location }
        Get-Content -LiteralPath $html -Raw | Should -Match '<h2>Volumes</h2>'
    }

    It 'refuses an HTML path whose folder does not exist (exit 2)' {
        & $Script -ComputerName $env:COMPUTERNAME -HtmlPath (Join-Path -Path $TestDrive -ChildPath 'no\such\folder\h.html') 2>$null
        $LASTEXITCODE | Should -Be 2
    }
}
