# Pester 5 tests of Sync-TssrLocalUser.ps1 with the LocalAccounts cmdlets mocked: nothing is created.
# The script is run with & (it ends with `exit N`, which then only sets $LASTEXITCODE).
# Run: Invoke-Pester -Path scripts/powershell (Windows PowerShell 5.1 or PowerShell 7, Pester 5.3+).
# On Windows the real LocalAccounts cmdlets are mocked; their typed -SID/-Member parameters are relaxed
# (-RemoveParameterType) so the test's values bind as they are. Stand-ins exist only where a command is
# missing, and the script's own seams (Set-TssrPasswordExpired, Get-TssrLocalGroupMemberSid) are
# stood in for so that Pester can mock them (a mock wins over the script's function of that name).

BeforeAll {
    $script:Script = Join-Path -Path $PSScriptRoot -ChildPath 'Sync-TssrLocalUser.ps1'
    Import-Module -Name (Join-Path -Path $PSScriptRoot -ChildPath 'TssrUserCsv.psm1') -Force
    $stub = {
        [CmdletBinding(SupportsShouldProcess)]
        param($Name, $SID, $FullName, $Description, [securestring]$Password, $Member)
    }
    $script:Stubbed = @()
    foreach ($name in @('Get-LocalUser', 'New-LocalUser', 'Set-LocalUser', 'Enable-LocalUser', 'Disable-LocalUser', 'Get-LocalGroup',
            'New-LocalGroup', 'Add-LocalGroupMember', 'Remove-LocalGroupMember', 'Set-TssrPasswordExpired', 'Get-TssrLocalGroupMemberSid')) {
        if ($name -like '*-Tssr*' -or -not (Get-Command -Name $name -ErrorAction SilentlyContinue)) {
            Set-Item -Path "function:global:$name" -Value $stub
            $script:Stubbed += $name
        }
    }
    function New-TestCsv {
        param([string[]]$Line)
        $file = Join-Path -Path $TestDrive -ChildPath ('users-{0}.csv' -f [guid]::NewGuid())
        [System.IO.File]::WriteAllText($file, (($Line -join "`n") + "`n"), [System.Text.UTF8Encoding]::new($false))
        $file
    }
    function New-TestSid {
        param([string]$Value)
        [System.Security.Principal.SecurityIdentifier]::new($Value)
    }
    $script:Machine = 'S-1-5-21-1-2-3'
    function Get-TestUser {
        param([string]$Name = 'alice', [int]$Rid = 1010, [bool]$Enabled = $true, [string]$FullName = 'Alice Martin', [string]$Description = '')
        [pscustomobject]@{ Name = $Name; SID = (New-TestSid "$script:Machine-$Rid"); Enabled = $Enabled; FullName = $FullName; Description = $Description }
    }
}

AfterAll {
    foreach ($name in $script:Stubbed) { Remove-Item -Path "function:global:$name" }
}

