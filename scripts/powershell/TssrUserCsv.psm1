# TssrUserCsv.psm1 — the users CSV of tssr-kit, read and checked the PowerShell way.
#
# Shared by Sync-TssrAdUser.ps1 and Sync-TssrLocalUser.ps1 (copy this file next to them). The format
# and every rule are those of docs/reference/users-csv.md, the page the Bash and Python versions follow,
# plus the optional Windows columns documented in its section "PowerShell: Windows and Active Directory".
# The Linux rules stay the Linux rules: the column groups keeps its Linux names (space-separated,
# ^[a-z_][a-z0-9_-]{0,31}$); group names as Windows and AD sites write them (GG_Compta, DL_Partage_RW,
# Remote Desktop Users) go into the Windows-only column windows_groups, separated by |, which the
# Linux scripts refuse as an unknown column.
# Nothing here changes the system, except New-TssrPasswordFile and Add-TssrPasswordLine (behind
# ShouldProcess).

Set-StrictMode -Version 3.0

$script:LinuxColumns = @('login', 'first_name', 'last_name', 'groups', 'shell', 'ssh_key', 'state')
$script:WindowsColumns = @('ou', 'department', 'title', 'upn_suffix', 'sam_account_name', 'windows_groups', 'employee_id')
$script:DirectoryOnlyColumns = @('ou', 'upn_suffix', 'employee_id')
$script:NamePattern = '^[a-z_][a-z0-9_-]{0,31}$'
$script:SamPattern = '^[a-z0-9][a-z0-9._-]{0,19}$'
$script:OuPattern = '^(?i)(OU|CN)=[^,"]+(,(OU|CN|DC)=[^,"]+)*$'
$script:SuffixPattern = '^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$'
$script:FreeTextPattern = '^[\p{L}\p{M}0-9 .,''&()/-]{1,64}$'
# A Windows group name (sAMAccountName of an AD group, name of a local group): letters of any script,
# digits, space and _ . - ' & ( ); starts with a letter or digit, does not end with a space or a dot;
# 1 to 64 characters (the cn limit). Excludes " / \ [ ] : ; | = , + * ? < > @ and control characters.
$script:WindowsGroupPattern = '^[\p{L}\p{N}]([\p{L}\p{M}\p{N} _.''&()-]{0,62}[\p{L}\p{M}\p{N}_''&()-])?$'
$script:EmployeeIdPattern = '^[A-Za-z0-9_-]{1,16}$'
$script:CnMaxLength = 64

function Split-TssrCsvLine {
    <#
    .SYNOPSIS
    Splits one CSV line into fields with the kit's quoting rules (an RFC 4180 subset).
    .DESCRIPTION
    Spaces around a field are ignored; a field may be enclosed in double quotes, where "" stands for one
    quote; only spaces may follow a closing quote; a quote inside an unquoted field, or a quoted field not
    closed on its line, is an error. Returns an object with Fields (string[]) and Error (string or $null).
    .PARAMETER Line
    The line, without its line ending.
    .PARAMETER Delimiter
    The field delimiter: ';' or ','.
    .EXAMPLE
    Split-TssrCsvLine -Line 'alice;"Alice";Martin' -Delimiter ';'
    Returns the fields alice, Alice and Martin.
    .EXAMPLE
    Split-TssrCsvLine -Line 'bob;"Bob"x;Durand' -Delimiter ';'
    Returns Error 'text after closing quote'.
    .OUTPUTS
    PSCustomObject with Fields and Error.
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param(
        [Parameter(Mandatory)][AllowEmptyString()][string]$Line,
        [Parameter(Mandatory)][ValidateSet(';', ',')][string]$Delimiter
    )
    $fields = [System.Collections.Generic.List[string]]::new()
    $i = 0
    while ($true) {
        while ($i -lt $Line.Length -and $Line[$i] -eq ' ') { $i++ }
        $value = [System.Text.StringBuilder]::new()
        if ($i -lt $Line.Length -and $Line[$i] -eq '"') {
            $i++
            $closed = $false
            while ($i -lt $Line.Length) {
                if ($Line[$i] -eq '"') {
                    if ($i + 1 -lt $Line.Length -and $Line[$i + 1] -eq '"') { [void]$value.Append('"'); $i += 2; continue }
                    $closed = $true
                    $i++
                    break
                }
                [void]$value.Append($Line[$i])
                $i++
            }
            if (-not $closed) { return [pscustomobject]@{ Fields = @(); Error = 'unterminated quoted field' } }
            while ($i -lt $Line.Length -and $Line[$i] -eq ' ') { $i++ }
            if ($i -lt $Line.Length -and $Line[$i] -ne $Delimiter) {
                return [pscustomobject]@{ Fields = @(); Error = 'text after closing quote' }
            }
            $fields.Add($value.ToString())
        }
        else {
            while ($i -lt $Line.Length -and $Line[$i] -ne $Delimiter) {
                if ($Line[$i] -eq '"') { return [pscustomobject]@{ Fields = @(); Error = 'quote inside unquoted field' } }
                [void]$value.Append($Line[$i])
                $i++
            }
            $fields.Add($value.ToString().Trim(' '))
        }
        if ($i -ge $Line.Length) { break }
        $i++  # the delimiter
    }
    [pscustomobject]@{ Fields = $fields.ToArray(); Error = $null }
}

