<?php

declare(strict_types=1);

// How the app reaches its database.
//
// deploy-lamp.sh writes the settings to an ini file that only the app's user can read
// (/etc/tssr-kit/lamp/NAME/database.ini) and the PHP-FPM pool gives its path in the
// environment variable LAMP_DB_CONFIG: no password in the code, none in the release.

/**
 * Read the database settings named by LAMP_DB_CONFIG.
 *
 * @return array{host: string, socket: string, database: string, user: string, password: string}
 */
function db_config(): array
{
    $path = getenv('LAMP_DB_CONFIG');
    if (!is_string($path) || $path === '') {
        throw new RuntimeException('LAMP_DB_CONFIG is not set');
    }
    if (!is_file($path) || !is_readable($path)) {
        throw new RuntimeException("the database settings ($path) cannot be read");
    }
    // RAW: the values are taken as written (a password may hold ! ; or $).
    $ini = parse_ini_file($path, false, INI_SCANNER_RAW);
    if ($ini === false) {
        throw new RuntimeException("the database settings ($path) are not a valid ini file");
    }
    $config = [];
    foreach (['host', 'socket', 'database', 'user', 'password'] as $key) {
        $config[$key] = is_string($ini[$key] ?? null) ? $ini[$key] : '';
    }
    if ($config['database'] === '' || $config['user'] === '') {
        throw new RuntimeException("the database settings ($path) lack database or user");
    }
    return $config;
}

/** Open a connection: errors raise exceptions, prepared statements are real ones. */
function db_connect(): PDO
{
    $config = db_config();
    // The unix socket when given (root and the app never need TCP), else the host.
    $server = $config['socket'] !== ''
        ? 'unix_socket=' . $config['socket']
        : 'host=' . ($config['host'] !== '' ? $config['host'] : 'localhost');
    $dsn = "mysql:$server;dbname={$config['database']};charset=utf8mb4";

    return new PDO($dsn, $config['user'], $config['password'], [
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_EMULATE_PREPARES => false,
        PDO::ATTR_DEFAULT_FETCH_MODE => PDO::FETCH_ASSOC,
        PDO::ATTR_TIMEOUT => 5,
    ]);
}
