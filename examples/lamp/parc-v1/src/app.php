<?php

declare(strict_types=1);

// Loaded first by every page: the version, the error handling, the HTML helpers.

const APP_VERSION = '1';

require __DIR__ . '/db.php';
require __DIR__ . '/equipment.php';

// A PHP warning becomes an exception, so every failure ends in a try/catch or in the handler
// below, and no message (with a file path in it) is ever printed into a page.
set_error_handler(static function (int $severity, string $message, string $file, int $line): bool {
    if ((error_reporting() & $severity) === 0) {
        return false;
    }
    throw new ErrorException($message, 0, $severity, $file, $line);
});
set_exception_handler(static function (Throwable $error): void {
    fail(500, 'Erreur interne : réessayez plus tard.', $error);
});

/** Escape a text for HTML, in an element or in an attribute. */
function h(string $text): string
{
    return htmlspecialchars($text, ENT_QUOTES | ENT_SUBSTITUTE | ENT_HTML5, 'UTF-8');
}

/** A string parameter from $_GET or $_POST ('' when missing or not a string). */
function param(array $source, string $name): string
{
    $value = $source[$name] ?? '';
    return is_string($value) ? $value : '';
}

function page_start(string $title): void
{
    header('Content-Type: text/html; charset=utf-8');
    $version = h(APP_VERSION);
    $title = h($title);
    echo <<<HTML
        <!DOCTYPE html>
        <html lang="fr">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="app-version" content="$version">
        <title>$title — Parc</title>
        <link rel="stylesheet" href="style.css">
        </head>
        <body>
        <header>
        <h1>Parc — version $version</h1>
        <nav><a href="./">Inventaire</a> · <a href="add.php">Ajouter un équipement</a></nav>
        </header>
        <main>

        HTML;
}

function page_end(): void
{
    echo "</main>\n</body>\n</html>\n";
}

/** Answer an error page. The details go to the server's log, never to the visitor. */
function fail(int $status, string $message, ?Throwable $error = null): never
{
    if ($error !== null) {
        error_log('parc: ' . get_class($error) . ': ' . $error->getMessage());
    }
    if (headers_sent()) {           // the page had begun: finish it with the message
        echo '<p class="error">' . h($message) . "</p>\n";
        exit;
    }
    http_response_code($status);
    page_start('Erreur');
    echo '<p class="error">' . h($message) . "</p>\n";
    page_end();
    exit;
}