function ConvertTo-TssrAccountName {
    <#
    .SYNOPSIS
    Turns a name into a Windows account name (sAMAccountName): accents stripped, lower case, 20 characters.
    .DESCRIPTION
    Decomposes the text (Unicode form D), drops the combining accents, lowers it, replaces spaces by dots,
    keeps a-z 0-9 . _ - and cuts it at 20 characters (the sAMAccountName and local account limit).
    Returns the name and whether it was shortened, so a caller can report collisions.
    .PARAMETER Name
    The login or the sam_account_name column of a row.
    .EXAMPLE
    ConvertTo-TssrAccountName -Name 'Hélène.Dupré'
    Returns Name 'helene.dupre', Truncated $false.
    .EXAMPLE
    ConvertTo-TssrAccountName -Name 'a_very_long_login_name_indeed'
    Returns Name 'a_very_long_login_na', Truncated $true.
    .OUTPUTS
    PSCustomObject with Name and Truncated.
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param([Parameter(Mandatory)][ValidateNotNullOrEmpty()][string]$Name)
    $decomposed = $Name.Normalize([System.Text.NormalizationForm]::FormD)
    $builder = [System.Text.StringBuilder]::new()
    foreach ($ch in $decomposed.ToCharArray()) {
        $category = [System.Globalization.CharUnicodeInfo]::GetUnicodeCategory($ch)
        if ($category -ne [System.Globalization.UnicodeCategory]::NonSpacingMark) { [void]$builder.Append($ch) }
    }
    $plain = ($builder.ToString().ToLowerInvariant() -replace ' ', '.') -replace '[^a-z0-9._-]', ''
    $truncated = $plain.Length -gt 20
    if ($truncated) { $plain = $plain.Substring(0, 20) }
    [pscustomobject]@{ Name = $plain.TrimEnd('.'); Truncated = $truncated }
}

function Get-TssrNameKey {
    <#
    .SYNOPSIS
    The form of a person's name used to tell whether two records are the same person.
    .DESCRIPTION
    Accents stripped (Unicode form D, combining marks dropped), lower case, every character that is not
    a letter removed: 'Hélène Dupré-Roux', 'helene dupre roux' and 'HELENE DUPRE ROUX' give the same key.
    .PARAMETER Name
    A first name, a last name, or both.
    .EXAMPLE
    Get-TssrNameKey -Name 'Hélène Dupré'
    Returns 'helenedupre'.
    .EXAMPLE
    (Get-TssrNameKey -Name 'Anne O''Brien') -eq (Get-TssrNameKey -Name 'anne obrien')
    $true.
    .OUTPUTS
    System.String
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)][AllowEmptyString()][AllowNull()][string]$Name)
    $decomposed = ([string]$Name).Normalize([System.Text.NormalizationForm]::FormD)
    $builder = [System.Text.StringBuilder]::new()
    foreach ($ch in $decomposed.ToCharArray()) {
        if ([char]::IsLetter($ch)) { [void]$builder.Append([char]::ToLowerInvariant($ch)) }
    }
    $builder.ToString()
}

