<#
.SYNOPSIS
Creates, updates and disables Active Directory users from the kit's users CSV (the Linux provisioning's file).

.DESCRIPTION
Reads the same CSV as scripts/bash/users/provision-users.sh and scripts/python/provision_users.py
(docs/reference/users-csv.md), plus the optional AD columns ou, department, title, upn_suffix,
sam_account_name, windows_groups and employee_id (same page, section "PowerShell: Windows and Active
Directory"). The Linux-only columns shell and ssh_key are accepted and ignored.

Safety rails (whatever the CSV says):
- Protected and built-in accounts are never touched: RIDs 500, 501, 502, 503 (Administrator, Guest,
  krbtgt, DefaultAccount), adminCount=1 (AdminSDHolder), critical system objects, and members (nested
  too, read from tokenGroups) of Domain Admins, Enterprise Admins, Schema Admins, Administrators,
  Account/Server/Print/Backup Operators, Group Policy Creator Owners, Key Admins and the domain
  controllers' groups. A row that names one is a validation error.
- Only managed groups are changed: security groups under -ManagedGroupOu or whose name starts with
  -ManagedGroupPrefix, never a built-in, protected or system group, never a distribution list. A user's
  membership of any other group (Domain Admins, Remote Desktop Users, a GPO-filtering group…) is left
  as it is; a row that lists such a group is a validation error.
- One writable domain controller (-Server, or the one found at start) serves every read and write of
  the run, so a change is never read back from a DC that has not replicated it yet.

1. Validates the whole file, then every row against the directory, before the first change:
   - an existing account of that sAMAccountName is the same person (same first and last name, accents
     and case aside, or the same employee_id); a login that belongs to someone else is reported, never
     renamed or taken over; an employee_id held by another account is reported too;
   - the OU exists; the userPrincipalName is not another account's; the full name (cn) fits in 64
     characters and no other object of that name exists in the target OU, nor another row of the file
     going to the same OU (homonyms);
   - every listed group exists and is managed; -DisabledOu is given when a row is absent.
   Any problem: every problem listed (FILE:LINE:FIELD: message), nothing changed, exit 2.
2. state present: creates a missing user (enabled, a generated 20-character password recorded before
   the account exists, change at next logon, the UPN account@suffix) or brings an existing one in line
   (given name, surname, display name, department, title, employee ID; the UPN only when a suffix is
   given by -UpnSuffix or the upn_suffix column; the OU when the ou column is given). A disabled
   account is enabled again only if tssr-kit disabled it (its description says "Disabled by tssr-kit
   on ..."), then moved back out of -DisabledOu; an account disabled by someone else stays disabled and
   is reported. Managed groups as listed: added to the listed ones, removed from the other managed ones.
3. state absent (a leaver): disabled, moved to -DisabledOu, its description stamped
   "Disabled by tssr-kit on YYYY-MM-DD". A leaver that does not exist is left alone.
4. A second run with the same file changes nothing.

The account name (sAMAccountName) is sam_account_name, else the login: accents stripped, lower case,
cut at 20 characters; two rows giving the same name are a validation error (a collision).
Passwords go only to -PasswordFile (login;password), created new, readable by Administrators, SYSTEM and
the account running the script only; never to the output, the report, the event log or a command line.
Requires the ActiveDirectory module (RSAT) and rights to manage the OUs involved. Windows PowerShell 5.1
or PowerShell 7. Run it on a domain controller or a member server where you logged on interactively
(or with -Credential): over a key-based SSH login the session has no network credentials
(docs/howto/run-powershell-on-windows.md).

.PARAMETER Path
The users CSV file.

.PARAMETER DefaultOu
Distinguished name of the OU for new users whose row has no ou column value.

.PARAMETER DisabledOu
Distinguished name of the OU that receives leavers. Required when the file has a row with state absent.

.PARAMETER UpnSuffix
userPrincipalName suffix when the row has no upn_suffix (default for new users: the domain's DNS name).
Given, it is also applied to existing accounts; not given, an existing account's UPN is never changed.

.PARAMETER ManagedGroupOu
Distinguished names of the OUs whose security groups the kit manages (e.g. OU=Groups,DC=corp,DC=example).

.PARAMETER ManagedGroupPrefix
Name prefixes of the security groups the kit manages (e.g. GG_, DL_). A group is managed when it is
under a -ManagedGroupOu or its name starts with a -ManagedGroupPrefix. Neither given: no group is
managed, and a row that lists a group is a validation error.

.PARAMETER PasswordFile
Where generated passwords go (default
$env:ProgramData\tssr-kit\users\passwords-<UTC yyyyMMddTHHmmssZ>.csv). Must not exist. Created only
when a password is generated.

.PARAMETER ReportPath
The CSV report of the run: one line per row, Login, AccountName, Action (Created, Updated, Unchanged,
Disabled, Failed), Changes, Error. No password in it. Default:
$env:ProgramData\tssr-kit\users\ad-report-<UTC yyyyMMddTHHmmssZ>.csv.

.PARAMETER Server
The writable domain controller to use for the whole run (default: one found at start with
Get-ADDomainController -Discover -Writable, then kept).

.PARAMETER Credential
An account with rights on the OUs, when the current one has none.

.EXAMPLE
.\Sync-TssrAdUser.ps1 -Path .\users.csv -DefaultOu 'OU=Staff,DC=corp,DC=example' -DisabledOu 'OU=Disabled,DC=corp,DC=example' -ManagedGroupOu 'OU=Groups,DC=corp,DC=example' -WhatIf
The dry run: validates the file against the directory and says what would be created, updated or
disabled; changes nothing.

.EXAMPLE
.\Sync-TssrAdUser.ps1 -Path .\users.csv -DefaultOu 'OU=Staff,DC=corp,DC=example' -DisabledOu 'OU=Disabled,DC=corp,DC=example' -ManagedGroupPrefix 'GG_', 'DL_' -PasswordFile D:\secure\new-staff.csv -Verbose
Applies the file, narrating each change; only groups named GG_... or DL_... are managed; the new users'
passwords go to D:\secure\new-staff.csv.

.EXAMPLE
.\Sync-TssrAdUser.ps1 -Path .\users.csv -DefaultOu 'OU=Staff,DC=corp,DC=example' | Where-Object -Property Action -NE 'Unchanged'
Only the rows that changed something (the output is objects).

.OUTPUTS
PSCustomObject, one per row: Login, AccountName, Action (Created, Updated, Unchanged, Disabled, Held,
Failed), Changes, Error. Held: an account disabled by someone else, left disabled.

.NOTES
Exit codes: 0 success; 1 a change failed (the others were still tried; see the report); 2 usage or
validation error, nothing changed.
What it changes: AD user objects (create, attributes, enable/disable, OU), memberships of managed
groups, the password file, the report file. Event log: no (the directory keeps its own audit trail).
Why it never touches Domain Admins: a sync script runs often, unattended, from a file many people edit;
one wrong row must not be able to grant or remove domain-wide power (docs/lessons/05-powershell.md).
Part of tssr-kit (scripts/powershell). Tests: Sync-TssrAdUser.Tests.ps1 (Pester 5, AD cmdlets mocked).
#>
[CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
[OutputType([pscustomobject])]
param(
    [Parameter(Mandatory)]
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf })]
    [string]$Path,

    [ValidatePattern('^(?i)OU=[^,"]+(,(OU|DC)=[^,"]+)+$')]
    [string]$DefaultOu,

    [ValidatePattern('^(?i)OU=[^,"]+(,(OU|DC)=[^,"]+)+$')]
    [string]$DisabledOu,

    [ValidatePattern('^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$')]
    [string]$UpnSuffix,

    [ValidatePattern('^(?i)(OU|CN)=[^,"]+(,(OU|CN|DC)=[^,"]+)+$')]
    [string[]]$ManagedGroupOu = @(),

    [ValidatePattern('^[\p{L}\p{N}][\p{L}\p{N} _.-]{0,30}$')]
    [string[]]$ManagedGroupPrefix = @(),

    [ValidateNotNullOrEmpty()]
    [string]$PasswordFile = (Join-Path -Path $env:ProgramData -ChildPath ('tssr-kit\users\passwords-{0}.csv' -f [datetime]::UtcNow.ToString('yyyyMMddTHHmmssZ'))),

    [ValidateNotNullOrEmpty()]
    [string]$ReportPath = (Join-Path -Path $env:ProgramData -ChildPath ('tssr-kit\users\ad-report-{0}.csv' -f [datetime]::UtcNow.ToString('yyyyMMddTHHmmssZ'))),

    [ValidateNotNullOrEmpty()]
    [string]$Server,

    [System.Management.Automation.PSCredential]
    [System.Management.Automation.Credential()]
    $Credential = [System.Management.Automation.PSCredential]::Empty
)


Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

# Server and Credential, passed on to every AD cmdlet (the Server is pinned at start when not given).
$adArgs = @{}
if ($Server) { $adArgs['Server'] = $Server }
if ($Credential -ne [System.Management.Automation.PSCredential]::Empty) { $adArgs['Credential'] = $Credential }
$userProperties = @('GivenName', 'Surname', 'DisplayName', 'Department', 'Title', 'UserPrincipalName', 'Enabled',
    'DistinguishedName', 'Name', 'MemberOf', 'PrimaryGroup', 'Description', 'EmployeeID', 'adminCount',
    'isCriticalSystemObject', 'SID')
$groupProperties = @('GroupCategory', 'adminCount', 'isCriticalSystemObject', 'SID', 'DistinguishedName', 'SamAccountName')
$kitStamp = 'Disabled by tssr-kit on '
# Well-known accounts (RID): Administrator, Guest, krbtgt, DefaultAccount. Protected groups: the built-in
# ones by SID, the domain's by RID (Domain Admins 512, Domain Controllers 516, Schema Admins 518,
# Enterprise Admins 519, Group Policy Creator Owners 520, Read-only DCs 521, Key Admins 526,
# Enterprise Key Admins 527, Enterprise Read-only DCs 498). RIDs under 1000 are the domain's own groups.
$builtinAccountRids = @(500, 501, 502, 503)
$protectedBuiltinSids = @('S-1-5-32-544', 'S-1-5-32-548', 'S-1-5-32-549', 'S-1-5-32-550', 'S-1-5-32-551', 'S-1-5-32-552')
$protectedGroupRids = @(498, 512, 516, 518, 519, 520, 521, 526, 527)

function Get-TssrValue {
    <#
    .SYNOPSIS
    A property of an object, or $null when the object has no such property (Set-StrictMode safe).
    .DESCRIPTION
    AD objects carry only the properties asked for; reading another one is an error under strict mode.
    .PARAMETER InputObject
    The object.
    .PARAMETER Name
    The property.
    .EXAMPLE
    Get-TssrValue -InputObject $user -Name adminCount
    1, or $null.
    .EXAMPLE
    Get-TssrValue -InputObject ([pscustomobject]@{}) -Name x
    $null.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][AllowNull()][object]$InputObject, [Parameter(Mandatory)][string]$Name)
    if ($null -eq $InputObject) { return $null }
    $property = $InputObject.PSObject.Properties[$Name]
    if ($null -eq $property) { return $null }
    $property.Value
}

