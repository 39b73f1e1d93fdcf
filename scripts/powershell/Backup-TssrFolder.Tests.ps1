# Pester 5 tests of Backup-TssrFolder.ps1: robocopy, the event log, the privilege check and the shadow
# copy are mocked through the script's own seams (Invoke-TssrRobocopy, Write-TssrEvent,
# Test-TssrBackupPrivilege, New-/Remove-TssrShadowCopy); folders live in Pester's TestDrive.
# Run: Invoke-Pester -Path scripts/powershell (Windows PowerShell 5.1 or PowerShell 7, Pester 5.3+).

BeforeAll {
    $script:Script = Join-Path -Path $PSScriptRoot -ChildPath 'Backup-TssrFolder.ps1'
    # The seams are defined inside the script; stand-ins let Pester mock them (a mock wins over the
    # script's own function: aliases come before functions in PowerShell's command precedence).
    $stub = {
        [CmdletBinding(SupportsShouldProcess)]
        param($ArgumentList, $Message, $EntryType, $EventId, $Folder, $Shadow)
    }
    $script:Seams = @('Invoke-TssrRobocopy', 'Write-TssrEvent', 'Test-TssrBackupPrivilege', 'New-TssrShadowCopy', 'Remove-TssrShadowCopy')
    foreach ($name in $Seams) { Set-Item -Path "function:global:$name" -Value $stub }
}

AfterAll {
    foreach ($name in $script:Seams) { Remove-Item -Path "function:global:$name" }
}