function Test-TssrPersonName {
    <#
    .SYNOPSIS
    Checks a first or last name with the rule of docs/reference/users-csv.md; returns $null or a message.
    .DESCRIPTION
    1 to 64 characters: letters of any script, combining accents, spaces, - ' ’ and .; must start with a
    letter.
    .PARAMETER Value
    The field's value.
    .EXAMPLE
    Test-TssrPersonName -Value 'Éloïse'
    Returns $null: the name is valid.
    .EXAMPLE
    Test-TssrPersonName -Value 'Bob$'
    Returns "character '$' is not allowed".
    .OUTPUTS
    System.String, or nothing when the value is valid.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)][AllowEmptyString()][string]$Value)
    if ($Value.Length -eq 0) { return 'is empty' }
    foreach ($ch in $Value.ToCharArray()) {
        $ok = [char]::IsLetter($ch) -or ([int]$ch -ge 0x300 -and [int]$ch -le 0x36F) -or (" -'.$([char]0x2019)".IndexOf($ch) -ge 0)
        if (-not $ok) { return "character '$ch' is not allowed" }
    }
    if (-not [char]::IsLetter($Value[0])) { return 'must start with a letter' }
    if ($Value.Length -gt 64) { return "is $($Value.Length) characters long, at most 64 allowed" }
    $null
}

