# Pester 5 tests of New-TssrLabDomain.ps1 with every AD, feature and CIM command mocked: nothing is
# installed or created. Run: Invoke-Pester -Path scripts/powershell (Windows, Pester 5.3+).

BeforeAll {
    $script:Script = Join-Path -Path $PSScriptRoot -ChildPath 'New-TssrLabDomain.ps1'
    $stub = {
        [CmdletBinding(SupportsShouldProcess)]
        param($Name, $Path, $LDAPFilter, $Identity, $Members, $GroupScope, $GroupCategory, $SamAccountName, $GivenName,
            $Surname, $Enabled, $DomainName, $DomainNetbiosName, [securestring]$SafeModeAdministratorPassword, [switch]$InstallDns,
            [switch]$Force, [switch]$IncludeManagementTools, $ProtectedFromAccidentalDeletion, $ClassName)
    }
    $script:Stubbed = @()
    foreach ($name in @('Get-ADObject', 'Get-ADDomain', 'Get-ADGroup', 'Get-ADGroupMember', 'Get-ADUser', 'New-ADOrganizationalUnit',
            'New-ADGroup', 'New-ADUser', 'Add-ADGroupMember', 'Install-WindowsFeature', 'Install-ADDSForest', 'Test-TssrElevated')) {
        if ($name -like '*-Tssr*' -or -not (Get-Command -Name $name -ErrorAction SilentlyContinue)) {
            Set-Item -Path "function:global:$name" -Value $stub
            $script:Stubbed += $name
        }
    }
    $script:Password = [securestring]::new()
}

AfterAll {
    foreach ($name in $script:Stubbed) { Remove-Item -Path "function:global:$name" }
}