function ConvertTo-TssrLdapValue {
    <#
    .SYNOPSIS
    Escapes a value for an LDAP filter (RFC 4515): \ * ( ) and NUL.
    .DESCRIPTION
    Names with spaces, apostrophes or parentheses ("Remote Desktop Users", "Anne O'Brien") are data,
    never filter syntax.
    .PARAMETER Value
    The value.
    .EXAMPLE
    ConvertTo-TssrLdapValue -Value 'GG_Compta (Paris)'
    Returns GG_Compta \28Paris\29.
    .EXAMPLE
    "(sAMAccountName=$(ConvertTo-TssrLdapValue -Value $name))"
    A filter that matches that one name.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)][AllowEmptyString()][string]$Value)
    $builder = [System.Text.StringBuilder]::new()
    foreach ($ch in $Value.ToCharArray()) {
        switch ($ch) {
            '\' { [void]$builder.Append('\5c') }
            '*' { [void]$builder.Append('\2a') }
            '(' { [void]$builder.Append('\28') }
            ')' { [void]$builder.Append('\29') }
            ([char]0) { [void]$builder.Append('\00') }
            default { [void]$builder.Append($ch) }
        }
    }
    $builder.ToString()
}

function Get-TssrParentDn {
    <#
    .SYNOPSIS
    The parent container of a distinguished name.
    .DESCRIPTION
    Drops the first RDN (escaped commas respected).
    .PARAMETER DistinguishedName
    A DN.
    .EXAMPLE
    Get-TssrParentDn -DistinguishedName 'CN=Alice Martin,OU=Staff,DC=corp,DC=example'
    Returns OU=Staff,DC=corp,DC=example.
    .EXAMPLE
    Get-TssrParentDn -DistinguishedName 'CN=Martin\, Alice,OU=Staff,DC=corp,DC=example'
    Returns OU=Staff,DC=corp,DC=example (the escaped comma is part of the name).
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)][string]$DistinguishedName)
    ($DistinguishedName -split '(?<!\\),', 2)[1]
}