function Import-TssrUserCsv {
    <#
    .SYNOPSIS
    Reads and validates a whole users CSV; returns the valid rows and every problem found.
    .DESCRIPTION
    Applies the file format, header and field rules of docs/reference/users-csv.md (UTF-8 with optional
    BOM, ';' or ',' delimiter, the kit's quoting rules, the same column rules), plus the Windows columns
    ou, department, title, upn_suffix, sam_account_name, windows_groups and employee_id. The account name
    (sAMAccountName) is sam_account_name when given, else the login, with accents stripped and cut at 20
    characters; two rows that end up with the same account name are a collision. The full name
    "First Last" (the object's name, cn) must fit in 64 characters. Groups are the Linux names of groups
    plus the Windows names of windows_groups (| between names). Changes nothing.
    Problems use the kit's format: FILE:LINE:FIELD: message.
    .PARAMETER Path
    The CSV file.
    .PARAMETER DirectoryColumns
    Accept the Active Directory columns (ou, upn_suffix, employee_id). Without it, they are refused
    (local accounts).
    .EXAMPLE
    $csv = Import-TssrUserCsv -Path .\users.csv -DirectoryColumns
    $csv.Problems
    Lists every problem of the file for the AD script.
    .EXAMPLE
    (Import-TssrUserCsv -Path .\users.csv).Users | Select-Object -Property Login, AccountName, State
    Shows the accounts a valid file describes, for local users.
    .OUTPUTS
    PSCustomObject with Users (one object per valid row) and Problems (string[]).
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param(
        [Parameter(Mandatory)][ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf })][string]$Path,
        [switch]$DirectoryColumns
    )
    $fileName = Split-Path -Path $Path -Leaf
    $problems = [System.Collections.Generic.List[string]]::new()
    $users = [System.Collections.Generic.List[object]]::new()
    $bytes = [System.IO.File]::ReadAllBytes((Resolve-Path -LiteralPath $Path).ProviderPath)
    $start = 0
    if ($bytes.Length -ge 3 -and $bytes[0] -eq 0xEF -and $bytes[1] -eq 0xBB -and $bytes[2] -eq 0xBF) { $start = 3 }
    $utf8 = [System.Text.UTF8Encoding]::new($false, $true)  # throwOnInvalidBytes
    try {
        $text = $utf8.GetString($bytes, $start, $bytes.Length - $start)
    }
    catch {
        $problems.Add("${fileName}:1:encoding: the file is not valid UTF-8")
        return [pscustomobject]@{ Users = @(); Problems = $problems.ToArray() }
    }
    $lines = $text -split "`r?`n"
    $allowed = $script:LinuxColumns + $script:WindowsColumns
    if (-not $DirectoryColumns) { $allowed = $allowed | Where-Object -FilterScript { $script:DirectoryOnlyColumns -notcontains $_ } }
    $header = $null
    $delimiter = ';'
    $seenLogins = @{}
    $seenAccounts = @{}
    for ($n = 0; $n -lt $lines.Count; $n++) {
        $lineNo = $n + 1
        $line = $lines[$n]
        if ($line.IndexOf([char]0) -ge 0) { $problems.Add("${fileName}:${lineNo}:encoding: NUL byte"); continue }
        if ($line.Trim().Length -eq 0) { continue }
        if ($null -eq $header) {
            if ($line.Contains(';')) { $delimiter = ';' } else { $delimiter = ',' }
            $split = Split-TssrCsvLine -Line $line -Delimiter $delimiter
            if ($split.Error) { $problems.Add("${fileName}:${lineNo}:header: $($split.Error)"); break }
            $header = @($split.Fields | ForEach-Object -Process { $_.Trim() })
            $seen = @{}
            foreach ($column in $header) {
                if ($allowed -cnotcontains $column) { $problems.Add("${fileName}:${lineNo}:header: unknown column '$column'") }
                elseif ($seen.ContainsKey($column)) { $problems.Add("${fileName}:${lineNo}:header: column '$column' repeated") }
                $seen[$column] = $true
            }
            foreach ($required in @('login', 'first_name', 'last_name')) {
                if (-not $seen.ContainsKey($required)) { $problems.Add("${fileName}:${lineNo}:header: missing column '$required'") }
            }
            if ($problems.Count -gt 0) { break }
            continue
        }
        $split = Split-TssrCsvLine -Line $line -Delimiter $delimiter
        if ($split.Error) { $problems.Add("${fileName}:${lineNo}:row: $($split.Error)"); continue }
        if ($split.Fields.Count -ne $header.Count) {
            $problems.Add("${fileName}:${lineNo}:row: expected $($header.Count) fields, found $($split.Fields.Count)")
            continue
        }
        $row = @{}
        foreach ($column in $allowed) { $row[$column] = '' }
        for ($c = 0; $c -lt $header.Count; $c++) { $row[$header[$c]] = $split.Fields[$c] }
        $before = $problems.Count
        $login = $row['login']
        if ($login -cnotmatch $script:NamePattern) { $problems.Add("${fileName}:${lineNo}:login: '$login' does not match $script:NamePattern") }
        elseif ($login -eq 'root') { $problems.Add("${fileName}:${lineNo}:login: 'root' is not allowed") }
        elseif ($seenLogins.ContainsKey($login)) { $problems.Add("${fileName}:${lineNo}:login: '$login' duplicates line $($seenLogins[$login])") }
        else { $seenLogins[$login] = $lineNo }
        foreach ($field in @('first_name', 'last_name')) {
            $message = Test-TssrPersonName -Value $row[$field]
            if ($message) { $problems.Add("${fileName}:${lineNo}:${field}: $message") }
        }
        $groups = @($row['groups'] -split ' ' | Where-Object -FilterScript { $_ } | Select-Object -Unique)
        foreach ($group in $groups) {
            if ($group -cnotmatch $script:NamePattern -or $group -eq 'root') {
                $problems.Add("${fileName}:${lineNo}:groups: '$group' does not match $script:NamePattern (or is root)")
            }
        }
        foreach ($group in @($row['windows_groups'] -split '\|' | ForEach-Object -Process { $_.Trim() } | Where-Object -FilterScript { $_ })) {
            if ($group -notmatch $script:WindowsGroupPattern) {
                $problems.Add("${fileName}:${lineNo}:windows_groups: '$group' is not a Windows group name (letters, digits, space, _ . - ' & ( ), 64 at most)")
            }
            elseif (@($groups | Where-Object -FilterScript { $_ -eq $group }).Count -eq 0) { $groups += $group }
        }
        $cn = "$($row['first_name']) $($row['last_name'])"
        if ($cn.Length -gt $script:CnMaxLength) { $problems.Add("${fileName}:${lineNo}:last_name: the full name '$cn' is $($cn.Length) characters long: an AD object name (cn) holds 64") }
        if ($row['employee_id'] -and $row['employee_id'] -cnotmatch $script:EmployeeIdPattern) { $problems.Add("${fileName}:${lineNo}:employee_id: '$($row['employee_id'])' is not 1 to 16 letters, digits, _ or -") }
        $state = if ($row['state']) { $row['state'] } else { 'present' }
        if (@('present', 'absent') -cnotcontains $state) { $problems.Add("${fileName}:${lineNo}:state: '$state' is not present or absent") }
        if ($row['ou'] -and $row['ou'] -notmatch $script:OuPattern) { $problems.Add("${fileName}:${lineNo}:ou: '$($row['ou'])' is not a distinguished name (OU=...,DC=...)") }
        if ($row['upn_suffix'] -and $row['upn_suffix'] -notmatch $script:SuffixPattern) { $problems.Add("${fileName}:${lineNo}:upn_suffix: '$($row['upn_suffix'])' is not a DNS name") }
        foreach ($field in @('department', 'title')) {
            if ($row[$field] -and $row[$field] -notmatch $script:FreeTextPattern) { $problems.Add("${fileName}:${lineNo}:${field}: only letters, digits, spaces and . , ' & ( ) / - (64 at most)") }
        }
        $source = if ($row['sam_account_name']) { $row['sam_account_name'] } else { $login }
        $account = $null
        if ($source) {
            $converted = ConvertTo-TssrAccountName -Name $source
            $account = $converted.Name
            if ($account -notmatch $script:SamPattern) {
                $problems.Add("${fileName}:${lineNo}:sam_account_name: '$source' gives no valid account name ('$account')")
            }
            elseif ($seenAccounts.ContainsKey($account)) {
                $problems.Add("${fileName}:${lineNo}:sam_account_name: account name '$account' collides with line $($seenAccounts[$account]) (20-character limit, accents stripped)")
            }
            else { $seenAccounts[$account] = $lineNo }
        }
        if ($problems.Count -gt $before) { continue }
        $users.Add([pscustomobject]@{
                Line        = $lineNo
                Login       = $login
                AccountName = $account
                FirstName   = $row['first_name']
                LastName    = $row['last_name']
                Groups      = [string[]]$groups
                State       = $state
                Ou          = $row['ou']
                Department  = $row['department']
                Title       = $row['title']
                UpnSuffix   = $row['upn_suffix']
                EmployeeId  = $row['employee_id']
            })
    }
    if ($null -eq $header -and $problems.Count -eq 0) { $problems.Add("${fileName}:1:header: the file has no header line") }
    [pscustomobject]@{ Users = $users.ToArray(); Problems = $problems.ToArray() }
}

