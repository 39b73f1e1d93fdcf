# Pester 5 tests of Sync-TssrAdUser.ps1 with every ActiveDirectory cmdlet mocked: no domain needed.
# The script is run with & (not dot-sourced): it ends with `exit N`, which then only sets $LASTEXITCODE.
# Run: Invoke-Pester -Path scripts/powershell (Windows PowerShell 5.1 or PowerShell 7, Pester 5).

BeforeAll {
    $script:Script = Join-Path -Path $PSScriptRoot -ChildPath 'Sync-TssrAdUser.ps1'
    Import-Module -Name (Join-Path -Path $PSScriptRoot -ChildPath 'TssrUserCsv.psm1') -Force
    # Pester mocks only commands that exist: without RSAT, stand-ins with the parameters the script uses.
    $stub = {
        [CmdletBinding(SupportsShouldProcess)]
        param($Identity, $Filter, $Properties, $Server, $Credential, $SearchBase, $SearchScope, $Members, $TargetPath,
            $Description, $Name, $GivenName, $Surname, $DisplayName, $SamAccountName, $UserPrincipalName, $Path,
            $AccountPassword, $ChangePasswordAtLogon, $Enabled, $Department, $Title, $Clear)
    }
    foreach ($name in @('Get-ADUser', 'Get-ADDomain', 'Get-ADOrganizationalUnit', 'Get-ADObject', 'Get-ADGroup', 'New-ADUser',
            'Set-ADUser', 'Enable-ADAccount', 'Disable-ADAccount', 'Move-ADObject', 'Add-ADGroupMember', 'Remove-ADGroupMember')) {
        if (-not (Get-Command -Name $name -ErrorAction SilentlyContinue)) { Set-Item -Path "function:global:$name" -Value $stub }
    }
    function New-TestCsv {
        param([string[]]$Line)
        $file = Join-Path -Path $TestDrive -ChildPath ('users-{0}.csv' -f [guid]::NewGuid())
        [System.IO.File]::WriteAllText($file, (($Line -join "`n") + "`n"), [System.Text.UTF8Encoding]::new($false))
        $file
    }
    $script:Staff = 'OU=Staff,DC=corp,DC=example'
    $script:Disabled = 'OU=Disabled,DC=corp,DC=example'
    function Get-TestUser {
        param([string]$Sam, [string]$Ou = $script:Staff, [bool]$Enabled = $true, [string[]]$MemberOf = @())
        [pscustomobject]@{
            SamAccountName = $Sam; GivenName = 'Alice'; Surname = 'Martin'; DisplayName = 'Alice Martin'; Department = $null
            Title = $null; UserPrincipalName = "$Sam@corp.example"; Enabled = $Enabled; DistinguishedName = "CN=Alice Martin,$Ou"
            MemberOf = $MemberOf; PrimaryGroup = 'CN=Domain Users,CN=Users,DC=corp,DC=example'; Description = $null
        }
    }
}

