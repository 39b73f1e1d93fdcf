# Pester 5 tests of Backup-TssrFolder.ps1: robocopy and the event log are mocked (Invoke-TssrRobocopy and
# Write-TssrEvent, the script's two seams); folders live in Pester's TestDrive.
# Run: Invoke-Pester -Path scripts/powershell (Windows PowerShell 5.1 or PowerShell 7, Pester 5).

BeforeAll {
    $script:Script = Join-Path -Path $PSScriptRoot -ChildPath 'Backup-TssrFolder.ps1'
    # The seams are defined inside the script; stand-ins let Pester mock them (a mock wins over the
    # script's own function: aliases come before functions in PowerShell's command precedence).
    $stub = {
        [CmdletBinding()]
        param($ArgumentList, $Message, $EntryType, $EventId)
    }
    foreach ($name in @('Invoke-TssrRobocopy', 'Write-TssrEvent')) { Set-Item -Path "function:global:$name" -Value $stub }
}

Describe 'Backup-TssrFolder.ps1' {
    BeforeEach {
        $script:Source = Join-Path -Path $TestDrive -ChildPath 'src'
        $script:Destination = Join-Path -Path $TestDrive -ChildPath ('dst-{0}' -f [guid]::NewGuid())
        $script:Logs = Join-Path -Path $TestDrive -ChildPath 'logs'
        New-Item -Path $Source -ItemType Directory -Force | Out-Null
        Mock Write-TssrEvent { @() }
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

    It 'mirrors with /MIR into DESTINATION\mirror and logs to the log folder' {
        Mock Invoke-TssrRobocopy { 1 }
        & $Script -Source $Source -Destination $Destination -LogFolder $Logs | Out-Null
        Should -Invoke Invoke-TssrRobocopy -Times 1 -Exactly -ParameterFilter {
            $ArgumentList -contains '/MIR' -and $ArgumentList[1] -eq (Join-Path -Path $Destination -ChildPath 'mirror') -and
            @($ArgumentList | Where-Object -FilterScript { $_ -like "/LOG+:$Logs*" }).Count -eq 1
        }
    }

    It 'writes an Information event on success and an Error event on failure' {
        Mock Invoke-TssrRobocopy { 0 }
        & $Script -Source $Source -Destination $Destination -LogFolder $Logs | Out-Null
        Should -Invoke Write-TssrEvent -Times 1 -Exactly -ParameterFilter { $EntryType -eq 'Information' -and $EventId -eq 1000 }
        Mock Invoke-TssrRobocopy { 8 }
        & $Script -Source $Source -Destination $Destination -LogFolder $Logs 2>$null | Out-Null
        Should -Invoke Write-TssrEvent -Times 1 -Exactly -ParameterFilter { $EntryType -eq 'Error' -and $EventId -eq 1001 }
    }

    It 'keeps the newest dated copies and deletes only folders named like a date' {
        Mock Invoke-TssrRobocopy { New-Item -Path $ArgumentList[1] -ItemType Directory -Force | Out-Null; 1 }
        New-Item -Path $Destination -ItemType Directory | Out-Null
        foreach ($name in @('20260101-020000', '20260102-020000', '20260103-020000', 'keep-me')) {
            New-Item -Path (Join-Path -Path $Destination -ChildPath $name) -ItemType Directory | Out-Null
        }
        $out = & $Script -Source $Source -Destination $Destination -LogFolder $Logs -Mode Versioned -Keep 2
        $LASTEXITCODE | Should -Be 0
        @($out.Removed).Count | Should -Be 2
        Test-Path -LiteralPath (Join-Path -Path $Destination -ChildPath '20260101-020000') | Should -BeFalse
        Test-Path -LiteralPath (Join-Path -Path $Destination -ChildPath '20260103-020000') | Should -BeTrue
        Test-Path -LiteralPath (Join-Path -Path $Destination -ChildPath 'keep-me') | Should -BeTrue
    }

    It 'deletes nothing after a failed copy' {
        Mock Invoke-TssrRobocopy { 16 }
        New-Item -Path (Join-Path -Path $Destination -ChildPath '20260101-020000') -ItemType Directory -Force | Out-Null
        & $Script -Source $Source -Destination $Destination -LogFolder $Logs -Mode Versioned -Keep 1 2>$null | Out-Null
        $LASTEXITCODE | Should -Be 1
        Test-Path -LiteralPath (Join-Path -Path $Destination -ChildPath '20260101-020000') | Should -BeTrue
    }

    It 'refuses a destination inside the source (exit 2, robocopy not run)' {
        Mock Invoke-TssrRobocopy { 0 }
        & $Script -Source $Source -Destination (Join-Path -Path $Source -ChildPath 'backup') -LogFolder $Logs 2>$null
        $LASTEXITCODE | Should -Be 2
        Should -Invoke Invoke-TssrRobocopy -Times 0
    }

    It 'runs nothing with -WhatIf' {
        Mock Invoke-TssrRobocopy { 0 }
        & $Script -Source $Source -Destination $Destination -LogFolder $Logs -WhatIf | Out-Null
        Should -Invoke Invoke-TssrRobocopy -Times 0
        Test-Path -LiteralPath $Destination | Should -BeFalse
    }
}