function New-TssrPassword {
    <#
    .SYNOPSIS
    Generates a random 20-character password (letters and digits, each class present) as a SecureString.
    .DESCRIPTION
    Uses the operating system's cryptographic random generator. The password meets the default Windows
    complexity policy (upper case, lower case, digit). It exists in clear text only inside this function
    and in the protected password file.
    .PARAMETER Length
    The number of characters (default 20, 12 to 64).
    .EXAMPLE
    $secure = New-TssrPassword
    A new 20-character password, as a SecureString.
    .EXAMPLE
    New-TssrPassword -Length 32
    A longer one.
    .OUTPUTS
    System.Security.SecureString
    #>
    [Diagnostics.CodeAnalysis.SuppressMessageAttribute('PSUseShouldProcessForStateChangingFunctions', '',
        Justification = 'builds a password in memory and changes nothing')]
    [CmdletBinding()]
    [OutputType([securestring])]
    param([ValidateRange(12, 64)][int]$Length = 20)
    $alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
    $rng = [System.Security.Cryptography.RandomNumberGenerator]::Create()  # works on 5.1 and 7.x
    $byte = [byte[]]::new(1)
    do {
        $secure = [securestring]::new()
        $plain = [System.Text.StringBuilder]::new()
        for ($i = 0; $i -lt $Length; $i++) {
            # rejection sampling: bytes >= 248 (= 4 * 62) are dropped so every character is equally likely
            do { $rng.GetBytes($byte) } until ($byte[0] -lt 248)
            $ch = $alphabet[$byte[0] % $alphabet.Length]
            [void]$plain.Append($ch)
            $secure.AppendChar($ch)
        }
        $text = $plain.ToString()
    } until ($text -cmatch '[A-Z]' -and $text -cmatch '[a-z]' -and $text -match '[0-9]')
    $secure.MakeReadOnly()
    $secure
}

