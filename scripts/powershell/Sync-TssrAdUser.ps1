<#
.SYNOPSIS
Creates, updates and disables Active Directory users from the kit's users CSV (the Linux provisioning's file).

.DESCRIPTION
Reads the same CSV as scripts/bash/users/provision-users.sh and scripts/python/provision_users.py
(docs/reference/users-csv.md), plus the optional AD columns ou, department, title, upn_suffix and
sam_account_name (same page, section "PowerShell: Windows and Active Directory"). The Linux-only
columns shell and ssh_key are accepted and ignored, so one file serves both worlds.

1. Validates the whole file, then every row against the directory (OUs and groups exist, the
   userPrincipalName is not another account's, the name is free in its OU), before the first change.
   Any problem: every problem listed (FILE:LINE:FIELD: message), nothing changed, exit 2.
2. state present: creates a missing user (enabled, a generated 20-character password, change at next
   logon — only at creation, as ActiveDirectoryDsc's ADUser does), or brings an existing one in line
   (given name, surname, display name, department, title, UPN, OU when the ou column is given; a
   disabled account is enabled again and, if it sits in -DisabledOu, moved back to its OU, the
   "Disabled by tssr-kit" stamp cleared). Group membership is set as listed: added to the listed groups,
   removed from every other group (the primary group, Domain Users, is kept).
3. state absent (a leaver): disabled, moved to -DisabledOu, its description stamped
   "Disabled by tssr-kit on YYYY-MM-DD". A leaver that does not exist is left alone.
4. A second run with the same file changes nothing.

The account name (sAMAccountName) is sam_account_name, else the login: accents stripped, lower case,
cut at 20 characters; two rows giving the same name are a validation error (a collision).
Passwords go only to -PasswordFile (login;password), created new, readable by Administrators, SYSTEM and
the account running the script only; never to the output, the report, the event log or a command line.
Requires the ActiveDirectory module (RSAT) and rights to manage the OUs involved. Windows PowerShell 5.1
or PowerShell 7.

.PARAMETER Path
The users CSV file.

.PARAMETER DefaultOu
Distinguished name of the OU for new users whose row has no ou column value.

.PARAMETER DisabledOu
Distinguished name of the OU that receives leavers. Required when the file has a row with state absent.

.PARAMETER UpnSuffix
userPrincipalName suffix when the row has no upn_suffix (default: the domain's DNS name).

.PARAMETER PasswordFile
Where generated passwords go (default
$env:ProgramData\tssr-kit\users\passwords-<UTC yyyyMMddTHHmmssZ>.csv). Must not exist. Created only
when a password is generated.

.PARAMETER ReportPath
The CSV report of the run: one line per row, Login, AccountName, Action (Created, Updated, Unchanged,
Disabled, Failed), Changes, Error. No password in it. Default:
$env:ProgramData\tssr-kit\users\ad-report-<UTC yyyyMMddTHHmmssZ>.csv.

.PARAMETER Server
A domain controller to talk to (default: the one the AD module finds).

.PARAMETER Credential
An account with rights on the OUs, when the current one has none.

.EXAMPLE
.\Sync-TssrAdUser.ps1 -Path .\users.csv -DefaultOu 'OU=Staff,DC=corp,DC=example' -DisabledOu 'OU=Disabled,DC=corp,DC=example' -WhatIf
The dry run: validates the file against the directory and says what would be created, updated or
disabled; changes nothing.

.EXAMPLE
.\Sync-TssrAdUser.ps1 -Path .\users.csv -DefaultOu 'OU=Staff,DC=corp,DC=example' -DisabledOu 'OU=Disabled,DC=corp,DC=example' -PasswordFile D:\secure\new-staff.csv -Verbose
Applies the file, narrating each change; the new users' passwords go to D:\secure\new-staff.csv.

.EXAMPLE
.\Sync-TssrAdUser.ps1 -Path .\users.csv -DefaultOu 'OU=Staff,DC=corp,DC=example' | Where-Object -Property Action -NE 'Unchanged'
Only the rows that changed something (the output is objects).

.OUTPUTS
PSCustomObject, one per row: Login, AccountName, Action, Changes, Error.

.NOTES
Exit codes: 0 success; 1 a change failed (the others were still tried; see the report); 2 usage or
validation error, nothing changed.
What it changes: AD user objects (create, attributes, enable/disable, OU), group memberships, the
password file, the report file. Event log: no (the directory keeps its own audit trail).
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

# Server and Credential, passed on to every AD cmdlet when given.
$adArgs = @{}
if ($Server) { $adArgs['Server'] = $Server }
if ($Credential -ne [System.Management.Automation.PSCredential]::Empty) { $adArgs['Credential'] = $Credential }
$userProperties = @('GivenName', 'Surname', 'DisplayName', 'Department', 'Title', 'UserPrincipalName', 'Enabled',
    'DistinguishedName', 'MemberOf', 'PrimaryGroup', 'Description')

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
    Import-Module -Name (Join-Path -Path $PSScriptRoot -ChildPath 'TssrUserCsv.psm1') -Force -ErrorAction Stop
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
    $suffix = $UpnSuffix
    if (-not $suffix) { $suffix = (Get-ADDomain @adArgs -ErrorAction Stop).DNSRoot }
    $plans = [System.Collections.Generic.List[object]]::new()
    $ouExists = @{}
    $groupDn = @{}
    foreach ($u in $csv.Users) {
        $where = "${fileName}:$($u.Line)"
        $existing = @(Get-ADUser @adArgs -Filter "SamAccountName -eq '$($u.AccountName)'" -Properties $userProperties -ErrorAction Stop)
        $current = if ($existing.Count -gt 0) { $existing[0] } else { $null }
        $ou = if ($u.Ou) { $u.Ou } else { $DefaultOu }
        $targetOu = if ($u.State -eq 'absent') { $DisabledOu } else { $ou }
        if ($u.State -eq 'absent' -and -not $DisabledOu) { $problems.Add("${where}:state: a leaver needs -DisabledOu"); continue }
        if ($u.State -eq 'absent' -and $null -eq $current) { $plans.Add([pscustomobject]@{ User = $u; Current = $null; Ou = $null; Upn = $null }); continue }
        if (-not $targetOu -and $null -eq $current) { $problems.Add("${where}:ou: no ou column value and no -DefaultOu for a new user"); continue }
        if ($targetOu -and -not $ouExists.ContainsKey($targetOu)) {
            # DNs and names are validated without double quotes, so they can sit inside "…" in an AD filter.
            $found = @(Get-ADOrganizationalUnit @adArgs -Filter "DistinguishedName -eq `"$targetOu`"" -ErrorAction Stop)
            $ouExists[$targetOu] = $found.Count -gt 0
        }
        if ($targetOu -and -not $ouExists[$targetOu]) { $problems.Add("${where}:ou: OU '$targetOu' does not exist"); continue }
        $upnSuffixOfRow = if ($u.UpnSuffix) { $u.UpnSuffix } else { $suffix }
        $upn = "$($u.AccountName)@$upnSuffixOfRow"
        $owners = @(Get-ADUser @adArgs -Filter "UserPrincipalName -eq '$upn'" -ErrorAction Stop |
                Where-Object -FilterScript { $_.SamAccountName -ne $u.AccountName })
        if ($owners.Count -gt 0) { $problems.Add("${where}:login: userPrincipalName '$upn' belongs to $($owners[0].SamAccountName)") }
        if ($null -eq $current) {
            $cn = "$($u.FirstName) $($u.LastName)"
            $sameName = @(Get-ADObject @adArgs -Filter "Name -eq `"$cn`"" -SearchBase $targetOu -SearchScope OneLevel -ErrorAction Stop)
            if ($sameName.Count -gt 0) { $problems.Add("${where}:last_name: an object named '$cn' already exists in $targetOu") }
        }
        if ($u.State -eq 'present') {
            foreach ($g in $u.Groups) {
                if (-not $groupDn.ContainsKey($g)) {
                    $found = @(Get-ADGroup @adArgs -Filter "SamAccountName -eq '$g'" -ErrorAction Stop)
                    $groupDn[$g] = if ($found.Count -gt 0) { $found[0].DistinguishedName } else { $null }
                }
                if (-not $groupDn[$g]) { $problems.Add("${where}:groups: group '$g' does not exist in the directory") }
            }
        }
        $plans.Add([pscustomobject]@{ User = $u; Current = $current; Ou = $targetOu; Upn = $upn })
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
                    if ($current.Enabled -and $PSCmdlet.ShouldProcess($u.AccountName, 'Disable the account (leaver)')) {
                        Disable-ADAccount @adArgs -Identity $current.DistinguishedName -ErrorAction Stop
                        Set-ADUser @adArgs -Identity $current.DistinguishedName -Description "Disabled by tssr-kit on $today" -ErrorAction Stop
                        $changes.Add('disabled')
                    }
                    elseif ($current.Enabled) { $changes.Add('disabled') }
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
                    # The password is recorded first: if the creation then fails, the report says Failed and
                    # the line is harmless; the other order could leave an account whose password nobody has.
                    Add-TssrPasswordLine -Path $PasswordFile -Login $u.AccountName -Password $secure -ErrorAction Stop
                    New-ADUser @adArgs @newArgs -ErrorAction Stop
                    foreach ($g in $u.Groups) {
                        Add-ADGroupMember @adArgs -Identity $groupDn[$g] -Members $u.AccountName -ErrorAction Stop
                        $changes.Add("+$g")
                    }
                }
            }
            else {
                $wanted = @{
                    GivenName         = $u.FirstName
                    Surname           = $u.LastName
                    DisplayName       = "$($u.FirstName) $($u.LastName)"
                    UserPrincipalName = $plan.Upn
                }
                if ($u.Department) { $wanted['Department'] = $u.Department }
                if ($u.Title) { $wanted['Title'] = $u.Title }
                $replace = @{}
                foreach ($key in $wanted.Keys) { if ([string]$current.$key -cne $wanted[$key]) { $replace[$key] = $wanted[$key] } }
                if ($replace.Count -gt 0) {
                    if ($PSCmdlet.ShouldProcess($u.AccountName, "Set $($replace.Keys -join ', ')")) {
                        Set-ADUser @adArgs -Identity $current.DistinguishedName @replace -ErrorAction Stop
                    }
                    foreach ($key in $replace.Keys) { $changes.Add($key) }
                }
                if (-not $current.Enabled) {
                    if ($PSCmdlet.ShouldProcess($u.AccountName, 'Enable the account')) {
                        Enable-ADAccount @adArgs -Identity $current.DistinguishedName -ErrorAction Stop
                        if ([string]$current.Description -like 'Disabled by tssr-kit on *') {
                            Set-ADUser @adArgs -Identity $current.DistinguishedName -Clear 'description' -ErrorAction Stop
                        }
                    }
                    $changes.Add('enabled')
                }
                $wantedDns = @($u.Groups | ForEach-Object -Process { $groupDn[$_] })
                $memberOf = @($current.MemberOf)
                foreach ($g in $u.Groups) {
                    if ($memberOf -notcontains $groupDn[$g]) {
                        if ($PSCmdlet.ShouldProcess($u.AccountName, "Add to group $g")) {
                            Add-ADGroupMember @adArgs -Identity $groupDn[$g] -Members $current.DistinguishedName -ErrorAction Stop
                        }
                        $changes.Add("+$g")
                    }
                }
                foreach ($dn in $memberOf) {
                    if ($wantedDns -notcontains $dn -and $dn -ne $current.PrimaryGroup) {
                        if ($PSCmdlet.ShouldProcess($u.AccountName, "Remove from group $dn")) {
                            Remove-ADGroupMember @adArgs -Identity $dn -Members $current.DistinguishedName -Confirm:$false -ErrorAction Stop
                        }
                        $changes.Add("-$dn")
                    }
                }
                # Moved when the row names an OU, or when a returning leaver still sits in the disabled OU.
                $parent = Get-TssrParentDn -DistinguishedName $current.DistinguishedName
                $returning = $DisabledOu -and $parent -eq $DisabledOu
                if ($plan.Ou -and ($u.Ou -or $returning) -and $parent -ne $plan.Ou) {
                    if ($PSCmdlet.ShouldProcess($u.AccountName, "Move to $($plan.Ou)")) {
                        Move-ADObject @adArgs -Identity $current.DistinguishedName -TargetPath $plan.Ou -ErrorAction Stop
                    }
                    $changes.Add("moved to $($plan.Ou)")
                }
                if ($changes.Count -gt 0) { $action = 'Updated' }
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
