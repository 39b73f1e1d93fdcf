# Pester 5 tests of Sync-TssrAdUser.ps1 with every ActiveDirectory cmdlet mocked: no domain needed.
# The script is run with & (not dot-sourced): it ends with `exit N`, which then only sets $LASTEXITCODE.
# Run: Invoke-Pester -Path scripts/powershell (Windows PowerShell 5.1 or PowerShell 7, Pester 5.3+).
# Where RSAT's ActiveDirectory module is installed, Pester mocks the real cmdlets: their typed
# parameters (ADUser, ADGroup, ADPrincipal) are relaxed with -RemoveParameterType so the test's strings
# bind as strings. Where it is not, stand-in functions are defined first (and removed after).

BeforeAll {
    $script:Script = Join-Path -Path $PSScriptRoot -ChildPath 'Sync-TssrAdUser.ps1'
    Import-Module -Name (Join-Path -Path $PSScriptRoot -ChildPath 'TssrUserCsv.psm1') -Force
    $stub = {
        [CmdletBinding(SupportsShouldProcess)]
        param($Identity, $Filter, $LDAPFilter, $Properties, $Server, [pscredential]$Credential, $SearchBase, $SearchScope,
            $Members, $TargetPath, $Description, $Name, $GivenName, $Surname, $DisplayName, $SamAccountName,
            $UserPrincipalName, $Path, [securestring]$AccountPassword, $ChangePasswordAtLogon, $Enabled, $Department,
            $Title, $Clear, $EmployeeID, [switch]$Discover, [switch]$Writable, $Service)
    }
    $script:Stubbed = @()
    foreach ($name in @('Get-ADUser', 'Get-ADDomain', 'Get-ADDomainController', 'Get-ADObject', 'Get-ADGroup', 'New-ADUser',
            'Set-ADUser', 'Enable-ADAccount', 'Disable-ADAccount', 'Move-ADObject', 'Add-ADGroupMember', 'Remove-ADGroupMember')) {
        if (-not (Get-Command -Name $name -ErrorAction SilentlyContinue)) {
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
    $script:Staff = 'OU=Staff,DC=corp,DC=example'
    $script:Disabled = 'OU=Disabled,DC=corp,DC=example'
    $script:Groups = 'OU=Groups,DC=corp,DC=example'
    $script:DomainSid = 'S-1-5-21-1111-2222-3333'
    function Get-TestUser {
        param([string]$Sam = 'alice', [string]$Ou = $script:Staff, [bool]$Enabled = $true, [string[]]$MemberOf = @(),
            [string]$Given = 'Alice', [string]$Surname = 'Martin', [int]$Rid = 1105, $AdminCount = $null,
            [string]$Description = $null, [string]$Upn = "$Sam@corp.example", [string]$EmployeeId = $null)
        [pscustomobject]@{
            SamAccountName = $Sam; GivenName = $Given; Surname = $Surname; DisplayName = "$Given $Surname"; Name = "$Given $Surname"
            Department = $null; Title = $null; UserPrincipalName = $Upn; Enabled = $Enabled
            DistinguishedName = "CN=$Given $Surname,$Ou"; MemberOf = $MemberOf; PrimaryGroup = "CN=Domain Users,CN=Users,DC=corp,DC=example"
            Description = $Description; EmployeeID = $EmployeeId; adminCount = $AdminCount; isCriticalSystemObject = $null
            SID = [System.Security.Principal.SecurityIdentifier]::new("$script:DomainSid-$Rid")
        }
    }
    function Get-TestGroup {
        param([string]$Sam, [string]$Ou = $script:Groups, [string]$Sid = "$script:DomainSid-2001", [string]$Category = 'Security', $AdminCount = $null)
        [pscustomobject]@{
            SamAccountName = $Sam; DistinguishedName = "CN=$Sam,$Ou"; GroupCategory = $Category; adminCount = $AdminCount
            isCriticalSystemObject = $null; SID = [System.Security.Principal.SecurityIdentifier]::new($Sid)
        }
    }
    # The directory's groups, by sAMAccountName and by DN.
    $script:Directory = @(
        (Get-TestGroup -Sam 'compta'), (Get-TestGroup -Sam 'old'), (Get-TestGroup -Sam 'GG_Compta Paris (RW)'),
        (Get-TestGroup -Sam 'GG_Direction' -Ou 'OU=Elsewhere,DC=corp,DC=example'),
        (Get-TestGroup -Sam 'Domain Admins' -Ou 'CN=Users,DC=corp,DC=example' -Sid "$script:DomainSid-512" -AdminCount 1),
        (Get-TestGroup -Sam 'Remote Desktop Users' -Ou 'CN=Builtin,DC=corp,DC=example' -Sid 'S-1-5-32-555'),
        (Get-TestGroup -Sam 'all-staff' -Category 'Distribution'),
        (Get-TestGroup -Sam 'GPO_Filter_Laptops' -Ou 'OU=GPO,DC=corp,DC=example')
    )
}

AfterAll {
    foreach ($name in $script:Stubbed) { Remove-Item -Path "function:global:$name" }
}

Describe 'Sync-TssrAdUser.ps1' {
    BeforeEach {
        $script:PasswordFile = Join-Path -Path $TestDrive -ChildPath ('passwords-{0}.csv' -f [guid]::NewGuid())
        $script:Report = Join-Path -Path $TestDrive -ChildPath ('report-{0}.csv' -f [guid]::NewGuid())
        $script:Common = @{ DefaultOu = $Staff; DisabledOu = $Disabled; ManagedGroupOu = $Groups; PasswordFile = $PasswordFile; ReportPath = $Report }
        $relax = @{ RemoveParameterType = @('Identity', 'Members') }
        Mock Get-ADDomainController { [pscustomobject]@{ HostName = @('dc1.corp.example') } }
        Mock Get-ADDomain { [pscustomobject]@{ DNSRoot = 'corp.example' } }
        Mock Get-ADUser @relax { @() }
        Mock Get-ADUser @relax { [pscustomobject]@{ tokenGroups = @([System.Security.Principal.SecurityIdentifier]::new("$DomainSid-513")) } } -ParameterFilter { $Properties -contains 'tokenGroups' }
        Mock Get-ADObject { [pscustomobject]@{ DistinguishedName = 'OU=x' } } -ParameterFilter { $LDAPFilter -like '(distinguishedName=*' }
        Mock Get-ADObject { @() } -ParameterFilter { $LDAPFilter -like '(name=*' }
        Mock Get-ADGroup {
            foreach ($g in $Directory) {
                $escaped = $g.SamAccountName.Replace('(', '\28').Replace(')', '\29')
                if ($LDAPFilter -eq "(sAMAccountName=$escaped)" -or $LDAPFilter -eq "(distinguishedName=$($g.DistinguishedName.Replace('(', '\28').Replace(')', '\29')))") { $g }
            }
        }
        Mock New-ADUser { @() }
        Mock Set-ADUser @relax { @() }
        Mock Enable-ADAccount @relax { @() }
        Mock Disable-ADAccount @relax { @() }
        Mock Move-ADObject @relax { @() }
        Mock Add-ADGroupMember @relax { @() }
        Mock Remove-ADGroupMember @relax { @() }
    }

    Context 'ordinary runs' {
        It 'creates a missing user with a generated password that must be changed at next logon' {
            $csv = New-TestCsv -Line 'login;first_name;last_name;groups;department', 'alice;Alice;Martin;compta;Finance'
            $out = & $Script -Path $csv @Common
            $LASTEXITCODE | Should -Be 0
            $out.Action | Should -Be 'Created'
            Should -Invoke New-ADUser -Times 1 -Exactly -ParameterFilter {
                $SamAccountName -eq 'alice' -and $ChangePasswordAtLogon -eq $true -and $AccountPassword -is [securestring] -and
                $Path -eq $Staff -and $UserPrincipalName -eq 'alice@corp.example' -and $Department -eq 'Finance'
            }
            Should -Invoke Add-ADGroupMember -Times 1 -Exactly -ParameterFilter { $Identity -eq "CN=compta,$Groups" }
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

        It 'records the password before the account exists' {
            Mock New-ADUser { if (-not ((Get-Content -LiteralPath $PasswordFile -Raw) -match 'alice;')) { throw 'created before its password was recorded' } }
            $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin'
            & $Script -Path $csv @Common | Out-Null
            $LASTEXITCODE | Should -Be 0
        }

        It 'changes nothing for a user already in line (a second run)' {
            Mock Get-ADUser @relax { Get-TestUser -MemberOf @("CN=compta,$Groups") } -ParameterFilter { $LDAPFilter -eq '(sAMAccountName=alice)' }
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

        It 'pins one writable domain controller for every call of the run' {
            $csv = New-TestCsv -Line 'login;first_name;last_name;groups', 'alice;Alice;Martin;compta'
            & $Script -Path $csv @Common | Out-Null
            Should -Invoke Get-ADDomainController -Times 1 -Exactly -ParameterFilter { $Writable -and $Discover }
            Should -Invoke Get-ADUser -ParameterFilter { $Server -ne 'dc1.corp.example' } -Times 0
            Should -Invoke New-ADUser -Times 1 -Exactly -ParameterFilter { $Server -eq 'dc1.corp.example' }
            Should -Invoke Add-ADGroupMember -Times 1 -Exactly -ParameterFilter { $Server -eq 'dc1.corp.example' }
        }

        It 'uses the -Server given and looks for no other' {
            $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin'
            & $Script -Path $csv @Common -Server 'dc2.corp.example' | Out-Null
            Should -Invoke Get-ADDomainController -Times 0
            Should -Invoke New-ADUser -Times 1 -Exactly -ParameterFilter { $Server -eq 'dc2.corp.example' }
        }

        It 'disables a leaver, moves it to the disabled OU and stamps the date' {
            Mock Get-ADUser @relax { Get-TestUser } -ParameterFilter { $LDAPFilter -eq '(sAMAccountName=alice)' }
            $csv = New-TestCsv -Line 'login;first_name;last_name;state', 'alice;Alice;Martin;absent'
            $out = & $Script -Path $csv @Common
            $LASTEXITCODE | Should -Be 0
            $out.Action | Should -Be 'Disabled'
            Should -Invoke Disable-ADAccount -Times 1 -Exactly
            Should -Invoke Move-ADObject -Times 1 -Exactly -ParameterFilter { $TargetPath -eq $Disabled }
            Should -Invoke Set-ADUser -Times 1 -Exactly -ParameterFilter { $Description -eq "Disabled by tssr-kit on $([datetime]::Now.ToString('yyyy-MM-dd'))" }
        }

        It 'changes nothing with -WhatIf' {
            $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin'
            $out = & $Script -Path $csv @Common -WhatIf
            $out.Action | Should -Be 'Created'
            Should -Invoke New-ADUser -Times 0
            Test-Path -LiteralPath $PasswordFile | Should -BeFalse
            Test-Path -LiteralPath $Report | Should -BeFalse
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

        It 'validates the whole file first: one bad row, exit 2, nothing changed' {
            $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin', 'Bob;Bob;Durand'
            & $Script -Path $csv @Common 2>$null
            $LASTEXITCODE | Should -Be 2
            Should -Invoke New-ADUser -Times 0
            Test-Path -LiteralPath $Report | Should -BeFalse
        }
    }

    Context 'protected and built-in accounts are never touched' {
        It 'refuses a row naming <Case> (exit 2, nothing changed)' -ForEach @(
            @{ Case = 'the built-in Administrator (RID 500)'; Rid = 500; AdminCount = $null; Token = '' }
            @{ Case = 'krbtgt (RID 502)'; Rid = 502; AdminCount = $null; Token = '' }
            @{ Case = 'an account with adminCount=1'; Rid = 1200; AdminCount = 1; Token = '' }
            @{ Case = 'a nested member of Domain Admins'; Rid = 1201; AdminCount = $null; Token = '512' }
            @{ Case = 'a member of Backup Operators'; Rid = 1202; AdminCount = $null; Token = 'S-1-5-32-551' }
        ) {
            Mock Get-ADUser @relax { Get-TestUser -Rid $Rid -AdminCount $AdminCount } -ParameterFilter { $LDAPFilter -eq '(sAMAccountName=alice)' }
            if ($Token) {
                $sid = if ($Token -like 'S-*') { $Token } else { "$DomainSid-$Token" }
                Mock Get-ADUser @relax { [pscustomobject]@{ tokenGroups = @([System.Security.Principal.SecurityIdentifier]::new($sid)) } } -ParameterFilter { $Properties -contains 'tokenGroups' }
            }
            foreach ($state in @('present', 'absent')) {
                $csv = New-TestCsv -Line 'login;first_name;last_name;state', "alice;Alice;Martin;$state"
                & $Script -Path $csv @Common 2>$null
                $LASTEXITCODE | Should -Be 2
            }
            Should -Invoke Set-ADUser -Times 0
            Should -Invoke Disable-ADAccount -Times 0
            Should -Invoke Move-ADObject -Times 0
            Should -Invoke Remove-ADGroupMember -Times 0
        }
    }

    Context 'only managed groups change' {
        It 'refuses to put anyone in <Group> (exit 2)' -ForEach @(
            @{ Group = 'Domain Admins' }, @{ Group = 'Remote Desktop Users' }, @{ Group = 'all-staff' }, @{ Group = 'GG_Direction' }
        ) {
            $csv = New-TestCsv -Line 'login;first_name;last_name;windows_groups', "alice;Alice;Martin;$Group"
            & $Script -Path $csv @Common 2>$null
            $LASTEXITCODE | Should -Be 2
            Should -Invoke New-ADUser -Times 0
            Should -Invoke Add-ADGroupMember -Times 0
        }

        It 'manages no group at all without -ManagedGroupOu or -ManagedGroupPrefix' {
            $csv = New-TestCsv -Line 'login;first_name;last_name;groups', 'alice;Alice;Martin;compta'
            $common = $Common.Clone()
            $common.Remove('ManagedGroupOu')
            & $Script -Path $csv @common 2>$null
            $LASTEXITCODE | Should -Be 2
            Should -Invoke New-ADUser -Times 0
        }

        It 'manages a group named with -ManagedGroupPrefix outside the managed OU' {
            $csv = New-TestCsv -Line 'login;first_name;last_name;windows_groups', 'alice;Alice;Martin;GG_Direction'
            $out = & $Script -Path $csv @Common -ManagedGroupPrefix 'GG_'
            $LASTEXITCODE | Should -Be 0
            $out.Action | Should -Be 'Created'
            Should -Invoke Add-ADGroupMember -Times 1 -Exactly -ParameterFilter { $Identity -eq 'CN=GG_Direction,OU=Elsewhere,DC=corp,DC=example' }
        }

        It 'removes unlisted managed groups and leaves Domain Admins, Remote Desktop Users, lists and GPO groups alone' {
            $member = @("CN=old,$Groups", "CN=compta,$Groups", 'CN=Remote Desktop Users,CN=Builtin,DC=corp,DC=example',
                "CN=all-staff,$Groups", 'CN=GPO_Filter_Laptops,OU=GPO,DC=corp,DC=example')
            Mock Get-ADUser @relax { Get-TestUser -MemberOf $member } -ParameterFilter { $LDAPFilter -eq '(sAMAccountName=alice)' }
            $csv = New-TestCsv -Line 'login;first_name;last_name;groups', 'alice;Alice;Martin;compta'
            $out = & $Script -Path $csv @Common
            $out.Action | Should -Be 'Updated'
            Should -Invoke Remove-ADGroupMember -Times 1 -Exactly
            Should -Invoke Remove-ADGroupMember -Times 1 -Exactly -ParameterFilter { $Identity -eq "CN=old,$Groups" }
        }

        It 'takes AD group names with spaces and parentheses from windows_groups, escaped in the LDAP filter' {
            $csv = New-TestCsv -Line 'login;first_name;last_name;windows_groups', 'alice;Alice;Martin;GG_Compta Paris (RW)'
            $out = & $Script -Path $csv @Common
            $LASTEXITCODE | Should -Be 0
            $out.Changes | Should -Match '\+GG_Compta Paris \(RW\)'
            Should -Invoke Get-ADGroup -ParameterFilter { $LDAPFilter -eq '(sAMAccountName=GG_Compta Paris \28RW\29)' }
        }
    }

    Context 'identity' {
        It 'reports a login that belongs to someone else and changes nothing' {
            Mock Get-ADUser @relax { Get-TestUser -Given 'Eric' -Surname 'Martin' } -ParameterFilter { $LDAPFilter -eq '(sAMAccountName=alice)' }
            foreach ($state in @('present', 'absent')) {
                $csv = New-TestCsv -Line 'login;first_name;last_name;state', "alice;Alice;Martin;$state"
                & $Script -Path $csv @Common 2>$null
                $LASTEXITCODE | Should -Be 2
            }
            Should -Invoke Set-ADUser -Times 0
            Should -Invoke Disable-ADAccount -Times 0
            Should -Invoke New-ADUser -Times 0
        }

        It 'recognises the same person whatever the accents and case' {
            Mock Get-ADUser @relax { Get-TestUser -Sam 'edupont' -Given 'Elodie' -Surname 'DUPONT' } -ParameterFilter { $LDAPFilter -eq '(sAMAccountName=edupont)' }
            $csv = New-TestCsv -Line 'login;first_name;last_name', "edupont;$([char]0xC9)lodie;Dupont"
            $out = & $Script -Path $csv @Common
            $LASTEXITCODE | Should -Be 0
            $out.Action | Should -Be 'Updated'
            Should -Invoke Set-ADUser -Times 1 -Exactly -ParameterFilter { $GivenName -eq "$([char]0xC9)lodie" -and $Surname -eq 'Dupont' }
        }

        It 'reports an employee_id held by another account' {
            Mock Get-ADUser @relax { Get-TestUser -Sam 'amartin' -EmployeeId 'E042' } -ParameterFilter { $LDAPFilter -eq '(employeeID=E042)' }
            $csv = New-TestCsv -Line 'login;first_name;last_name;employee_id', 'alice;Alice;Martin;E042'
            & $Script -Path $csv @Common 2>$null
            $LASTEXITCODE | Should -Be 2
            Should -Invoke New-ADUser -Times 0
        }

        It 'never rewrites the UPN of an existing account unless a suffix is given' {
            Mock Get-ADUser @relax { Get-TestUser -Upn 'alice.martin@corp.example' } -ParameterFilter { $LDAPFilter -eq '(sAMAccountName=alice)' }
            $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin'
            $out = & $Script -Path $csv @Common
            $out.Action | Should -Be 'Unchanged'
            Should -Invoke Set-ADUser -Times 0
            & $Script -Path $csv @Common -UpnSuffix 'example.org' | Out-Null
            Should -Invoke Set-ADUser -Times 1 -Exactly -ParameterFilter { $UserPrincipalName -eq 'alice@example.org' }
        }

        It 'enables a returning leaver the kit disabled and moves it back out of the disabled OU' {
            Mock Get-ADUser @relax { Get-TestUser -Ou $Disabled -Enabled $false -Description 'Disabled by tssr-kit on 2026-01-02' } -ParameterFilter { $LDAPFilter -eq '(sAMAccountName=alice)' }
            $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin'
            $out = & $Script -Path $csv @Common
            $out.Action | Should -Be 'Updated'
            Should -Invoke Enable-ADAccount -Times 1 -Exactly
            Should -Invoke Move-ADObject -Times 1 -Exactly -ParameterFilter { $TargetPath -eq $Staff }
        }

        It 'leaves an account disabled by someone else disabled, and says so' {
            Mock Get-ADUser @relax { Get-TestUser -Ou $Disabled -Enabled $false -Description 'Locked: incident 4711' } -ParameterFilter { $LDAPFilter -eq '(sAMAccountName=alice)' }
            $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin'
            $out = & $Script -Path $csv @Common 3>$null
            $LASTEXITCODE | Should -Be 0
            $out.Action | Should -Be 'Held'
            Should -Invoke Enable-ADAccount -Times 0
            Should -Invoke Move-ADObject -Times 0
        }

        It 'catches homonyms going to one OU before any change' {
            $csv = New-TestCsv -Line 'login;first_name;last_name', 'amartin;Alice;Martin', 'amartin2;Alice;Martin'
            & $Script -Path $csv @Common 2>$null
            $LASTEXITCODE | Should -Be 2
            Should -Invoke New-ADUser -Times 0
        }

        It 'catches an object of the same name already in the OU' {
            Mock Get-ADObject { [pscustomobject]@{ DistinguishedName = "CN=Alice Martin,$Staff" } } -ParameterFilter { $LDAPFilter -eq '(name=Alice Martin)' }
            $csv = New-TestCsv -Line 'login;first_name;last_name', 'alice;Alice;Martin'
            & $Script -Path $csv @Common 2>$null
            $LASTEXITCODE | Should -Be 2
            Should -Invoke New-ADUser -Times 0
        }

        It 'catches a full name longer than an AD object name holds' {
            $csv = New-TestCsv -Line 'login;first_name;last_name', "alice;Alice;$('Martin' * 11)"
            & $Script -Path $csv @Common 2>$null
            $LASTEXITCODE | Should -Be 2
            Should -Invoke New-ADUser -Times 0
        }
    }
}
