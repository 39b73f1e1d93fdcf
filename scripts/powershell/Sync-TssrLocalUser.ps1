<#
.SYNOPSIS
Creates, updates and disables local Windows users from the kit's users CSV, for servers outside a domain.

.DESCRIPTION
The same CSV as the Linux provisioning and Sync-TssrAdUser.ps1 (docs/reference/users-csv.md); the
directory-only columns ou and upn_suffix are refused; shell and ssh_key are accepted and ignored
(they mean nothing to a Windows account). department and title go into the account's description.

1. Validates the whole file, then every row against the machine (an existing account of that name
   that is built in — Administrator, Guest, DefaultAccount, WDAGUtilityAccount — is refused; a listed
   group must not be a built-in privileged group such as Administrators unless -AllowPrivilegedGroup),
   before the first change. Any problem: every problem listed, nothing changed, exit 2.
2. state present: creates a missing account (full name "First Last", a generated 20-character password
   that must be changed at next logon) or brings an existing one in line (full name, enabled). Groups
   as listed: missing local groups are created, the user is added to the listed groups and removed from
   every other local group except Users (every local account is a member of Users).
3. state absent (a leaver): disabled, description stamped "Disabled by tssr-kit on YYYY-MM-DD".
   Profile and files are kept. A leaver that does not exist is left alone.
4. A second run with the same file changes nothing.

Passwords go only to -PasswordFile (login;password), created new, readable by Administrators, SYSTEM and
the account running the script only. Run as an administrator. Windows PowerShell 5.1 or PowerShell 7 (module
Microsoft.PowerShell.LocalAccounts).

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
PSCustomObject, one per row: Login, AccountName, Action, Changes, Error.

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
# privileged groups a CSV may not grant without -AllowPrivilegedGroup.
$builtinAccountRids = @('500', '501', '503', '504')           # Administrator, Guest, DefaultAccount, WDAGUtilityAccount
$usersGroupSid = 'S-1-5-32-545'
$privilegedGroupSids = @('S-1-5-32-544', 'S-1-5-32-548', 'S-1-5-32-549', 'S-1-5-32-550', 'S-1-5-32-551', 'S-1-5-32-555', 'S-1-5-32-580')

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

    Import-Module -Name (Join-Path -Path $PSScriptRoot -ChildPath 'TssrUserCsv.psm1') -Force -ErrorAction Stop
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
    foreach ($u in $csv.Users) {
        $where = "${fileName}:$($u.Line)"
        $current = $accounts[$u.AccountName]
        if ($null -ne $current -and $builtinAccountRids -contains ($current.SID.Value -split '-')[-1]) {
            $problems.Add("${where}:login: '$($u.AccountName)' is a built-in account")
        }
        if ($groups.ContainsKey($u.AccountName)) { $problems.Add("${where}:login: '$($u.AccountName)' is the name of a local group") }
        foreach ($name in $u.Groups) {
            $g = $groups[$name]
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
    foreach ($u in $csv.Users) {
        $name = $u.AccountName
        $current = $accounts[$name]
        $changes = [System.Collections.Generic.List[string]]::new()
        $action = 'Unchanged'
        try {
            if ($u.State -eq 'absent') {
                if ($null -ne $current -and $current.Enabled) {
                    if ($PSCmdlet.ShouldProcess($name, 'Disable the account (leaver)')) {
                        Disable-LocalUser -Name $name -ErrorAction Stop
                        Set-LocalUser -Name $name -Description "Disabled by tssr-kit on $today" -ErrorAction Stop
                    }
                    $changes.Add('disabled')
                    $action = 'Disabled'
                }
            }
            else {
                $fullName = "$($u.FirstName) $($u.LastName)"
                $description = (@($u.Title, $u.Department) | Where-Object -FilterScript { $_ }) -join ', '
                if ($description.Length -gt 48) { $description = $description.Substring(0, 48) }  # local accounts: 48 at most
                if ($null -eq $current) {
                    if ($PSCmdlet.ShouldProcess($name, 'Create the local account')) {
                        if (-not $passwordFileMade) {
                            New-TssrPasswordFile -Path $PasswordFile -ErrorAction Stop | Out-Null
                            $passwordFileMade = $true
                        }
                        $secure = New-TssrPassword
                        New-LocalUser -Name $name -FullName $fullName -Description $description -Password $secure -ErrorAction Stop | Out-Null
                        Add-TssrPasswordLine -Path $PasswordFile -Login $name -Password $secure -ErrorAction Stop
                        Set-TssrPasswordExpired -Name $name -ErrorAction Stop
                    }
                    $changes.Add('created')
                    $action = 'Created'
                }
                else {
                    if ($current.FullName -cne $fullName) {
                        if ($PSCmdlet.ShouldProcess($name, "Set the full name to '$fullName'")) {
                            Set-LocalUser -Name $name -FullName $fullName -ErrorAction Stop
                        }
                        $changes.Add('FullName')
                    }
                    if ($description -and $current.Description -cne $description) {
                        if ($PSCmdlet.ShouldProcess($name, "Set the description to '$description'")) {
                            Set-LocalUser -Name $name -Description $description -ErrorAction Stop
                        }
                        $changes.Add('Description')
                    }
                    if (-not $current.Enabled) {
                        if ($PSCmdlet.ShouldProcess($name, 'Enable the account')) { Enable-LocalUser -Name $name -ErrorAction Stop }
                        $changes.Add('enabled')
                    }
                }
                # Groups exactly as listed (Users excepted).
                foreach ($groupName in $u.Groups) {
                    if (-not $groups.ContainsKey($groupName)) {
                        if ($PSCmdlet.ShouldProcess($groupName, 'Create the local group')) {
                            $groups[$groupName] = New-LocalGroup -Name $groupName -Description 'Created by tssr-kit' -ErrorAction Stop
                        }
                        $changes.Add("group $groupName created")
                    }
                }
                foreach ($group in @($groups.Values)) {
                    if ($null -eq $group -or $group.SID.Value -eq $usersGroupSid) { continue }
                    $members = @(Get-LocalGroupMember -Name $group.Name -ErrorAction Stop | ForEach-Object -Process { ($_.Name -split '\\')[-1].ToLowerInvariant() })
                    $isMember = $members -contains $name
                    $wanted = $u.Groups -contains $group.Name.ToLowerInvariant()
                    if ($wanted -and -not $isMember) {
                        if ($PSCmdlet.ShouldProcess($name, "Add to group $($group.Name)")) {
                            Add-LocalGroupMember -Name $group.Name -Member $name -ErrorAction Stop
                        }
                        $changes.Add("+$($group.Name)")
                    }
                    elseif ($isMember -and -not $wanted) {
                        if ($PSCmdlet.ShouldProcess($name, "Remove from group $($group.Name)")) {
                            Remove-LocalGroupMember -Name $group.Name -Member $name -ErrorAction Stop
                        }
                        $changes.Add("-$($group.Name)")
                    }
                }
                if ($action -eq 'Unchanged' -and $changes.Count -gt 0) { $action = 'Updated' }
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
