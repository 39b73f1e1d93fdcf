<#
.SYNOPSIS
Creates, updates and disables local Windows users from the kit's users CSV, for servers outside a domain.

.DESCRIPTION
The same CSV as the Linux provisioning and Sync-TssrAdUser.ps1 (docs/reference/users-csv.md); the
directory-only columns ou, upn_suffix and employee_id are refused; shell and ssh_key are accepted and
ignored (they mean nothing to a Windows account). department and title go into the account's
description. Local group names as Windows writes them (Remote Desktop Users, GG Compta) go into the
windows_groups column, separated by |.

1. Validates the whole file, then every row against the machine, before the first change: an existing
   account of that name that is built in (Administrator, Guest, DefaultAccount, WDAGUtilityAccount) is
   refused, and so is one whose full name is someone else's; a login that is a local group's name is
   refused; a listed group must not be a built-in privileged group such as Administrators unless
   -AllowPrivilegedGroup. Any problem: every problem listed, nothing changed, exit 2.
2. state present: creates a missing account (full name "First Last", a generated 20-character password
   recorded in the password file before the account exists, to be changed at next logon) or brings an
   existing one in line (full name, description). A disabled account is enabled again only if tssr-kit
   disabled it; one disabled by someone else stays disabled (Action Held). Groups: missing listed groups
   are created ("Created by tssr-kit"); the user is added to its listed groups and removed from the
   other groups the kit may touch: those listed somewhere in the file and those the kit created. Any
   other group (Administrators, Remote Desktop Users, a group of another tool) is never touched unless
   the file lists it. Members are compared by SID, read through ADSI, so a group holding the SID of a
   deleted account (an orphaned SID) does not break the run.
3. state absent (a leaver): disabled, description stamped "Disabled by tssr-kit on YYYY-MM-DD".
   Profile and files are kept. A leaver that does not exist is left alone.
4. A second run with the same file changes nothing.

Passwords go only to -PasswordFile (login;password), created new, readable by Administrators, SYSTEM and
the account running the script only. Run as an administrator (elevated). Windows PowerShell 5.1 or
PowerShell 7: on PowerShell 7 the LocalAccounts module is loaded through Windows PowerShell
(Import-Module -UseWindowsPowerShell), the known workaround for its "Could not load type
Microsoft.PowerShell.Telemetry.Internal.TelemetryAPI" failure.

.PARAMETER Path
The users CSV file.

.PARAMETER PasswordFile
Where generated passwords go (default
$env:ProgramData\tssr-kit\users\passwords-<UTC yyyyMMddTHHmmssZ>.csv). Must not exist. Created only
when a password is generated.

.PARAMETER ReportPath
The CSV report: Login, AccountName, Action (Created, Updated, Unchanged, Disabled, Failed), Changes,
Error; no password. Default $env:ProgramData\tssr-kit\users\local-report-<UTC yyyyMMddTHHmmssZ>.csv.

.PARAMETER AllowPrivilegedGroup
Allow the file to put users in Administrators, Backup Operators and the other built-in privileged groups.

.EXAMPLE
.\Sync-TssrLocalUser.ps1 -Path .\users.csv -WhatIf
The dry run: says what would be created, updated or disabled; changes nothing.

.EXAMPLE
.\Sync-TssrLocalUser.ps1 -Path .\users.csv -PasswordFile C:\secure\new-staff.csv -Verbose
Applies the file, narrating each change.

.OUTPUTS
PSCustomObject, one per row: Login, AccountName, Action (Created, Updated, Unchanged, Disabled, Held,
Failed), Changes, Error.

.NOTES
Exit codes: 0 success; 1 a change failed (see the report); 2 usage or validation error, nothing changed.
What it changes: local accounts and groups (SAM database), the password file, the report file.
Part of tssr-kit (scripts/powershell). Tests: Sync-TssrLocalUser.Tests.ps1 (Pester 5, cmdlets mocked).
#>
[CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
[OutputType([pscustomobject])]
param(
    [Parameter(Mandatory)]
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf })]
    [string]$Path,

    [ValidateNotNullOrEmpty()]
    [string]$PasswordFile = (Join-Path -Path $env:ProgramData -ChildPath ('tssr-kit\users\passwords-{0}.csv' -f [datetime]::UtcNow.ToString('yyyyMMddTHHmmssZ'))),

    [ValidateNotNullOrEmpty()]
    [string]$ReportPath = (Join-Path -Path $env:ProgramData -ChildPath ('tssr-kit\users\local-report-{0}.csv' -f [datetime]::UtcNow.ToString('yyyyMMddTHHmmssZ'))),

    [switch]$AllowPrivilegedGroup
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