Describe 'Sync-TssrLocalUser.ps1' {
    BeforeEach {
        $script:Common = @{
            PasswordFile = (Join-Path -Path $TestDrive -ChildPath ('passwords-{0}.csv' -f [guid]::NewGuid()))
            ReportPath   = (Join-Path -Path $TestDrive -ChildPath ('report-{0}.csv' -f [guid]::NewGuid()))
        }
        $relax = @{ RemoveParameterType = @('SID', 'Member') }
        Mock Get-LocalUser { Get-TestUser -Name 'Administrator' -Rid 500 -FullName '' }
        Mock Get-LocalGroup {
            [pscustomobject]@{ Name = 'Users'; SID = (New-TestSid 'S-1-5-32-545'); Description = '' }
            [pscustomobject]@{ Name = 'Administrators'; SID = (New-TestSid 'S-1-5-32-544'); Description = '' }
            [pscustomobject]@{ Name = 'Remote Desktop Users'; SID = (New-TestSid 'S-1-5-32-555'); Description = '' }
            [pscustomobject]@{ Name = 'compta'; SID = (New-TestSid "$Machine-1001"); Description = 'Created by tssr-kit' }
            [pscustomobject]@{ Name = 'backup-tool'; SID = (New-TestSid "$Machine-1003"); Description = 'Veeam' }
        }
        Mock Get-TssrLocalGroupMemberSid { @() }
        Mock New-LocalUser @relax { Get-TestUser -Name $Name -Rid 1020 -FullName $FullName }
        Mock Set-LocalUser @relax { @() }
        Mock Enable-LocalUser @relax { @() }
        Mock Disable-LocalUser @relax { @() }
        Mock New-LocalGroup @relax { [pscustomobject]@{ Name = $Name; SID = (New-TestSid "$Machine-1002"); Description = $Description } }
        Mock Add-LocalGroupMember @relax { @() }
        Mock Remove-LocalGroupMember @relax { @() }
        Mock Set-TssrPasswordExpired { @() }
    }

    It 'creates a missing account, expires its password and adds it, by SID, to the listed group' {
        $csv = New-TestCsv -Line 'login;first_name;last_name;groups', 'alice;Alice;Martin;compta'
        $out = & $Script -Path $csv @Common
        $LASTEXITCODE | Should -Be 0
        $out.Action | Should -Be 'Created'
        Should -Invoke New-LocalUser -Times 1 -Exactly -ParameterFilter { $Name -eq 'alice' -and $FullName -eq 'Alice Martin' -and $Password -is [securestring] }
        Should -Invoke Set-TssrPasswordExpired -Times 1 -Exactly -ParameterFilter { $Name -eq 'alice' }
        Should -Invoke Add-LocalGroupMember -Times 1 -Exactly -ParameterFilter { "$SID" -eq "$Machine-1001" -and "$Member" -eq "$Machine-1020" }
    }

    It 'records the password before the account exists' {
        Mock New-LocalUser @relax { throw 'The password does not meet the password policy requirements' }
        $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin'
        $out = & $Script -Path $csv @Common 2>$null
        $out.Action | Should -Be 'Failed'
        (Get-Content -LiteralPath $Common.PasswordFile)[1] | Should -Match '^alice;'
    }

    It 'creates a listed group that does not exist, with a Windows name from windows_groups' {
        $csv = New-TestCsv -Line 'login;first_name;last_name;windows_groups', 'alice;Alice;Martin;GG Projets Paris'
        & $Script -Path $csv @Common | Out-Null
        Should -Invoke New-LocalGroup -Times 1 -Exactly -ParameterFilter { $Name -eq 'GG Projets Paris' -and $Description -eq 'Created by tssr-kit' }
    }

    It 'changes nothing for an account already in line (a second run)' {
        Mock Get-LocalUser { Get-TestUser }
        Mock Get-TssrLocalGroupMemberSid { "$Machine-1010" } -ParameterFilter { $Name -in @('compta', 'Users') }
        $csv = New-TestCsv -Line 'login;first_name;last_name;groups', 'alice;Alice;Martin;compta'
        $out = & $Script -Path $csv @Common
        $out.Action | Should -Be 'Unchanged'
        Should -Invoke New-LocalUser -Times 0
        Should -Invoke Set-LocalUser -Times 0
        Should -Invoke Add-LocalGroupMember -Times 0
        Should -Invoke Remove-LocalGroupMember -Times 0
    }

    It 'tolerates a group that holds an orphaned SID' {
        Mock Get-LocalUser { Get-TestUser }
        Mock Get-TssrLocalGroupMemberSid { 'S-1-5-21-9-9-9-1234'; "$Machine-1010" } -ParameterFilter { $Name -eq 'compta' }
        $csv = New-TestCsv -Line 'login;first_name;last_name;groups', 'alice;Alice;Martin;compta'
        $out = & $Script -Path $csv @Common
        $LASTEXITCODE | Should -Be 0
        $out.Action | Should -Be 'Unchanged'
    }

    It 'removes the user from kit-created groups it is not listed in, and leaves other groups alone' {
        Mock Get-LocalUser { Get-TestUser }
        Mock Get-TssrLocalGroupMemberSid { "$Machine-1010" }
        $csv = New-TestCsv -Line 'login;first_name;last_name;groups', 'alice;Alice;Martin;'
        $out = & $Script -Path $csv @Common
        $out.Action | Should -Be 'Updated'
        Should -Invoke Remove-LocalGroupMember -Times 1 -Exactly
        Should -Invoke Remove-LocalGroupMember -Times 1 -Exactly -ParameterFilter { "$SID" -eq "$Machine-1001" -and "$Member" -eq "$Machine-1010" }
    }

    It 'disables a leaver and stamps the date in its description' {
        Mock Get-LocalUser { Get-TestUser }
        $csv = New-TestCsv -Line 'login;first_name;last_name;state', 'alice;Alice;Martin;absent'
        $out = & $Script -Path $csv @Common
        $out.Action | Should -Be 'Disabled'
        Should -Invoke Disable-LocalUser -Times 1 -Exactly
        Should -Invoke Set-LocalUser -Times 1 -Exactly -ParameterFilter { $Description -like 'Disabled by tssr-kit on *' }
    }

    It 'enables only an account the kit disabled' {
        Mock Get-LocalUser { Get-TestUser -Enabled $false -Description 'Disabled by tssr-kit on 2026-01-02' }
        $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin'
        (& $Script -Path $csv @Common).Action | Should -Be 'Updated'
        Should -Invoke Enable-LocalUser -Times 1 -Exactly
        Mock Get-LocalUser { Get-TestUser -Enabled $false -Description 'locked by the security team' }
        (& $Script -Path $csv @Common 3>$null).Action | Should -Be 'Held'
        Should -Invoke Enable-LocalUser -Times 1 -Exactly
    }

    It 'refuses a built-in account and an account that is someone else (exit 2, nothing changed)' -ForEach @(
        @{ User = @{ Name = 'alice'; Rid = 500; FullName = '' } }, @{ User = @{ Name = 'alice'; Rid = 1010; FullName = 'Bob Durand' } }
    ) {
        $user = $User
        Mock Get-LocalUser { Get-TestUser @user }
        $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin'
        & $Script -Path $csv @Common 2>$null
        $LASTEXITCODE | Should -Be 2
        Should -Invoke Set-LocalUser -Times 0
        Should -Invoke Disable-LocalUser -Times 0
    }

    It 'refuses a privileged group without -AllowPrivilegedGroup (exit 2, nothing changed)' -ForEach @(
        @{ Line = 'alice;Alice;Martin;administrators;' }, @{ Line = 'alice;Alice;Martin;;Remote Desktop Users' }
    ) {
        $csv = New-TestCsv -Line 'login;first_name;last_name;groups;windows_groups', $Line
        & $Script -Path $csv @Common 2>$null
        $LASTEXITCODE | Should -Be 2
        Should -Invoke New-LocalUser -Times 0
    }

    It 'refuses the AD-only columns (exit 2)' {
        $csv = New-TestCsv -Line 'login;first_name;last_name;ou', 'alice;Alice;Martin;OU=Staff,DC=corp,DC=example'
        & $Script -Path $csv @Common 2>$null
        $LASTEXITCODE | Should -Be 2
    }

    It 'changes nothing with -WhatIf' {
        $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin'
        & $Script -Path $csv @Common -WhatIf | Out-Null
        Should -Invoke New-LocalUser -Times 0
        Test-Path -LiteralPath $Common.PasswordFile | Should -BeFalse
    }
}