Describe 'New-TssrLabDomain.ps1' {
    BeforeEach {
        $relax = @{ RemoveParameterType = @('Identity', 'Members', 'SafeModeAdministratorPassword') }
        Mock Test-TssrElevated { $true }
        Mock Get-CimInstance { [pscustomobject]@{ PartOfDomain = $false; Domain = 'WORKGROUP' } } -ParameterFilter { $ClassName -eq 'Win32_ComputerSystem' }
        Mock Get-CimInstance { [pscustomobject]@{ ProductType = 3 } } -ParameterFilter { $ClassName -eq 'Win32_OperatingSystem' }
        Mock Install-WindowsFeature { @() }
        Mock Install-ADDSForest @relax { @() }
        Mock Get-ADDomain { [pscustomobject]@{ DNSRoot = 'lab.tssr.test'; DistinguishedName = 'DC=lab,DC=tssr,DC=test'; DomainSID = [pscustomobject]@{ Value = 'S-1-5-21-1-2-3' } } }
        Mock Get-ADObject { @() }
        Mock Get-ADGroupMember @relax { @() }
        Mock Get-ADUser { @() }
        Mock Get-ADGroup @relax { [pscustomobject]@{ SID = [System.Security.Principal.SecurityIdentifier]::new('S-1-5-21-1-2-3-1200') } }
        Mock New-ADOrganizationalUnit { @() }
        Mock New-ADGroup { @() }
        Mock New-ADUser { @() }
        Mock Add-ADGroupMember @relax { @() }
    }

    It 'does nothing without -IAmOnAThrowAwayVm (exit 2)' {
        & $Script -SafeModePassword $Password 2>$null
        $LASTEXITCODE | Should -Be 2
        Should -Invoke Install-WindowsFeature -Times 0
        Should -Invoke Install-ADDSForest -Times 0
    }

    It 'refuses a machine of another domain and a workstation (exit 2)' -ForEach @(
        @{ System = @{ PartOfDomain = $true; Domain = 'corp.example' }; Product = 3 },
        @{ System = @{ PartOfDomain = $false; Domain = 'WORKGROUP' }; Product = 1 }
    ) {
        $system = [pscustomobject]$System
        $product = $Product
        Mock Get-CimInstance { $system } -ParameterFilter { $ClassName -eq 'Win32_ComputerSystem' }
        Mock Get-CimInstance { [pscustomobject]@{ ProductType = $product } } -ParameterFilter { $ClassName -eq 'Win32_OperatingSystem' }
        & $Script -IAmOnAThrowAwayVm -SafeModePassword $Password 2>$null
        $LASTEXITCODE | Should -Be 2
        Should -Invoke Install-ADDSForest -Times 0
    }

    It 'installs the role and the forest on a standalone server' {
        $out = & $Script -IAmOnAThrowAwayVm -SafeModePassword $Password -Confirm:$false
        $LASTEXITCODE | Should -Be 0
        $out.Step | Should -Be @('Role', 'Forest')
        Should -Invoke Install-ADDSForest -Times 1 -Exactly -ParameterFilter { $DomainName -eq 'lab.tssr.test' -and $InstallDns }
    }

    It 'creates the OUs, the AGDLP groups, the nesting and the protected account on the domain controller' {
        Mock Get-CimInstance { [pscustomobject]@{ ProductType = 2 } } -ParameterFilter { $ClassName -eq 'Win32_OperatingSystem' }
        Mock Get-CimInstance { [pscustomobject]@{ PartOfDomain = $true; Domain = 'lab.tssr.test' } } -ParameterFilter { $ClassName -eq 'Win32_ComputerSystem' }
        $share = Join-Path -Path $TestDrive -ChildPath 'Compta'
        $out = & $Script -IAmOnAThrowAwayVm -SharePath $share -WhatIf
        Should -Invoke Install-ADDSForest -Times 0
        @($out | Where-Object -Property Step -EQ 'Group').Count | Should -Be 6
        ($out | Where-Object -Property Target -Like 'CN=DL_Partage_Compta_RW,*').Action | Should -Be 'Created'
        Should -Invoke New-ADGroup -Times 0
        & $Script -IAmOnAThrowAwayVm -SharePath $share -Confirm:$false | Out-Null
        Should -Invoke New-ADGroup -Times 1 -Exactly -ParameterFilter { $Name -eq 'DL_Partage_Compta_RW' -and $GroupScope -eq 'DomainLocal' }
        Should -Invoke New-ADGroup -Times 1 -Exactly -ParameterFilter { $Name -eq 'Liste Tous' -and $GroupCategory -eq 'Distribution' }
        Should -Invoke Add-ADGroupMember -Times 1 -Exactly -ParameterFilter { "$Identity" -eq 'S-1-5-21-1-2-3-512' -and "$Members" -eq 'adm.lab' }
        Should -Invoke Add-ADGroupMember -Times 1 -Exactly -ParameterFilter { "$Identity" -eq 'DL_Partage_Compta_RW' -and "$Members" -eq 'GG_Compta' }
    }

    It 'changes nothing on a third run' {
        Mock Get-CimInstance { [pscustomobject]@{ ProductType = 2 } } -ParameterFilter { $ClassName -eq 'Win32_OperatingSystem' }
        Mock Get-CimInstance { [pscustomobject]@{ PartOfDomain = $true; Domain = 'lab.tssr.test' } } -ParameterFilter { $ClassName -eq 'Win32_ComputerSystem' }
        Mock Get-ADObject { [pscustomobject]@{ DistinguishedName = $LDAPFilter } }
        Mock Get-ADUser { [pscustomobject]@{ SamAccountName = 'adm.lab' } }
        Mock Get-ADGroupMember @relax { [pscustomobject]@{ SamAccountName = 'GG_Compta' }; [pscustomobject]@{ SamAccountName = 'GG_Direction' } }
        $out = & $Script -IAmOnAThrowAwayVm -SharePath $TestDrive -Confirm:$false
        @($out | Where-Object -Property Action -NE 'Exists').Count | Should -Be 0
        Should -Invoke New-ADGroup -Times 0
        Should -Invoke Add-ADGroupMember -Times 0
    }
}