# Well-known SIDs: the built-in accounts never touched, the Users group every account stays in, and the
# privileged groups a CSV may not grant without -AllowPrivilegedGroup (Administrators, Account, Server,
# Print and Backup Operators, Remote Desktop Users, Remote Management Users).
$builtinAccountRids = @('500', '501', '503', '504')           # Administrator, Guest, DefaultAccount, WDAGUtilityAccount
$usersGroupSid = 'S-1-5-32-545'
$privilegedGroupSids = @('S-1-5-32-544', 'S-1-5-32-548', 'S-1-5-32-549', 'S-1-5-32-550', 'S-1-5-32-551', 'S-1-5-32-555', 'S-1-5-32-580')
$kitStamp = 'Disabled by tssr-kit on '
$kitGroupDescription = 'Created by tssr-kit'

function Set-TssrPasswordExpired {
    <#
    .SYNOPSIS
    Marks a local account's password as expired: it must be changed at next logon.
    .DESCRIPTION
    The LocalAccounts cmdlets have no switch for it; the WinNT ADSI provider has (PasswordExpired = 1).
    .PARAMETER Name
    The local account.
    .EXAMPLE
    Set-TssrPasswordExpired -Name alice
    alice must choose a new password at her first logon.
    .EXAMPLE
    Set-TssrPasswordExpired -Name alice -WhatIf
    Says so, changes nothing.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(Mandatory)][ValidatePattern('^[a-z0-9][a-z0-9._-]{0,19}$')][string]$Name)
    if ($PSCmdlet.ShouldProcess($Name, 'Require a new password at next logon')) {
        $account = [adsi]"WinNT://$env:COMPUTERNAME/$Name,user"
        $account.PasswordExpired = 1
        $account.SetInfo()
    }
}

function Get-TssrLocalGroupMemberSid {
    <#
    .SYNOPSIS
    The SIDs of a local group's members, orphaned SIDs included, as strings.
    .DESCRIPTION
    Get-LocalGroupMember fails on a group that holds the SID of a deleted account ("An unspecified error
    occurred", "Failed to compare two elements in the array"); the WinNT ADSI provider lists such a
    member as its SID. Each member's objectSid is read as bytes and turned into S-1-5-... text.
    .PARAMETER Name
    The local group's name.
    .EXAMPLE
    Get-TssrLocalGroupMemberSid -Name 'Remote Desktop Users'
    S-1-5-21-...-1001, S-1-5-21-...-1107 (a deleted account's SID too).
    .EXAMPLE
    (Get-TssrLocalGroupMemberSid -Name compta) -contains $user.SID.Value
    $true when the user is a member.
    .OUTPUTS
    System.String
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)][string]$Name)
    $group = [adsi]"WinNT://$env:COMPUTERNAME/$Name,group"
    foreach ($member in @($group.psbase.Invoke('Members'))) {
        $bytes = [byte[]]$member.GetType().InvokeMember('objectSid', 'GetProperty', $null, $member, $null)
        [System.Security.Principal.SecurityIdentifier]::new($bytes, 0).Value
    }
}