function Get-TssrRid {
    <#
    .SYNOPSIS
    The relative identifier (last number) of a SID, or -1.
    .DESCRIPTION
    Accepts a SecurityIdentifier or its string form.
    .PARAMETER Sid
    The SID.
    .EXAMPLE
    Get-TssrRid -Sid 'S-1-5-21-1-2-3-500'
    Returns 500.
    .EXAMPLE
    Get-TssrRid -Sid $null
    Returns -1.
    #>
    [CmdletBinding()]
    [OutputType([int])]
    param([Parameter(Mandatory)][AllowNull()][object]$Sid)
    $text = [string](Get-TssrValue -InputObject $Sid -Name Value)
    if (-not $text) { $text = [string]$Sid }
    if ($text -match '-(\d+)$') { return [int]$Matches[1] }
    -1
}

function Get-TssrProtectedReason {
    <#
    .SYNOPSIS
    Why an existing account must never be touched by the kit, or $null.
    .DESCRIPTION
    Built-in RID, adminCount=1, critical system object, or membership (nested too: tokenGroups) of a
    protected group.
    .PARAMETER Account
    The account as Get-ADUser returned it (with adminCount, isCriticalSystemObject, SID).
    .EXAMPLE
    Get-TssrProtectedReason -Account (Get-ADUser -Identity Administrator -Properties adminCount, SID)
    Returns 'a built-in account (RID 500)'.
    .EXAMPLE
    if (-not (Get-TssrProtectedReason -Account $user)) { 'the kit may manage it' }
    An ordinary account.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)][object]$Account)
    $rid = Get-TssrRid -Sid (Get-TssrValue -InputObject $Account -Name SID)
    if ($builtinAccountRids -contains $rid) { return "a built-in account (RID $rid)" }
    if ([string](Get-TssrValue -InputObject $Account -Name adminCount) -eq '1') { return 'protected by AdminSDHolder (adminCount=1)' }
    if ((Get-TssrValue -InputObject $Account -Name isCriticalSystemObject) -eq $true) { return 'a critical system object' }
    $withGroups = Get-ADUser @adArgs -Identity $Account.DistinguishedName -Properties tokenGroups -ErrorAction Stop
    foreach ($sid in @(Get-TssrValue -InputObject $withGroups -Name tokenGroups)) {
        $value = [string](Get-TssrValue -InputObject $sid -Name Value)
        if (-not $value) { $value = [string]$sid }
        if ($protectedBuiltinSids -contains $value -or ($value -like 'S-1-5-21-*' -and $protectedGroupRids -contains (Get-TssrRid -Sid $value))) {
            return "a member of a protected group ($value)"
        }
    }
    $null
}

