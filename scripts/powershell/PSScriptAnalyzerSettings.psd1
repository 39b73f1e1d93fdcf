# PSScriptAnalyzer settings for the kit's PowerShell library (Invoke-ScriptAnalyzer -Settings this file).
# Used by .github/workflows/windows.yml (not run by the kit: no PowerShell on its machines). The kit's
# own gate (tssrkit/pslint, `inv lint-powershell`) checks the same ideas from a grammar, everywhere.
@{
    Severity     = @('Error', 'Warning')
    IncludeDefaultRules = $true
    Rules        = @{
        # Nothing that Windows PowerShell 5.1 or PowerShell 7 cannot parse.
        PSUseCompatibleSyntax = @{
            Enable         = $true
            TargetVersions = @('5.1', '7.0')
        }
        # No command, parameter or type missing from 5.1 on Windows Server 2019 or from 7 on Windows.
        # The ActiveDirectory module (RSAT) is not in the profiles: its cmdlets are checked by Pester with
        # the module installed (the workflow installs it).
        PSUseCompatibleCommands = @{
            Enable         = $true
            TargetProfiles = @(
                'win-8_x64_10.0.17763.0_5.1.17763.316_x64_4.0.30319.42000_framework',
                'win-8_x64_10.0.17763.0_7.0.0_x64_3.1.2_core'
            )
            IgnoreCommands = @(
                'Get-ADUser', 'Get-ADGroup', 'Get-ADObject', 'Get-ADDomain', 'Get-ADDomainController',
                'New-ADUser', 'Set-ADUser', 'Enable-ADAccount', 'Disable-ADAccount', 'Move-ADObject',
                'Add-ADGroupMember', 'Remove-ADGroupMember', 'New-ADOrganizationalUnit', 'Get-ADOrganizationalUnit',
                'New-ADGroup', 'Install-ADDSForest', 'Install-WindowsFeature'
            )
        }
        PSUseCompatibleTypes = @{
            Enable         = $true
            TargetProfiles = @(
                'win-8_x64_10.0.17763.0_5.1.17763.316_x64_4.0.30319.42000_framework',
                'win-8_x64_10.0.17763.0_7.0.0_x64_3.1.2_core'
            )
        }
    }
}