function Invoke-TssrSync {
    <#
    .SYNOPSIS
    The whole run: outputs the rows' results and sets $script:exitCode.
    .DESCRIPTION
    Validates, then applies, then writes the report.
    .EXAMPLE
    Invoke-TssrSync
    Runs with the script's parameters.
    .EXAMPLE
    Invoke-TssrSync -WhatIf
    The same, as a dry run.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    [OutputType([pscustomobject])]
    param()

    # Not -Force: a module already loaded from this path (a test's mocks) is kept.
    Import-Module -Name (Join-Path -Path $PSScriptRoot -ChildPath 'TssrUserCsv.psm1') -ErrorAction Stop
    if ($PSVersionTable.PSEdition -eq 'Core' -and -not (Get-Module -Name Microsoft.PowerShell.LocalAccounts)) {
        Import-Module -Name Microsoft.PowerShell.LocalAccounts -UseWindowsPowerShell -ErrorAction Stop
    }
    $csv = Import-TssrUserCsv -Path $Path
    $problems = [System.Collections.Generic.List[string]]::new()
    foreach ($p in $csv.Problems) { $problems.Add($p) }
    $fileName = Split-Path -Path $Path -Leaf
    if (Test-Path -LiteralPath $PasswordFile) { $problems.Add("PasswordFile: $PasswordFile already exists: the passwords of one run never mix with an older file") }

    # ---- the machine, still no change ---------------------------------------------------------------
    $accounts = @{}
    foreach ($a in @(Get-LocalUser -ErrorAction Stop)) { $accounts[$a.Name.ToLowerInvariant()] = $a }
    $groups = @{}
    foreach ($g in @(Get-LocalGroup -ErrorAction Stop)) { $groups[$g.Name.ToLowerInvariant()] = $g }
    $listed = @{}   # every group named somewhere in the file: the kit may touch these
    foreach ($u in $csv.Users) {
        $where = "${fileName}:$($u.Line)"
        $current = $accounts[$u.AccountName]
        if ($null -ne $current -and $builtinAccountRids -contains ($current.SID.Value -split '-')[-1]) {
            $problems.Add("${where}:login: '$($u.AccountName)' is a built-in account")
        }
        elseif ($null -ne $current -and $current.FullName -and (Get-TssrNameKey -Name $current.FullName) -ne (Get-TssrNameKey -Name "$($u.FirstName) $($u.LastName)")) {
            $problems.Add("${where}:login: '$($u.AccountName)' belongs to someone else ($($current.FullName)): choose another login or sam_account_name")
        }
        if ($groups.ContainsKey($u.AccountName)) { $problems.Add("${where}:login: '$($u.AccountName)' is the name of a local group") }
        foreach ($name in $u.Groups) {
            $listed[$name.ToLowerInvariant()] = $true
            $g = $groups[$name.ToLowerInvariant()]
            if ($null -ne $g -and -not $AllowPrivilegedGroup -and $privilegedGroupSids -contains $g.SID.Value) {
                $problems.Add("${where}:groups: '$name' is a privileged built-in group (use -AllowPrivilegedGroup)")
            }
        }
    }
    if ($problems.Count -gt 0) {
        foreach ($p in $problems) { Write-Error -Message $p -ErrorAction Continue }
        $script:exitCode = 2
        return
    }

    # ---- the changes ------------------------------------------------------------------------------------
    $results = [System.Collections.Generic.List[object]]::new()
    $passwordFileMade = $false
    $today = [datetime]::Now.ToString('yyyy-MM-dd')
    $memberCache = @{}
    foreach ($u in $csv.Users) {
        $name = $u.AccountName
        $current = $accounts[$name]
        $changes = [System.Collections.Generic.List[string]]::new()
        $action = 'Unchanged'
        try {
            if ($u.State -eq 'absent') {
                if ($null -ne $current -and $current.Enabled) {
                    if ($PSCmdlet.ShouldProcess($name, 'Disable the account (leaver)')) {
                        Disable-LocalUser -SID $current.SID -ErrorAction Stop
                        Set-LocalUser -SID $current.SID -Description "$kitStamp$today" -ErrorAction Stop
                    }
                    $changes.Add('disabled')
                    $action = 'Disabled'
                }
            }
            else {
                $fullName = "$($u.FirstName) $($u.LastName)"
                $description = (@($u.Title, $u.Department) | Where-Object -FilterScript { $_ }) -join ', '
                if ($description.Length -gt 48) { $description = $description.Substring(0, 48) }  # local accounts: 48 at most
                $held = $false
                if ($null -eq $current) {
                    if ($PSCmdlet.ShouldProcess($name, 'Create the local account')) {
                        if (-not $passwordFileMade) {
                            New-TssrPasswordFile -Path $PasswordFile -ErrorAction Stop | Out-Null
                            $passwordFileMade = $true
                        }
                        $secure = New-TssrPassword
                        # Recorded first: a failed creation leaves a harmless line, never an account whose
                        # password nobody has.
                        Add-TssrPasswordLine -Path $PasswordFile -Login $name -Password $secure -ErrorAction Stop
                        $current = New-LocalUser -Name $name -FullName $fullName -Description $description -Password $secure -ErrorAction Stop
                        Set-TssrPasswordExpired -Name $name -ErrorAction Stop
                    }
                    $changes.Add('created')
                    $action = 'Created'
                }
                else {
                    if ($current.FullName -cne $fullName) {
                        if ($PSCmdlet.ShouldProcess($name, "Set the full name to '$fullName'")) {
                            Set-LocalUser -SID $current.SID -FullName $fullName -ErrorAction Stop
                        }
                        $changes.Add('FullName')
                    }
                    if ($description -and $current.Description -cne $description) {
                        if ($PSCmdlet.ShouldProcess($name, "Set the description to '$description'")) {
                            Set-LocalUser -SID $current.SID -Description $description -ErrorAction Stop
                        }
                        $changes.Add('Description')
                    }
                    if (-not $current.Enabled) {
                        if (([string]$current.Description).StartsWith($kitStamp)) {
                            if ($PSCmdlet.ShouldProcess($name, 'Enable the account (disabled by tssr-kit)')) { Enable-LocalUser -SID $current.SID -ErrorAction Stop }
                            $changes.Add('enabled')
                        }
                        else {
                            Write-Warning -Message "${name}: disabled by someone else, left disabled"
                            $held = $true
                        }
                    }
                }
                # Groups: missing listed ones created; then membership, by SID, in the groups the kit may touch.
                foreach ($groupName in $u.Groups) {
                    if (-not $groups.ContainsKey($groupName.ToLowerInvariant())) {
                        if ($PSCmdlet.ShouldProcess($groupName, 'Create the local group')) {
                            $groups[$groupName.ToLowerInvariant()] = New-LocalGroup -Name $groupName -Description $kitGroupDescription -ErrorAction Stop
                        }
                        $changes.Add("group $groupName created")
                    }
                }
                $userSid = if ($null -ne $current) { [string]$current.SID.Value } else { $null }
                foreach ($key in @($groups.Keys)) {
                    $group = $groups[$key]
                    if ($null -eq $group -or $group.SID.Value -eq $usersGroupSid) { continue }
                    $touchable = $listed.ContainsKey($key) -or [string]$group.Description -eq $kitGroupDescription
                    if (-not $touchable) { continue }
                    $wanted = @($u.Groups | Where-Object -FilterScript { $_.ToLowerInvariant() -eq $key }).Count -gt 0
                    $isMember = $false
                    if ($userSid) {
                        if (-not $memberCache.ContainsKey($key)) { $memberCache[$key] = @(Get-TssrLocalGroupMemberSid -Name $group.Name) }
                        $isMember = $memberCache[$key] -contains $userSid
                    }
                    if ($wanted -and -not $isMember) {
                        if ($PSCmdlet.ShouldProcess($name, "Add to group $($group.Name)")) {
                            Add-LocalGroupMember -SID $group.SID -Member $userSid -ErrorAction Stop
                        }
                        $changes.Add("+$($group.Name)")
                    }
                    elseif ($isMember -and -not $wanted) {
                        if ($PSCmdlet.ShouldProcess($name, "Remove from group $($group.Name)")) {
                            Remove-LocalGroupMember -SID $group.SID -Member $userSid -ErrorAction Stop
                        }
                        $changes.Add("-$($group.Name)")
                    }
                }
                if ($action -eq 'Unchanged' -and $changes.Count -gt 0) { $action = 'Updated' }
                if ($held) { $action = 'Held'; $changes.Add('left disabled (not disabled by tssr-kit)') }
            }
            foreach ($c in $changes) { Write-Verbose -Message "${name}: $c" }
            $results.Add([pscustomobject]@{ Login = $u.Login; AccountName = $name; Action = $action; Changes = ($changes -join ' '); Error = '' })
        }
        catch {
            $message = $_.Exception.Message
            Write-Error -Message "${name}: $message" -ErrorAction Continue
            $results.Add([pscustomobject]@{ Login = $u.Login; AccountName = $name; Action = 'Failed'; Changes = ($changes -join ' '); Error = $message })
        }
    }

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
    Write-Error -Message "Sync-TssrLocalUser: $($_.Exception.Message)" -ErrorAction Continue
    $script:exitCode = 1
}
exit $script:exitCode