function Get-TssrUnmanagedReason {
    <#
    .SYNOPSIS
    Why the kit may not change a group's members, or $null when the group is managed.
    .DESCRIPTION
    Managed: a security group under -ManagedGroupOu or named with a -ManagedGroupPrefix, and neither
    built-in, protected (adminCount=1), a system object, nor a domain group of RID under 1000.
    .PARAMETER Group
    The group as Get-ADGroup returned it.
    .EXAMPLE
    Get-TssrUnmanagedReason -Group (Get-ADGroup -Identity 'Domain Admins' -Properties adminCount, SID)
    Returns 'a built-in or protected group'.
    .EXAMPLE
    Get-TssrUnmanagedReason -Group $gg
    $null for GG_Compta under -ManagedGroupOu.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)][object]$Group)
    $sid = [string](Get-TssrValue -InputObject (Get-TssrValue -InputObject $Group -Name SID) -Name Value)
    $rid = Get-TssrRid -Sid $sid
    if ($sid -like 'S-1-5-32-*' -or ($rid -ge 0 -and $rid -lt 1000) -or [string](Get-TssrValue -InputObject $Group -Name adminCount) -eq '1' -or
        (Get-TssrValue -InputObject $Group -Name isCriticalSystemObject) -eq $true) {
        return 'a built-in or protected group'
    }
    if ([string](Get-TssrValue -InputObject $Group -Name GroupCategory) -ne 'Security') { return 'a distribution list' }
    $dn = [string]$Group.DistinguishedName
    foreach ($ou in $ManagedGroupOu) { if ($dn.EndsWith(",$ou", [System.StringComparison]::OrdinalIgnoreCase)) { return $null } }
    foreach ($prefix in $ManagedGroupPrefix) { if (([string]$Group.SamAccountName).StartsWith($prefix, [System.StringComparison]::OrdinalIgnoreCase)) { return $null } }
    'not under -ManagedGroupOu and without a -ManagedGroupPrefix'
}

function Test-TssrSamePerson {
    <#
    .SYNOPSIS
    Whether an existing account belongs to the person of a CSV row.
    .DESCRIPTION
    The same employee_id when both have one; otherwise the same first and last names, accents, case,
    spaces and punctuation aside (Get-TssrNameKey).
    .PARAMETER Row
    The CSV row (Import-TssrUserCsv).
    .PARAMETER Account
    The account (Get-ADUser).
    .EXAMPLE
    Test-TssrSamePerson -Row $row -Account $account
    $true for Élodie Dupont and an account of Elodie DUPONT.
    .EXAMPLE
    Test-TssrSamePerson -Row $row -Account $other
    $false for Élodie Dupont and an account of Eric Dupont.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param([Parameter(Mandatory)][object]$Row, [Parameter(Mandatory)][object]$Account)
    $employeeId = [string](Get-TssrValue -InputObject $Account -Name EmployeeID)
    if ($Row.EmployeeId -and $employeeId) { return $Row.EmployeeId -ceq $employeeId }
    $given = Get-TssrNameKey -Name ([string](Get-TssrValue -InputObject $Account -Name GivenName))
    $surname = Get-TssrNameKey -Name ([string](Get-TssrValue -InputObject $Account -Name Surname))
    ($given -eq (Get-TssrNameKey -Name $Row.FirstName)) -and ($surname -eq (Get-TssrNameKey -Name $Row.LastName))
}

