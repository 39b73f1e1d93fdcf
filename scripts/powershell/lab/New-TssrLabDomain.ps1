<#
.SYNOPSIS
Builds a throw-away test domain for lesson 5 on an evaluation VM: a new forest, the OUs and the AGDLP
groups the user sync expects. NOT RUN BY THE KIT: there is no Windows where the kit's tests run.

.DESCRIPTION
For a training VM only: a fresh Windows Server 2019/2022/2025 evaluation install, alone on an isolated
(host-only or NAT) network, snapshot taken first. It refuses to run without -IAmOnAThrowAwayVm, on a
workstation, on a machine that belongs to another domain, or without elevation.

Run it twice:
1. The first run installs the AD DS role and creates the forest -DomainName (with DNS). The VM reboots.
2. Log on again as the domain's Administrator and run the same command: it creates, under OU=TSSR,
   - OU=Staff (and OU=Compta inside), OU=Disabled, OU=Groups, OU=GPO;
   - the AGDLP groups in OU=Groups: global groups GG_Compta and GG_Direction (people), domain local
     groups DL_Partage_Compta_RW and DL_Partage_Compta_RO (rights), GG_Compta a member of
     DL_Partage_Compta_RW, GG_Direction of DL_Partage_Compta_RO;
   - what the sync must never touch: a distribution list "Liste Tous" in OU=Groups, a GPO-filtering
     group GPO_Filtre_Portables in OU=GPO, and adm.lab, a disabled account in Domain Admins;
   - the folder -SharePath whose access list gives DL_Partage_Compta_RW Modify and DL_Partage_Compta_RO
     Read, by SID (the names of built-in groups differ with the language of Windows; SIDs do not).
Each step asks for confirmation (-Confirm:$false to skip the questions). Each object is created only
if missing: a third run changes nothing. Lesson 5 (docs/lessons/05-powershell.md)
then runs Sync-TssrAdUser.ps1 against it.

.PARAMETER DomainName
The DNS name of the new forest (default lab.tssr.test: .test is reserved for tests, never on the Internet).

.PARAMETER NetbiosName
The NetBIOS name of the domain (default TSSRLAB).

.PARAMETER SafeModePassword
The Directory Services Restore Mode password, as a SecureString. Asked for when not given.

.PARAMETER SharePath
The folder of the example share (default C:\Partages\Compta).

.PARAMETER IAmOnAThrowAwayVm
Says that this machine is a disposable lab VM. Without it, nothing is done.

.EXAMPLE
.\New-TssrLabDomain.ps1 -IAmOnAThrowAwayVm -WhatIf
Says what it would install or create, changes nothing.

.EXAMPLE
.\New-TssrLabDomain.ps1 -IAmOnAThrowAwayVm -Verbose
First run: AD DS and the forest, then a reboot. Second run, after logging on as LAB\Administrator: the
OUs, groups, accounts and share folder.

.OUTPUTS
PSCustomObject, one per step: Step, Target, Action (Created, Exists, Installed, Planned).