Describe 'Backup-TssrFolder.ps1' {
    BeforeEach {
        $script:Source = Join-Path -Path $TestDrive -ChildPath 'src'
        $script:Destination = Join-Path -Path $TestDrive -ChildPath ('dst-{0}' -f [guid]::NewGuid())
        $script:Logs = Join-Path -Path $TestDrive -ChildPath ('logs-{0}' -f [guid]::NewGuid())
        New-Item -Path $Source -ItemType Directory -Force | Out-Null
        Mock Write-TssrEvent { @() }
        Mock Test-TssrBackupPrivilege { $true }
        Mock New-TssrShadowCopy { [pscustomobject]@{ Path = 'C:\tssr-kit-vss\src'; Link = 'C:\tssr-kit-vss'; ShadowId = '{1}' } }
        Mock Remove-TssrShadowCopy { @() }
        # robocopy stand-in: creates the target like the real one would, returns code 1
        Mock Invoke-TssrRobocopy { New-Item -Path $ArgumentList[1] -ItemType Directory -Force | Out-Null; 1 }
    }

    It 'treats robocopy exit code <Code> as success: <Success>' -ForEach @(
        @{ Code = 0; Success = $true }, @{ Code = 1; Success = $true }, @{ Code = 3; Success = $true },
        @{ Code = 7; Success = $true }, @{ Code = 8; Success = $false }, @{ Code = 16; Success = $false }
    ) {
        Mock Invoke-TssrRobocopy { $Code }
        $out = & $Script -Source $Source -Destination $Destination -LogFolder $Logs 2>$null
        $out.Success | Should -Be $Success
        $out.Code | Should -Be $Code
        $LASTEXITCODE | Should -Be $(if ($Success) { 0 } else { 1 })
    }

    It 'keeps permissions, owners and auditing, reads in backup mode and follows no junction' {
        & $Script -Source $Source -Destination $Destination -LogFolder $Logs | Out-Null
        Should -Invoke Invoke-TssrRobocopy -Times 1 -Exactly -ParameterFilter {
            $ArgumentList -contains '/COPY:DATSO' -and $ArgumentList -contains '/DCOPY:DAT' -and
            $ArgumentList -contains '/B' -and $ArgumentList -contains '/XJ' -and $ArgumentList -notcontains '/COPY:DAT'
        }
    }

    It 'mirrors with /MIR into DESTINATION\mirror and logs to the log folder' {
        & $Script -Source $Source -Destination $Destination -LogFolder $Logs | Out-Null
        Should -Invoke Invoke-TssrRobocopy -Times 1 -Exactly -ParameterFilter {
            $ArgumentList -contains '/MIR' -and $ArgumentList[1] -eq (Join-Path -Path $Destination -ChildPath 'mirror') -and
            @($ArgumentList | Where-Object -FilterScript { $_ -like "/LOG+:$Logs*" }).Count -eq 1
        }
    }

    It 'resolves relative paths against the PowerShell location, not the process folder' {
        $saved = [System.Environment]::CurrentDirectory
        Push-Location -LiteralPath $TestDrive
        try {
            [System.Environment]::CurrentDirectory = [System.IO.Path]::GetTempPath()
            $out = & $Script -Source 'src' -Destination 'relative-dst' -LogFolder 'relative-logs'
        }
        finally {
            Pop-Location
            [System.Environment]::CurrentDirectory = $saved
        }
        $out.Source | Should -Be $Source
        $out.Target | Should -Be (Join-Path -Path $TestDrive -ChildPath 'relative-dst\mirror')
        $out.LogFile | Should -BeLike "$(Join-Path -Path $TestDrive -ChildPath 'relative-logs')\backup-*.log"
    }

    It 'refuses to run without the backup and restore rights (exit 2, robocopy not run)' {
        Mock Test-TssrBackupPrivilege { $false }
        & $Script -Source $Source -Destination $Destination -LogFolder $Logs 2>$null
        $LASTEXITCODE | Should -Be 2
        Should -Invoke Invoke-TssrRobocopy -Times 0
    }

    It 'writes an Information event on success and an Error event on failure' {
        & $Script -Source $Source -Destination $Destination -LogFolder $Logs | Out-Null
        Should -Invoke Write-TssrEvent -Times 1 -Exactly -ParameterFilter { $EntryType -eq 'Information' -and $EventId -eq 1000 }
        Mock Invoke-TssrRobocopy { 8 }
        & $Script -Source $Source -Destination $Destination -LogFolder $Logs 2>$null | Out-Null
        Should -Invoke Write-TssrEvent -Times 1 -Exactly -ParameterFilter { $EntryType -eq 'Error' -and $EventId -eq 1001 }
    }

    It 'keeps the newest dated copies, the new one counted, and deletes only folders named like a date' {
        New-Item -Path $Destination -ItemType Directory | Out-Null
        foreach ($name in @('20000101-020000', '20000102-020000', '20000103-020000', 'keep-me')) {
            New-Item -Path (Join-Path -Path $Destination -ChildPath $name) -ItemType Directory | Out-Null
        }
        $out = & $Script -Source $Source -Destination $Destination -LogFolder $Logs -Mode Versioned -Keep 2
        $LASTEXITCODE | Should -Be 0
        @($out.Removed).Count | Should -Be 2
        Test-Path -LiteralPath (Join-Path -Path $Destination -ChildPath '20000102-020000') | Should -BeFalse
        Test-Path -LiteralPath (Join-Path -Path $Destination -ChildPath '20000103-020000') | Should -BeTrue
        Test-Path -LiteralPath (Join-Path -Path $Destination -ChildPath 'keep-me') | Should -BeTrue
        @(Get-ChildItem -LiteralPath $Destination -Directory | Where-Object -Property Name -Match '^\d{8}-\d{6}$').Count | Should -Be 2
    }

    It 'previews with -WhatIf exactly the folders the real run deletes' {
        New-Item -Path $Destination -ItemType Directory | Out-Null
        foreach ($name in @('20000101-020000', '20000102-020000', '20000103-020000', '20000104-020000-incomplete')) {
            New-Item -Path (Join-Path -Path $Destination -ChildPath $name) -ItemType Directory | Out-Null
        }
        $preview = & $Script -Source $Source -Destination $Destination -LogFolder $Logs -Mode Versioned -Keep 2 -WhatIf
        Should -Invoke Invoke-TssrRobocopy -Times 0
        @(Get-ChildItem -LiteralPath $Destination -Directory).Count | Should -Be 4
        $real = & $Script -Source $Source -Destination $Destination -LogFolder $Logs -Mode Versioned -Keep 2
        @($preview.Removed | Sort-Object) | Should -Be @($real.Removed | Sort-Object)
        @($real.Removed | Split-Path -Leaf | Sort-Object) | Should -Be @('20000101-020000', '20000102-020000', '20000104-020000-incomplete')
    }

    It 'deletes nothing after a failed copy, and keeps the failed set as -incomplete' {
        Mock Invoke-TssrRobocopy { New-Item -Path $ArgumentList[1] -ItemType Directory -Force | Out-Null; 16 }
        New-Item -Path (Join-Path -Path $Destination -ChildPath '20000101-020000') -ItemType Directory -Force | Out-Null
        $out = & $Script -Source $Source -Destination $Destination -LogFolder $Logs -Mode Versioned -Keep 1 2>$null
        $LASTEXITCODE | Should -Be 1
        $out.Target | Should -BeLike '*-incomplete'
        Test-Path -LiteralPath (Join-Path -Path $Destination -ChildPath '20000101-020000') | Should -BeTrue
    }

    It 'deletes logs older than -LogRetentionDays, and only lists them with -WhatIf' {
        New-Item -Path $Logs -ItemType Directory | Out-Null
        $old = New-Item -Path (Join-Path -Path $Logs -ChildPath 'backup-20000101-020000.log') -ItemType File
        $old.LastWriteTime = [datetime]::Now.AddDays(-100)
        $recent = New-Item -Path (Join-Path -Path $Logs -ChildPath 'backup-20991101-020000.log') -ItemType File
        $other = New-Item -Path (Join-Path -Path $Logs -ChildPath 'notes.txt') -ItemType File
        $other.LastWriteTime = [datetime]::Now.AddDays(-100)
        $preview = & $Script -Source $Source -Destination $Destination -LogFolder $Logs -LogRetentionDays 90 -WhatIf
        @($preview.RemovedLogs) | Should -Be @($old.FullName)
        Test-Path -LiteralPath $old.FullName | Should -BeTrue
        & $Script -Source $Source -Destination $Destination -LogFolder $Logs -LogRetentionDays 90 | Out-Null
        Test-Path -LiteralPath $old.FullName | Should -BeFalse
        Test-Path -LiteralPath $recent.FullName | Should -BeTrue
        Test-Path -LiteralPath $other.FullName | Should -BeTrue
    }

    It 'reads from a shadow copy with -UseShadowCopy and deletes it even when robocopy fails' {
        Mock Invoke-TssrRobocopy { throw 'robocopy crashed' }
        & $Script -Source $Source -Destination $Destination -LogFolder $Logs -UseShadowCopy 2>$null | Out-Null
        $LASTEXITCODE | Should -Be 1
        Should -Invoke New-TssrShadowCopy -Times 1 -Exactly -ParameterFilter { $Folder -eq $Source }
        Should -Invoke Invoke-TssrRobocopy -Times 1 -Exactly -ParameterFilter { $ArgumentList[0] -eq 'C:\tssr-kit-vss\src' }
        Should -Invoke Remove-TssrShadowCopy -Times 1 -Exactly
    }

    It 'refuses a destination inside the source (exit 2, robocopy not run)' {
        & $Script -Source $Source -Destination (Join-Path -Path $Source -ChildPath 'backup') -LogFolder $Logs 2>$null
        $LASTEXITCODE | Should -Be 2
        Should -Invoke Invoke-TssrRobocopy -Times 0
    }

    It 'runs nothing with -WhatIf' {
        & $Script -Source $Source -Destination $Destination -LogFolder $Logs -WhatIf | Out-Null
        Should -Invoke Invoke-TssrRobocopy -Times 0
        Test-Path -LiteralPath $Destination | Should -BeFalse
    }
}