function Get-TssrGroup {
    <#
    .SYNOPSIS
    A group by sAMAccountName or by distinguished name, cached for the run; $null when absent.
    .DESCRIPTION
    Reads the group's category, SID, adminCount and isCriticalSystemObject (for Get-TssrUnmanagedReason).
    .PARAMETER Name
    The group's sAMAccountName.
    .PARAMETER DistinguishedName
    The group's DN (from a user's memberOf).
    .EXAMPLE
    Get-TssrGroup -Name 'GG_Compta'
    The group object, or $null.
    .EXAMPLE
    Get-TssrGroup -DistinguishedName 'CN=GG_Compta,OU=Groups,DC=corp,DC=example'
    The same, by DN.
    #>
    [CmdletBinding()]
    param([string]$Name, [string]$DistinguishedName)
    $key = if ($Name) { "name:$($Name.ToLowerInvariant())" } else { "dn:$($DistinguishedName.ToLowerInvariant())" }
    if (-not $script:groupCache.ContainsKey($key)) {
        $filter = if ($Name) { "(sAMAccountName=$(ConvertTo-TssrLdapValue -Value $Name))" } else { "(distinguishedName=$(ConvertTo-TssrLdapValue -Value $DistinguishedName))" }
        $found = @(Get-ADGroup @adArgs -LDAPFilter $filter -Properties $groupProperties -ErrorAction Stop)
        $script:groupCache[$key] = if ($found.Count -gt 0) { $found[0] } else { $null }
    }
    $script:groupCache[$key]
}