function New-TssrPasswordFile {
    <#
    .SYNOPSIS
    Creates the password file: a new file readable only by Administrators, SYSTEM and the account running
    the script; header login;password.
    .DESCRIPTION
    Refuses an existing file (the passwords of one run never mix with an older file). Creates the folder
    if needed. The access list is set on the empty file, before any password is written, with inheritance
    removed: only BUILTIN\Administrators (S-1-5-32-544), SYSTEM (S-1-5-18) and the account running the
    script have access.
    .PARAMETER Path
    The file to create.
    .EXAMPLE
    New-TssrPasswordFile -Path 'C:\ProgramData\tssr-kit\users\passwords-20261128T101500Z.csv'
    Creates the protected, empty file.
    .EXAMPLE
    New-TssrPasswordFile -Path .\new-staff.csv -WhatIf
    Says what it would create.
    .OUTPUTS
    System.IO.FileInfo
    #>
    [CmdletBinding(SupportsShouldProcess)]
    [OutputType([System.IO.FileInfo])]
    param([Parameter(Mandatory)][ValidateNotNullOrEmpty()][string]$Path)
    if (Test-Path -LiteralPath $Path) { throw "password file $Path already exists: choose a new name" }
    if ($PSCmdlet.ShouldProcess($Path, 'Create the protected password file')) {
        $folder = Split-Path -Path $Path -Parent
        if ($folder -and -not (Test-Path -LiteralPath $folder)) { New-Item -Path $folder -ItemType Directory -ErrorAction Stop | Out-Null }
        $file = New-Item -Path $Path -ItemType File -ErrorAction Stop
        $acl = [System.Security.AccessControl.FileSecurity]::new()
        $acl.SetAccessRuleProtection($true, $false)
        # The account running the script too: a non-elevated administrator's token does not use the
        # Administrators group, and the script still has to write the passwords.
        $me = [System.Security.Principal.WindowsIdentity]::GetCurrent().User.Value
        foreach ($sid in @('S-1-5-32-544', 'S-1-5-18', $me) | Select-Object -Unique) {
            $identity = [System.Security.Principal.SecurityIdentifier]::new($sid)
            $rule = [System.Security.AccessControl.FileSystemAccessRule]::new($identity, 'FullControl', 'Allow')
            $acl.AddAccessRule($rule)
        }
        Set-Acl -LiteralPath $Path -AclObject $acl -ErrorAction Stop
        Set-Content -LiteralPath $Path -Value 'login;password' -Encoding utf8 -ErrorAction Stop
        $file
    }
}

function Add-TssrPasswordLine {
    <#
    .SYNOPSIS
    Appends login;password to the protected password file; the clear text lives only for this write.
    .DESCRIPTION
    The SecureString is decoded here, written, and the variable cleared. Nothing is printed.
    .PARAMETER Path
    The password file made by New-TssrPasswordFile.
    .PARAMETER Login
    The account name.
    .PARAMETER Password
    The password, as a SecureString.
    .EXAMPLE
    Add-TssrPasswordLine -Path $file -Login 'alice' -Password (New-TssrPassword)
    Records a password.
    .EXAMPLE
    Add-TssrPasswordLine -Path $file -Login 'bob' -Password $secure -WhatIf
    Says what it would record, records nothing.
    .OUTPUTS
    None.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    param(
        [Parameter(Mandatory)][ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf })][string]$Path,
        [Parameter(Mandatory)][ValidatePattern('^[A-Za-z0-9._-]{1,32}$')][string]$Login,
        [Parameter(Mandatory)][securestring]$Password
    )
    if ($PSCmdlet.ShouldProcess($Path, "Record the password of $Login")) {
        $plain = [System.Net.NetworkCredential]::new('', $Password).Password
        try { Add-Content -LiteralPath $Path -Value "$Login;$plain" -Encoding utf8 -ErrorAction Stop }
        finally { $plain = $null }
    }
}

$public = @(
    'Import-TssrUserCsv', 'ConvertTo-TssrAccountName', 'Test-TssrPersonName', 'Split-TssrCsvLine', 'Get-TssrNameKey',
    'New-TssrPassword', 'New-TssrPasswordFile', 'Add-TssrPasswordLine'
)
Export-ModuleMember -Function $public
