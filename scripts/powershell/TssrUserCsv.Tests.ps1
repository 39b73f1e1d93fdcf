# Pester 5 tests of TssrUserCsv.psm1: the CSV rules of docs/reference/users-csv.md, the account names,
# the passwords. Pure functions: nothing is mocked. Run: Invoke-Pester -Path scripts/powershell

BeforeAll {
    Import-Module -Name (Join-Path -Path $PSScriptRoot -ChildPath 'TssrUserCsv.psm1') -Force
    function New-TestCsv {
        param([string[]]$Line)
        $file = Join-Path -Path $TestDrive -ChildPath ('users-{0}.csv' -f [guid]::NewGuid())
        [System.IO.File]::WriteAllText($file, (($Line -join "`n") + "`n"), [System.Text.UTF8Encoding]::new($false))
        $file
    }
}

Describe 'Import-TssrUserCsv' {
    It 'reads a valid file with the Linux columns' {
        $csv = Import-TssrUserCsv -Path (New-TestCsv -Line 'login;first_name;last_name;groups;shell;ssh_key;state', 'alice;Alice;Martin;compta dev;;;', 'bob;Bob;Durand;;;;absent')
        $csv.Problems | Should -BeNullOrEmpty
        $csv.Users.Count | Should -Be 2
        $csv.Users[0].Groups | Should -Be @('compta', 'dev')
        $csv.Users[0].State | Should -Be 'present'
        $csv.Users[1].State | Should -Be 'absent'
    }

    It 'accepts the comma delimiter and quoted fields' {
        $csv = Import-TssrUserCsv -Path (New-TestCsv -Line 'login,first_name,last_name', 'alice,"Alice ""Al""",Martin')
        $csv.Problems | Should -BeNullOrEmpty
        $csv.Users[0].FirstName | Should -Be 'Alice "Al"'
    }

    It 'reports every problem with file, line and field, and returns no user for a bad row' {
        $csv = Import-TssrUserCsv -Path (New-TestCsv -Line 'login;first_name;last_name', 'Alice;Alice;Martin', 'bob;Bob$;Durand', 'carol;Carol;Petit', 'carol;Carol;Petit')
        ($csv.Problems -join "`n") | Should -Match ':2:login: .Alice. does not match'
        ($csv.Problems -join "`n") | Should -Match ':3:first_name: character ''\$'' is not allowed'
        ($csv.Problems -join "`n") | Should -Match ':5:login: .carol. duplicates line 4'
    }

    It 'refuses an unknown column and a missing required one' {
        $csv = Import-TssrUserCsv -Path (New-TestCsv -Line 'login;first_name;nickname', 'alice;Alice;Al')
        ($csv.Problems -join "`n") | Should -Match "header: unknown column 'nickname'"
        ($csv.Problems -join "`n") | Should -Match "header: missing column 'last_name'"
    }

    It 'refuses the AD columns unless asked for them' {
        $file = New-TestCsv -Line 'login;first_name;last_name;ou', 'alice;Alice;Martin;OU=Staff,DC=corp,DC=example'
        (Import-TssrUserCsv -Path $file).Problems | Should -Not -BeNullOrEmpty
        (Import-TssrUserCsv -Path $file -DirectoryColumns).Problems | Should -BeNullOrEmpty
    }

    It 'reports two rows that give the same 20-character account name as a collision' {
        $csv = Import-TssrUserCsv -Path (New-TestCsv -Line 'login;first_name;last_name', 'administration_compta1;Anne;Roux', 'administration_compta2;Paul;Roux')
        ($csv.Problems -join "`n") | Should -Match ':3:sam_account_name: .*collides with line 2'
    }

    It 'keeps the Linux rule for the groups column: AD-style names are refused there' {
        $csv = Import-TssrUserCsv -Path (New-TestCsv -Line 'login;first_name;last_name;groups', 'alice;Alice;Martin;GG_Compta')
        ($csv.Problems -join "`n") | Should -Match ":2:groups: 'GG_Compta' does not match"
    }

    It 'takes Windows group names, spaces and all, from windows_groups (| between names)' {
        $csv = Import-TssrUserCsv -Path (New-TestCsv -Line 'login;first_name;last_name;groups;windows_groups', 'alice;Alice;Martin;vpn;GG_Compta | DL_Partage_RW|Remote Desktop Users')
        $csv.Problems | Should -BeNullOrEmpty
        $csv.Users[0].Groups | Should -Be @('vpn', 'GG_Compta', 'DL_Partage_RW', 'Remote Desktop Users')
    }

    It 'refuses a Windows group name with <Bad>' -ForEach @(
        @{ Bad = 'a backslash'; Name = 'CORP\Domain Admins' }, @{ Bad = 'a comma'; Name = 'GG,Compta' },
        @{ Bad = 'an equals sign'; Name = 'CN=x' }, @{ Bad = 'a trailing dot'; Name = 'GG_Compta.' },
        @{ Bad = 'a wildcard'; Name = 'GG_*' }, @{ Bad = 'too many characters'; Name = ('G' * 65) }
    ) {
        $csv = Import-TssrUserCsv -Path (New-TestCsv -Line 'login;first_name;last_name;windows_groups', "alice;Alice;Martin;`"$Name`"")
        ($csv.Problems -join "`n") | Should -Match ':2:windows_groups: '
        $csv.Users | Should -BeNullOrEmpty
    }

    It 'refuses a full name longer than an AD object name (64 characters)' {
        $csv = Import-TssrUserCsv -Path (New-TestCsv -Line 'login;first_name;last_name', "alice;Alice;$('Martin' * 10)")
        ($csv.Problems -join "`n") | Should -Match ':2:last_name: the full name .* holds 64'
    }

    It 'accepts employee_id for the directory only, and checks it' {
        $file = New-TestCsv -Line 'login;first_name;last_name;employee_id', 'alice;Alice;Martin;E-042', 'bob;Bob;Durand;E 43'
        (Import-TssrUserCsv -Path $file).Problems | Should -Match "header: unknown column 'employee_id'"
        $csv = Import-TssrUserCsv -Path $file -DirectoryColumns
        ($csv.Problems -join "`n") | Should -Match ":3:employee_id: 'E 43'"
        $csv.Users[0].EmployeeId | Should -Be 'E-042'
    }

    It 'reports quoting errors as the Linux versions do' {
        $csv = Import-TssrUserCsv -Path (New-TestCsv -Line 'login;first_name;last_name', 'alice;"Alice"x;Martin', 'bob;Bo"b;Durand', 'carol;"Carol;Petit', 'dan;Dan')
        $text = $csv.Problems -join "`n"
        $text | Should -Match ':2:row: text after closing quote'
        $text | Should -Match ':3:row: quote inside unquoted field'
        $text | Should -Match ':4:row: unterminated quoted field'
        $text | Should -Match ':5:row: expected 3 fields, found 2'
    }
}

Describe 'ConvertTo-TssrAccountName' {
    It 'strips accents and lowers the name' {
        (ConvertTo-TssrAccountName -Name 'Hélène.Dupré').Name | Should -BeExactly 'helene.dupre'
    }

    It 'cuts the name at 20 characters and says so' {
        $result = ConvertTo-TssrAccountName -Name 'a_very_long_login_name_indeed'
        $result.Name.Length | Should -Be 20
        $result.Truncated | Should -BeTrue
    }
}

Describe 'Get-TssrNameKey' {
    It 'gives one key for one person whatever the accents, case and punctuation' {
        Get-TssrNameKey -Name "H$([char]0xE9)l$([char]0xE8)ne Dupr$([char]0xE9)-Roux" | Should -BeExactly 'helenedupreroux'
        Get-TssrNameKey -Name 'HELENE DUPRE ROUX' | Should -BeExactly 'helenedupreroux'
        Get-TssrNameKey -Name 'Eric Dupont' | Should -Not -Be (Get-TssrNameKey -Name 'Elodie Dupont')
    }
}

Describe 'New-TssrPassword' {
    It 'returns a 20-character SecureString with upper case, lower case and digits' {
        $secure = New-TssrPassword
        $secure | Should -BeOfType [securestring]
        $plain = [System.Net.NetworkCredential]::new('', $secure).Password
        $plain.Length | Should -Be 20
        $plain | Should -MatchExactly '[A-Z]'
        $plain | Should -MatchExactly '[a-z]'
        $plain | Should -Match '[0-9]'
    }
}

Describe 'New-TssrPasswordFile' {
    It 'refuses a file that exists already' {
        $file = Join-Path -Path $TestDrive -ChildPath 'exists.csv'
        Set-Content -LiteralPath $file -Value 'old'
        { New-TssrPasswordFile -Path $file } | Should -Throw '*already exists*'
    }

    It 'creates the file with inheritance removed and access for Administrators, SYSTEM and the caller only' {
        $file = Join-Path -Path $TestDrive -ChildPath 'acl.csv'
        New-TssrPasswordFile -Path $file | Out-Null
        $acl = Get-Acl -LiteralPath $file
        $acl.AreAccessRulesProtected | Should -BeTrue
        $me = [System.Security.Principal.WindowsIdentity]::GetCurrent().User.Value
        $sids = @($acl.GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier]) | ForEach-Object -Process { $_.IdentityReference.Value } | Sort-Object -Unique)
        $sids | Should -Be (@('S-1-5-32-544', 'S-1-5-18', $me) | Sort-Object -Unique)
        @($acl.GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier]) | Where-Object -Property IsInherited).Count | Should -Be 0
        (Get-Content -LiteralPath $file)[0] | Should -Be 'login;password'
    }

    It 'creates nothing with -WhatIf' {
        $file = Join-Path -Path $TestDrive -ChildPath 'whatif.csv'
        New-TssrPasswordFile -Path $file -WhatIf
        Test-Path -LiteralPath $file | Should -BeFalse
    }
}