.NOTES
Exit codes: 0 success; 1 a step failed; 2 refused (not a throw-away VM, a workstation, another domain,
not elevated).
What it changes: EVERYTHING a new forest changes (the machine becomes a domain controller; DNS server),
then AD objects under OU=TSSR and the share folder. Never run it on a machine you care about.
Not run by the kit (no Windows here); Pester tests with every AD and feature cmdlet mocked:
New-TssrLabDomain.Tests.ps1.
#>
[CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
[OutputType([pscustomobject])]
param(
    [ValidatePattern('^[a-z0-9-]+(\.[a-z0-9-]+)+$')]
    [string]$DomainName = 'lab.tssr.test',

    [ValidatePattern('^[A-Z0-9-]{1,15}$')]
    [string]$NetbiosName = 'TSSRLAB',

    [securestring]$SafeModePassword,

    [ValidateNotNullOrEmpty()]
    [string]$SharePath = 'C:\Partages\Compta',

    [switch]$IAmOnAThrowAwayVm
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

function Test-TssrElevated {
    <#
    .SYNOPSIS
    Whether this session runs elevated (as an administrator).
    .DESCRIPTION
    The token's Administrators group is enabled only in an elevated session.
    .EXAMPLE
    Test-TssrElevated
    $true in "Run as administrator".
    .EXAMPLE
    if (-not (Test-TssrElevated)) { 'elevate first' }
    The script's check.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param()
    $principal = [System.Security.Principal.WindowsPrincipal]::new([System.Security.Principal.WindowsIdentity]::GetCurrent())
    $principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
}

function New-TssrLabObject {
    <#
    .SYNOPSIS
    Creates one OU or group when it is missing; outputs what was done.
    .DESCRIPTION
    Looks the object up by its distinguished name first: a second run changes nothing.
    .PARAMETER Kind
    OrganizationalUnit or Group.
    .PARAMETER Name
    The object's name.
    .PARAMETER Path
    The DN of its parent.
    .PARAMETER GroupScope
    Global, DomainLocal or Universal (groups).
    .PARAMETER GroupCategory
    Security or Distribution (groups).
    .EXAMPLE
    New-TssrLabObject -Kind Group -Name GG_Compta -Path 'OU=Groups,OU=TSSR,DC=lab,DC=tssr,DC=test' -GroupScope Global
    Creates the global group.
    .EXAMPLE
    New-TssrLabObject -Kind OrganizationalUnit -Name Staff -Path 'OU=TSSR,DC=lab,DC=tssr,DC=test' -WhatIf
    Says so.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    [OutputType([pscustomobject])]
    param(
        [Parameter(Mandatory)][ValidateSet('OrganizationalUnit', 'Group')][string]$Kind,
        [Parameter(Mandatory)][string]$Name,
        [Parameter(Mandatory)][string]$Path,
        [ValidateSet('Global', 'DomainLocal', 'Universal')][string]$GroupScope = 'Global',
        [ValidateSet('Security', 'Distribution')][string]$GroupCategory = 'Security'
    )
    $prefix = if ($Kind -eq 'OrganizationalUnit') { 'OU' } else { 'CN' }
    $dn = "$prefix=$Name,$Path"
    $found = @(Get-ADObject -LDAPFilter "(distinguishedName=$dn)" -ErrorAction Stop)
    $action = 'Exists'
    if ($found.Count -eq 0) {
        $action = 'Created'
        if ($PSCmdlet.ShouldProcess($dn, "Create the $Kind")) {
            if ($Kind -eq 'OrganizationalUnit') { New-ADOrganizationalUnit -Name $Name -Path $Path -ProtectedFromAccidentalDeletion $false -ErrorAction Stop }
            else { New-ADGroup -Name $Name -SamAccountName $Name -Path $Path -GroupScope $GroupScope -GroupCategory $GroupCategory -ErrorAction Stop }
        }
    }
    [pscustomobject]@{ Step = $Kind; Target = $dn; Action = $action }
}

function Invoke-TssrLab {
    <#
    .SYNOPSIS
    The whole run: refuses, or installs the forest, or fills it; sets $script:exitCode.
    .DESCRIPTION
    Which phase runs depends on what the machine is: a member server or standalone (install the forest),
    a domain controller of -DomainName (create the objects).
    .EXAMPLE
    Invoke-TssrLab
    Runs with the script's parameters.
    .EXAMPLE
    Invoke-TssrLab -WhatIf
    The same, as a dry run.
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    [OutputType([pscustomobject])]
    param()
    $system = Get-CimInstance -ClassName Win32_ComputerSystem -ErrorAction Stop
    $os = Get-CimInstance -ClassName Win32_OperatingSystem -ErrorAction Stop
    $problems = @()
    if (-not $IAmOnAThrowAwayVm) { $problems += 'this script turns the machine into the first DC of a new forest: give -IAmOnAThrowAwayVm on a disposable lab VM only' }
    if ([int]$os.ProductType -eq 1) { $problems += 'this is a workstation: use a Windows Server evaluation VM' }
    if ($system.PartOfDomain -and $system.Domain -ne $DomainName) { $problems += "this machine belongs to the domain $($system.Domain): never on a real domain" }
    if (-not (Test-TssrElevated)) { $problems += 'run it elevated (Run as administrator)' }
    if ($problems.Count -gt 0) {
        foreach ($p in $problems) { Write-Error -Message $p -ErrorAction Continue }
        $script:exitCode = 2
        return
    }

    # ---- phase 1: the forest -----------------------------------------------------------------------
    if ([int]$os.ProductType -ne 2) {
        if ($null -eq $SafeModePassword) { $SafeModePassword = Read-Host -Prompt 'Directory Services Restore Mode password' -AsSecureString }
        if ($PSCmdlet.ShouldProcess($env:COMPUTERNAME, 'Install the AD DS role')) {
            Install-WindowsFeature -Name AD-Domain-Services -IncludeManagementTools -ErrorAction Stop | Out-Null
        }
        [pscustomobject]@{ Step = 'Role'; Target = 'AD-Domain-Services'; Action = 'Installed' }
        if ($PSCmdlet.ShouldProcess($DomainName, 'Create the forest (the machine reboots)')) {
            Install-ADDSForest -DomainName $DomainName -DomainNetbiosName $NetbiosName -SafeModeAdministratorPassword $SafeModePassword -InstallDns -Force -ErrorAction Stop | Out-Null
        }
        [pscustomobject]@{ Step = 'Forest'; Target = $DomainName; Action = 'Installed' }
        Write-Verbose -Message 'after the reboot, log on as the domain Administrator and run this script again'
        return
    }

    # ---- phase 2: OUs, AGDLP groups, what the sync must never touch -----------------------------------
    $domain = Get-ADDomain -ErrorAction Stop
    if ($domain.DNSRoot -ne $DomainName) {
        Write-Error -Message "this is a domain controller of $($domain.DNSRoot), not of $DomainName" -ErrorAction Continue
        $script:exitCode = 2
        return
    }
    $root = "OU=TSSR,$($domain.DistinguishedName)"
    New-TssrLabObject -Kind OrganizationalUnit -Name TSSR -Path $domain.DistinguishedName
    foreach ($ou in @('Staff', 'Disabled', 'Groups', 'GPO')) { New-TssrLabObject -Kind OrganizationalUnit -Name $ou -Path $root }
    New-TssrLabObject -Kind OrganizationalUnit -Name Compta -Path "OU=Staff,$root"
    $groups = "OU=Groups,$root"
    New-TssrLabObject -Kind Group -Name GG_Compta -Path $groups -GroupScope Global
    New-TssrLabObject -Kind Group -Name GG_Direction -Path $groups -GroupScope Global
    New-TssrLabObject -Kind Group -Name DL_Partage_Compta_RW -Path $groups -GroupScope DomainLocal
    New-TssrLabObject -Kind Group -Name DL_Partage_Compta_RO -Path $groups -GroupScope DomainLocal
    New-TssrLabObject -Kind Group -Name 'Liste Tous' -Path $groups -GroupScope Universal -GroupCategory Distribution
    New-TssrLabObject -Kind Group -Name GPO_Filtre_Portables -Path "OU=GPO,$root" -GroupScope Global
    foreach ($pair in @(@('DL_Partage_Compta_RW', 'GG_Compta'), @('DL_Partage_Compta_RO', 'GG_Direction'))) {
        $members = @(Get-ADGroupMember -Identity $pair[0] -ErrorAction Stop | ForEach-Object -Process { $_.SamAccountName })
        $action = 'Exists'
        if ($members -notcontains $pair[1]) {
            $action = 'Created'
            if ($PSCmdlet.ShouldProcess($pair[0], "Add $($pair[1]) (AGDLP: the people group into the rights group)")) {
                Add-ADGroupMember -Identity $pair[0] -Members $pair[1] -ErrorAction Stop
            }
        }
        [pscustomobject]@{ Step = 'Nesting'; Target = "$($pair[1]) in $($pair[0])"; Action = $action }
    }
    # A disabled account in Domain Admins: lesson 5 shows the sync refusing it.
    $admin = @(Get-ADUser -LDAPFilter '(sAMAccountName=adm.lab)' -ErrorAction Stop)
    $action = 'Exists'
    if ($admin.Count -eq 0) {
        $action = 'Created'
        if ($PSCmdlet.ShouldProcess('adm.lab', 'Create a disabled account in Domain Admins')) {
            New-ADUser -Name 'Adm Lab' -GivenName 'Adm' -Surname 'Lab' -SamAccountName 'adm.lab' -Path "OU=Staff,$root" -Enabled $false -ErrorAction Stop
            Add-ADGroupMember -Identity "$($domain.DomainSID.Value)-512" -Members 'adm.lab' -ErrorAction Stop
        }
    }
    [pscustomobject]@{ Step = 'Protected account'; Target = 'adm.lab'; Action = $action }
    # The share folder: rights to the domain local groups, by SID.
    $action = 'Exists'
    if (-not (Test-Path -LiteralPath $SharePath)) {
        $action = 'Created'
        if ($PSCmdlet.ShouldProcess($SharePath, 'Create the folder; Modify for DL_Partage_Compta_RW, Read for DL_Partage_Compta_RO')) {
            New-Item -Path $SharePath -ItemType Directory -ErrorAction Stop | Out-Null
            $acl = Get-Acl -LiteralPath $SharePath
            foreach ($right in @(@('DL_Partage_Compta_RW', 'Modify'), @('DL_Partage_Compta_RO', 'ReadAndExecute'))) {
                $sid = (Get-ADGroup -Identity $right[0] -ErrorAction Stop).SID
                $acl.AddAccessRule([System.Security.AccessControl.FileSystemAccessRule]::new($sid, $right[1], 'ContainerInherit, ObjectInherit', 'None', 'Allow'))
            }
            Set-Acl -LiteralPath $SharePath -AclObject $acl -ErrorAction Stop
        }
    }
    [pscustomobject]@{ Step = 'Share folder'; Target = $SharePath; Action = $action }
}

$script:exitCode = 0
try {
    Invoke-TssrLab
}
catch {
    Write-Error -Message "New-TssrLabDomain: $($_.Exception.Message)" -ErrorAction Continue
    $script:exitCode = 1
}
exit $script:exitCode
