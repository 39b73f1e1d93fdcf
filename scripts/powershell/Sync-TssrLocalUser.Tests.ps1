# Pester 5 tests of Sync-TssrLocalUser.ps1 with the LocalAccounts cmdlets mocked: nothing is created.
# The script is run with & (it ends with `exit N`, which then only sets $LASTEXITCODE).
# Run: Invoke-Pester -Path scripts/powershell (Windows PowerShell 5.1 or PowerShell 7, Pester 5).

BeforeAll {
    $script:Script = Join-Path -Path $PSScriptRoot -ChildPath 'Sync-TssrLocalUser.ps1'
    Import-Module -Name (Join-Path -Path $PSScriptRoot -ChildPath 'TssrUserCsv.psm1') -Force
    $stub = {
        [CmdletBinding(SupportsShouldProcess)]
        param($Name, $FullName, $Description, $Password, $Member)
    }
    foreach ($name in @('Get-LocalUser', 'New-LocalUser', 'Set-LocalUser', 'Enable-LocalUser', 'Disable-LocalUser', 'Get-LocalGroup',
            'New-LocalGroup', 'Get-LocalGroupMember', 'Add-LocalGroupMember', 'Remove-LocalGroupMember', 'Set-TssrPasswordExpired')) {
        if (-not (Get-Command -Name $name -ErrorAction SilentlyContinue)) { Set-Item -Path "function:global:$name" -Value $stub }
    }
    function New-TestCsv {
        param([string[]]$Line)
        $file = Join-Path -Path $TestDrive -ChildPath ('users-{0}.csv' -f [guid]::NewGuid())
        [System.IO.File]::WriteAllText($file, (($Line -join "`n") + "`n"), [System.Text.UTF8Encoding]::new($false))
        $file
    }
    function New-TestSid {
        param([string]$Value)
        [pscustomobject]@{ Value = $Value }
    }
}

Describe 'Sync-TssrLocalUser.ps1' {
    BeforeEach {
        $script:Common = @{
            PasswordFile = (Join-Path -Path $TestDrive -ChildPath ('passwords-{0}.csv' -f [guid]::NewGuid()))
            ReportPath   = (Join-Path -Path $TestDrive -ChildPath ('report-{0}.csv' -f [guid]::NewGuid()))
        }
        Mock Get-LocalUser { [pscustomobject]@{ Name = 'Administrator'; SID = (New-TestSid 'S-1-5-21-1-2-3-500'); Enabled = $true; FullName = ''; Description = '' } }
        Mock Get-LocalGroup {
            [pscustomobject]@{ Name = 'Users'; SID = (New-TestSid 'S-1-5-32-545') }
            [pscustomobject]@{ Name = 'Administrators'; SID = (New-TestSid 'S-1-5-32-544') }
            [pscustomobject]@{ Name = 'compta'; SID = (New-TestSid 'S-1-5-21-1-2-3-1001') }
        }
        Mock Get-LocalGroupMember { @() }
        Mock New-LocalUser { @() }
        Mock Set-LocalUser { @() }
        Mock Enable-LocalUser { @() }
        Mock Disable-LocalUser { @() }
        Mock New-LocalGroup { [pscustomobject]@{ Name = $Name; SID = (New-TestSid 'S-1-5-21-1-2-3-1002') } }
        Mock Add-LocalGroupMember { @() }
        Mock Remove-LocalGroupMember { @() }
        Mock Set-TssrPasswordExpired { @() }
    }

    It 'creates a missing account, expires its password and adds it to the listed group' {
        $csv = New-TestCsv -Line 'login;first_name;last_name;groups', 'alice;Alice;Martin;compta'
        $out = & $Script -Path $csv @Common
        $LASTEXITCODE | Should -Be 0
        $out.Action | Should -Be 'Created'
        Should -Invoke New-LocalUser -Times 1 -Exactly -ParameterFilter { $Name -eq 'alice' -and $FullName -eq 'Alice Martin' -and $Password -is [securestring] }
        Should -Invoke Set-TssrPasswordExpired -Times 1 -Exactly -ParameterFilter { $Name -eq 'alice' }
        Should -Invoke Add-LocalGroupMember -Times 1 -Exactly -ParameterFilter { $Name -eq 'compta' -and $Member -eq 'alice' }
    }

    It 'creates a listed group that does not exist' {
        $csv = New-TestCsv -Line 'login;first_name;last_name;groups', 'alice;Alice;Martin;projets'
        & $Script -Path $csv @Common | Out-Null
        Should -Invoke New-LocalGroup -Times 1 -Exactly -ParameterFilter { $Name -eq 'projets' }
    }

    It 'changes nothing for an account already in line (a second run)' {
        Mock Get-LocalUser { [pscustomobject]@{ Name = 'alice'; SID = (New-TestSid 'S-1-5-21-1-2-3-1010'); Enabled = $true; FullName = 'Alice Martin'; Description = '' } }
        Mock Get-LocalGroupMember { [pscustomobject]@{ Name = 'SRV01\alice' } } -ParameterFilter { $Name -in @('compta', 'Users') }
        $csv = New-TestCsv -Line 'login;first_name;last_name;groups', 'alice;Alice;Martin;compta'
        $out = & $Script -Path $csv @Common
        $out.Action | Should -Be 'Unchanged'
        Should -Invoke New-LocalUser -Times 0
        Should -Invoke Set-LocalUser -Times 0
        Should -Invoke Add-LocalGroupMember -Times 0
        Should -Invoke Remove-LocalGroupMember -Times 0
    }

    It 'disables a leaver and stamps the date in its description' {
        Mock Get-LocalUser { [pscustomobject]@{ Name = 'alice'; SID = (New-TestSid 'S-1-5-21-1-2-3-1010'); Enabled = $true; FullName = 'Alice Martin'; Description = '' } }
        $csv = New-TestCsv -Line 'login;first_name;last_name;state', 'alice;Alice;Martin;absent'
        $out = & $Script -Path $csv @Common
        $out.Action | Should -Be 'Disabled'
        Should -Invoke Disable-LocalUser -Times 1 -Exactly
        Should -Invoke Set-LocalUser -Times 1 -Exactly -ParameterFilter { $Description -like 'Disabled by tssr-kit on *' }
    }

    It 'refuses a privileged group without -AllowPrivilegedGroup (exit 2, nothing changed)' {
        $csv = New-TestCsv -Line 'login;first_name;last_name;groups', 'alice;Alice;Martin;administrators'
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