Describe 'Sync-TssrAdUser.ps1' {
    BeforeEach {
        $script:PasswordFile = Join-Path -Path $TestDrive -ChildPath ('passwords-{0}.csv' -f [guid]::NewGuid())
        $script:Report = Join-Path -Path $TestDrive -ChildPath ('report-{0}.csv' -f [guid]::NewGuid())
        $script:Common = @{ DefaultOu = $Staff; DisabledOu = $Disabled; PasswordFile = $PasswordFile; ReportPath = $Report }
        Mock Get-ADDomain { [pscustomobject]@{ DNSRoot = 'corp.example' } }
        Mock Get-ADUser { @() }
        Mock Get-ADOrganizationalUnit { [pscustomobject]@{ DistinguishedName = 'OU=x' } }
        Mock Get-ADObject { @() }
        Mock Get-ADGroup { [pscustomobject]@{ DistinguishedName = "CN=$($Filter -replace '.*''(.*)''.*', '$1'),OU=Groups,DC=corp,DC=example" } }
        Mock New-ADUser { @() }
        Mock Set-ADUser { @() }
        Mock Enable-ADAccount { @() }
        Mock Disable-ADAccount { @() }
        Mock Move-ADObject { @() }
        Mock Add-ADGroupMember { @() }
        Mock Remove-ADGroupMember { @() }
    }

    It 'creates a missing user with a generated password that must be changed at next logon' {
        $csv = New-TestCsv -Line 'login;first_name;last_name;groups;department', 'alice;Alice;Martin;compta;Finance'
        $out = & $Script -Path $csv @Common
        $LASTEXITCODE | Should -Be 0
        $out.Action | Should -Be 'Created'
        Should -Invoke New-ADUser -Times 1 -Exactly -ParameterFilter {
            $SamAccountName -eq 'alice' -and $ChangePasswordAtLogon -eq $true -and $AccountPassword -is [securestring] -and
            $Path -eq $Staff -and $UserPrincipalName -eq 'alice@corp.example' -and $Department -eq 'Finance'
        }
        Should -Invoke Add-ADGroupMember -Times 1 -Exactly
    }

    It 'writes the password only to the password file, never to the output or the report' {
        $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin'
        $out = & $Script -Path $csv @Common
        $lines = Get-Content -LiteralPath $PasswordFile
        $lines[0] | Should -Be 'login;password'
        $password = ($lines[1] -split ';')[1]
        $password.Length | Should -Be 20
        ($out | Out-String) | Should -Not -Match $password
        (Get-Content -LiteralPath $Report -Raw) | Should -Not -Match $password
    }

    It 'changes nothing for a user already in line (a second run)' {
        Mock Get-ADUser { Get-TestUser -Sam 'alice' -MemberOf @('CN=compta,OU=Groups,DC=corp,DC=example') } -ParameterFilter { $Filter -like 'SamAccountName*' }
        $csv = New-TestCsv -Line 'login;first_name;last_name;groups', 'alice;Alice;Martin;compta'
        $out = & $Script -Path $csv @Common
        $LASTEXITCODE | Should -Be 0
        $out.Action | Should -Be 'Unchanged'
        Should -Invoke New-ADUser -Times 0
        Should -Invoke Set-ADUser -Times 0
        Should -Invoke Add-ADGroupMember -Times 0
        Should -Invoke Remove-ADGroupMember -Times 0
        Test-Path -LiteralPath $PasswordFile | Should -BeFalse
    }

    It 'sets groups as listed: adds the missing one, removes the unlisted one, keeps the primary group' {
        Mock Get-ADUser { Get-TestUser -Sam 'alice' -MemberOf @('CN=old,OU=Groups,DC=corp,DC=example') } -ParameterFilter { $Filter -like 'SamAccountName*' }
        $csv = New-TestCsv -Line 'login;first_name;last_name;groups', 'alice;Alice;Martin;compta'
        $out = & $Script -Path $csv @Common
        $out.Action | Should -Be 'Updated'
        Should -Invoke Add-ADGroupMember -Times 1 -Exactly -ParameterFilter { $Identity -like 'CN=compta,*' }
        Should -Invoke Remove-ADGroupMember -Times 1 -Exactly -ParameterFilter { $Identity -like 'CN=old,*' }
    }

    It 'disables a leaver, moves it to the disabled OU and stamps the date' {
        Mock Get-ADUser { Get-TestUser -Sam 'alice' } -ParameterFilter { $Filter -like 'SamAccountName*' }
        $csv = New-TestCsv -Line 'login;first_name;last_name;state', 'alice;Alice;Martin;absent'
        $out = & $Script -Path $csv @Common
        $LASTEXITCODE | Should -Be 0
        $out.Action | Should -Be 'Disabled'
        Should -Invoke Disable-ADAccount -Times 1 -Exactly
        Should -Invoke Move-ADObject -Times 1 -Exactly -ParameterFilter { $TargetPath -eq $Disabled }
        Should -Invoke Set-ADUser -Times 1 -Exactly -ParameterFilter { $Description -like "Disabled by tssr-kit on $([datetime]::Now.ToString('yyyy-MM-dd'))" }
    }

    It 'enables a returning leaver and moves it back out of the disabled OU' {
        Mock Get-ADUser { Get-TestUser -Sam 'alice' -Ou $Disabled -Enabled $false } -ParameterFilter { $Filter -like 'SamAccountName*' }
        $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin'
        $out = & $Script -Path $csv @Common
        $out.Action | Should -Be 'Updated'
        Should -Invoke Enable-ADAccount -Times 1 -Exactly
        Should -Invoke Move-ADObject -Times 1 -Exactly -ParameterFilter { $TargetPath -eq $Staff }
    }

    It 'validates the whole file first: one bad row, exit 2, nothing changed' {
        $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin', 'Bob;Bob;Durand'
        & $Script -Path $csv @Common 2>$null
        $LASTEXITCODE | Should -Be 2
        Should -Invoke New-ADUser -Times 0
        Test-Path -LiteralPath $Report | Should -BeFalse
    }

    It 'refuses a group that does not exist in the directory (exit 2)' {
        Mock Get-ADGroup { @() }
        $csv = New-TestCsv -Line 'login;first_name;last_name;groups', 'alice;Alice;Martin;nosuch'
        & $Script -Path $csv @Common 2>$null
        $LASTEXITCODE | Should -Be 2
        Should -Invoke New-ADUser -Times 0
    }

    It 'changes nothing with -WhatIf' {
        $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin'
        $out = & $Script -Path $csv @Common -WhatIf
        $out.Action | Should -Be 'Created'
        Should -Invoke New-ADUser -Times 0
        Test-Path -LiteralPath $PasswordFile | Should -BeFalse
    }

    It 'reports a failed creation, goes on with the other rows and exits 1' {
        Mock New-ADUser { throw 'The server is unwilling to process the request' } -ParameterFilter { $SamAccountName -eq 'alice' }
        $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin', 'bob;Bob;Durand'
        $out = & $Script -Path $csv @Common 2>$null
        $LASTEXITCODE | Should -Be 1
        ($out | Where-Object -Property AccountName -EQ 'alice').Action | Should -Be 'Failed'
        ($out | Where-Object -Property AccountName -EQ 'bob').Action | Should -Be 'Created'
        (Import-Csv -LiteralPath $Report -Delimiter ';').Action | Should -Contain 'Failed'
    }
}