function Invoke-TssrSync {
    <#
    .SYNOPSIS
    The whole run: outputs the rows' results and sets $script:exitCode (the script ends with one exit).
    .DESCRIPTION
    Validates, then applies, then writes the report.
    .EXAMPLE
    Invoke-TssrSync
    Runs with the script's parameters; $script:exitCode holds the exit code afterwards.
    .EXAMPLE
    Invoke-TssrSync -WhatIf
    The same, as a dry run.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    [OutputType([pscustomobject])]
    param()

    # ---- 1. the file ------------------------------------------------------------------------------
    # Not -Force: a module already loaded from this path (a test's mocks) is kept.
    Import-Module -Name (Join-Path -Path $PSScriptRoot -ChildPath 'TssrUserCsv.psm1') -ErrorAction Stop
    if (-not (Get-Command -Name Get-ADUser -ErrorAction SilentlyContinue)) {
        try { Import-Module -Name ActiveDirectory -ErrorAction Stop }
        catch { Write-Error -Message "the ActiveDirectory module (RSAT) is not available: $_" -ErrorAction Continue; $script:exitCode = 2; return }
    }
    $csv = Import-TssrUserCsv -Path $Path -DirectoryColumns
    $problems = [System.Collections.Generic.List[string]]::new()
    foreach ($p in $csv.Problems) { $problems.Add($p) }
    $fileName = Split-Path -Path $Path -Leaf
    if (Test-Path -LiteralPath $PasswordFile) { $problems.Add("PasswordFile: $PasswordFile already exists: the passwords of one run never mix with an older file") }

    # ---- 2. the directory (still no change) ---------------------------------------------------------
    if (-not $adArgs.ContainsKey('Server')) {
        # One writable DC for every read and write of the run: no read-back from a DC not yet replicated.
        $dc = Get-ADDomainController -Discover -Writable -Service ADWS -ErrorAction Stop
        $adArgs['Server'] = [string](@($dc.HostName)[0])
        Write-Verbose -Message "domain controller for this run: $($adArgs['Server'])"
    }
    $suffix = $UpnSuffix
    if (-not $suffix) { $suffix = (Get-ADDomain @adArgs -ErrorAction Stop).DNSRoot }
    foreach ($ou in $ManagedGroupOu) {
        if (@(Get-ADObject @adArgs -LDAPFilter "(distinguishedName=$(ConvertTo-TssrLdapValue -Value $ou))" -ErrorAction Stop).Count -eq 0) {
            $problems.Add("ManagedGroupOu: '$ou' does not exist")
        }
    }
    $script:groupCache = @{}
    $plans = [System.Collections.Generic.List[object]]::new()
    $ouExists = @{}
    $names = @{}   # "ou|cn" -> line: homonyms of the file
    foreach ($u in $csv.Users) {
        $where = "${fileName}:$($u.Line)"
        $before = $problems.Count
        $existing = @(Get-ADUser @adArgs -LDAPFilter "(sAMAccountName=$(ConvertTo-TssrLdapValue -Value $u.AccountName))" -Properties $userProperties -ErrorAction Stop)
        $current = if ($existing.Count -gt 0) { $existing[0] } else { $null }
        if ($null -ne $current) {
            if (-not (Test-TssrSamePerson -Row $u -Account $current)) {
                $problems.Add("${where}:login: '$($u.AccountName)' belongs to someone else ($($current.GivenName) $($current.Surname)): choose another login or sam_account_name (the kit never renames or takes over an account)")
                continue
            }
            $reason = Get-TssrProtectedReason -Account $current
            if ($reason) { $problems.Add("${where}:login: '$($u.AccountName)' is ${reason}: the kit never touches it"); continue }
        }
        if ($u.EmployeeId) {
            $holders = @(Get-ADUser @adArgs -LDAPFilter "(employeeID=$(ConvertTo-TssrLdapValue -Value $u.EmployeeId))" -ErrorAction Stop |
                    Where-Object -FilterScript { $_.SamAccountName -ne $u.AccountName })
            if ($holders.Count -gt 0) { $problems.Add("${where}:employee_id: '$($u.EmployeeId)' belongs to account '$($holders[0].SamAccountName)': a new login for a known person is not done by the kit") }
        }
        if ($u.State -eq 'absent') {
            if (-not $DisabledOu) { $problems.Add("${where}:state: a leaver needs -DisabledOu"); continue }
            $plans.Add([pscustomobject]@{ User = $u; Current = $current; Ou = $DisabledOu; Upn = $null }); continue
        }
        $ou = if ($u.Ou) { $u.Ou } else { $DefaultOu }
        if (-not $ou -and $null -eq $current) { $problems.Add("${where}:ou: no ou column value and no -DefaultOu for a new user"); continue }
        if ($ou -and -not $ouExists.ContainsKey($ou)) {
            $ouExists[$ou] = @(Get-ADObject @adArgs -LDAPFilter "(distinguishedName=$(ConvertTo-TssrLdapValue -Value $ou))" -ErrorAction Stop).Count -gt 0
        }
        if ($ou -and -not $ouExists[$ou]) { $problems.Add("${where}:ou: OU '$ou' does not exist"); continue }
        # Where the account will live: a new one in $ou; an existing one moves only when the row names an
        # OU, or when a leaver the kit disabled comes back from -DisabledOu.
        $parent = if ($null -ne $current) { Get-TssrParentDn -DistinguishedName $current.DistinguishedName } else { $null }
        $returning = $null -ne $current -and -not $current.Enabled -and ([string](Get-TssrValue -InputObject $current -Name Description)).StartsWith($kitStamp) -and $DisabledOu -and $parent -eq $DisabledOu
        $targetOu = if ($null -eq $current -or $u.Ou -or $returning) { $ou } else { $parent }
        $cn = "$($u.FirstName) $($u.LastName)"
        $key = "$($targetOu.ToLowerInvariant())|$($cn.ToLowerInvariant())"
        if ($names.ContainsKey($key)) { $problems.Add("${where}:last_name: '$cn' is also line $($names[$key]) in $targetOu (homonyms: give one an ou of its own)") }
        else { $names[$key] = $u.Line }
        $name = if ($null -ne $current) { [string]$current.Name } else { $null }
        if ($null -eq $current -or $targetOu -ne $parent -or $name -ne $cn) {
            $sameName = @(Get-ADObject @adArgs -LDAPFilter "(name=$(ConvertTo-TssrLdapValue -Value $cn))" -SearchBase $targetOu -SearchScope OneLevel -ErrorAction Stop |
                    Where-Object -FilterScript { $null -eq $current -or $_.DistinguishedName -ne $current.DistinguishedName })
            if ($sameName.Count -gt 0) { $problems.Add("${where}:last_name: an object named '$cn' already exists in $targetOu") }
        }
        # The UPN: set at creation; on an existing account only when a suffix is given.
        $upnSuffixOfRow = if ($u.UpnSuffix) { $u.UpnSuffix } elseif ($UpnSuffix -or $null -eq $current) { $suffix } else { $null }
        $upn = if ($upnSuffixOfRow) { "$($u.AccountName)@$upnSuffixOfRow" } else { $null }
        if ($upn) {
            $owners = @(Get-ADUser @adArgs -LDAPFilter "(userPrincipalName=$(ConvertTo-TssrLdapValue -Value $upn))" -ErrorAction Stop |
                    Where-Object -FilterScript { $_.SamAccountName -ne $u.AccountName })
            if ($owners.Count -gt 0) { $problems.Add("${where}:login: userPrincipalName '$upn' belongs to $($owners[0].SamAccountName)") }
        }
        foreach ($g in $u.Groups) {
            $group = Get-TssrGroup -Name $g
            if ($null -eq $group) { $problems.Add("${where}:groups: group '$g' does not exist in the directory"); continue }
            $reason = Get-TssrUnmanagedReason -Group $group
            if ($reason) { $problems.Add("${where}:groups: group '$g' is ${reason}: the kit does not manage it") }
        }
        if ($problems.Count -eq $before) { $plans.Add([pscustomobject]@{ User = $u; Current = $current; Ou = $targetOu; Upn = $upn }) }
    }
    if ($problems.Count -gt 0) {
        foreach ($p in $problems) { Write-Error -Message $p -ErrorAction Continue }
        Write-Verbose -Message "$($problems.Count) problem(s): nothing changed"
        $script:exitCode = 2
        return
    }

    # ---- 3. the changes ---------------------------------------------------------------------------------
    $results = [System.Collections.Generic.List[object]]::new()
    $passwordFileMade = $false
    $today = [datetime]::Now.ToString('yyyy-MM-dd')
    foreach ($plan in $plans) {
        $u = $plan.User
        $current = $plan.Current
        $changes = [System.Collections.Generic.List[string]]::new()
        $action = 'Unchanged'
        try {
            if ($u.State -eq 'absent') {
                if ($null -ne $current) {
                    if ($current.Enabled) {
                        if ($PSCmdlet.ShouldProcess($u.AccountName, 'Disable the account (leaver)')) {
                            Disable-ADAccount @adArgs -Identity $current.DistinguishedName -ErrorAction Stop
                            Set-ADUser @adArgs -Identity $current.DistinguishedName -Description "$kitStamp$today" -ErrorAction Stop
                        }
                        $changes.Add('disabled')
                    }
                    if ((Get-TssrParentDn -DistinguishedName $current.DistinguishedName) -ne $plan.Ou) {
                        if ($PSCmdlet.ShouldProcess($u.AccountName, "Move to $($plan.Ou)")) {
                            Move-ADObject @adArgs -Identity $current.DistinguishedName -TargetPath $plan.Ou -ErrorAction Stop
                        }
                        $changes.Add("moved to $($plan.Ou)")
                    }
                    if ($changes.Count -gt 0) { $action = 'Disabled' }
                }
            }
            elseif ($null -eq $current) {
                $action = 'Created'
                $changes.Add('created')
                if ($PSCmdlet.ShouldProcess($u.AccountName, "Create the user in $($plan.Ou)")) {
                    if (-not $passwordFileMade) {
                        New-TssrPasswordFile -Path $PasswordFile -ErrorAction Stop | Out-Null
                        $passwordFileMade = $true
                    }
                    $secure = New-TssrPassword
                    $newArgs = @{
                        Name                  = "$($u.FirstName) $($u.LastName)"
                        GivenName             = $u.FirstName
                        Surname               = $u.LastName
                        DisplayName           = "$($u.FirstName) $($u.LastName)"
                        SamAccountName        = $u.AccountName
                        UserPrincipalName     = $plan.Upn
                        Path                  = $plan.Ou
                        AccountPassword       = $secure
                        ChangePasswordAtLogon = $true
                        Enabled               = $true
                    }
                    if ($u.Department) { $newArgs['Department'] = $u.Department }
                    if ($u.Title) { $newArgs['Title'] = $u.Title }
                    if ($u.EmployeeId) { $newArgs['EmployeeID'] = $u.EmployeeId }
                    # The password is recorded first: if the creation then fails, the report says Failed and
                    # the line is harmless; the other order could leave an account whose password nobody has.
                    Add-TssrPasswordLine -Path $PasswordFile -Login $u.AccountName -Password $secure -ErrorAction Stop
                    New-ADUser @adArgs @newArgs -ErrorAction Stop
                    foreach ($g in $u.Groups) {
                        Add-ADGroupMember @adArgs -Identity (Get-TssrGroup -Name $g).DistinguishedName -Members $u.AccountName -ErrorAction Stop
                        $changes.Add("+$g")
                    }
                }
            }
            else {
                $wanted = @{
                    GivenName   = $u.FirstName
                    Surname     = $u.LastName
                    DisplayName = "$($u.FirstName) $($u.LastName)"
                }
                if ($plan.Upn) { $wanted['UserPrincipalName'] = $plan.Upn }
                if ($u.Department) { $wanted['Department'] = $u.Department }
                if ($u.Title) { $wanted['Title'] = $u.Title }
                if ($u.EmployeeId) { $wanted['EmployeeID'] = $u.EmployeeId }
                $replace = @{}
                foreach ($key in $wanted.Keys) { if ([string](Get-TssrValue -InputObject $current -Name $key) -cne $wanted[$key]) { $replace[$key] = $wanted[$key] } }
                if ($replace.Count -gt 0) {
                    if ($PSCmdlet.ShouldProcess($u.AccountName, "Set $($replace.Keys -join ', ')")) {
                        Set-ADUser @adArgs -Identity $current.DistinguishedName @replace -ErrorAction Stop
                    }
                    foreach ($key in $replace.Keys) { $changes.Add($key) }
                }
                $held = $false
                if (-not $current.Enabled) {
                    if (([string](Get-TssrValue -InputObject $current -Name Description)).StartsWith($kitStamp)) {
                        if ($PSCmdlet.ShouldProcess($u.AccountName, 'Enable the account (disabled by tssr-kit)')) {
                            Enable-ADAccount @adArgs -Identity $current.DistinguishedName -ErrorAction Stop
                            Set-ADUser @adArgs -Identity $current.DistinguishedName -Clear 'description' -ErrorAction Stop
                        }
                        $changes.Add('enabled')
                    }
                    else {
                        # Disabled by someone else (a security incident, a long leave): not the kit's call.
                        Write-Warning -Message "$($u.AccountName): disabled by someone else, left disabled"
                        $held = $true
                    }
                }
                $memberOf = @(Get-TssrValue -InputObject $current -Name MemberOf)
                foreach ($g in $u.Groups) {
                    $dn = (Get-TssrGroup -Name $g).DistinguishedName
                    if (@($memberOf | Where-Object -FilterScript { $_ -eq $dn }).Count -eq 0) {
                        if ($PSCmdlet.ShouldProcess($u.AccountName, "Add to group $g")) {
                            Add-ADGroupMember @adArgs -Identity $dn -Members $current.DistinguishedName -ErrorAction Stop
                        }
                        $changes.Add("+$g")
                    }
                }
                $wantedDns = @($u.Groups | ForEach-Object -Process { (Get-TssrGroup -Name $_).DistinguishedName })
                foreach ($dn in $memberOf) {
                    if (@($wantedDns | Where-Object -FilterScript { $_ -eq $dn }).Count -gt 0) { continue }
                    $group = Get-TssrGroup -DistinguishedName $dn
                    if ($null -eq $group -or (Get-TssrUnmanagedReason -Group $group)) { continue }  # not the kit's group
                    if ($PSCmdlet.ShouldProcess($u.AccountName, "Remove from group $dn")) {
                        Remove-ADGroupMember @adArgs -Identity $dn -Members $current.DistinguishedName -Confirm:$false -ErrorAction Stop
                    }
                    $changes.Add("-$($group.SamAccountName)")
                }
                $parent = Get-TssrParentDn -DistinguishedName $current.DistinguishedName
                if ($plan.Ou -ne $parent) {
                    if ($PSCmdlet.ShouldProcess($u.AccountName, "Move to $($plan.Ou)")) {
                        Move-ADObject @adArgs -Identity $current.DistinguishedName -TargetPath $plan.Ou -ErrorAction Stop
                    }
                    $changes.Add("moved to $($plan.Ou)")
                }
                if ($changes.Count -gt 0) { $action = 'Updated' }
                if ($held) { $action = 'Held'; $changes.Add('left disabled (not disabled by tssr-kit)') }
            }
            foreach ($c in $changes) { Write-Verbose -Message "$($u.AccountName): $c" }
            $results.Add([pscustomobject]@{ Login = $u.Login; AccountName = $u.AccountName; Action = $action; Changes = ($changes -join ' '); Error = '' })
        }
        catch {
            $message = $_.Exception.Message
            Write-Error -Message "$($u.AccountName): $message" -ErrorAction Continue
            $results.Add([pscustomobject]@{ Login = $u.Login; AccountName = $u.AccountName; Action = 'Failed'; Changes = ($changes -join ' '); Error = $message })
        }
    }

    # ---- 4. report, objects, exit code --------------------------------------------------------------
    if ($PSCmdlet.ShouldProcess($ReportPath, 'Write the report')) {
        $folder = Split-Path -Path $ReportPath -Parent
        if ($folder -and -not (Test-Path -LiteralPath $folder)) { New-Item -Path $folder -ItemType Directory -ErrorAction Stop | Out-Null }
        $results | Export-Csv -LiteralPath $ReportPath -NoTypeInformation -Delimiter ';' -Encoding utf8 -ErrorAction Stop
    }
    $results
    if (@($results | Where-Object -Property Action -EQ 'Failed').Count -gt 0) { $script:exitCode = 1 }
}

$script:exitCode = 0
try {
    Invoke-TssrSync
}
catch {
    Write-Error -Message "Sync-TssrAdUser: $($_.Exception.Message)" -ErrorAction Continue
    $script:exitCode = 1
}
exit $script:exitCode
