<?php

declare(strict_types=1);

// For monitoring: 200 and {"status":"ok",...} when the database answers, 503 otherwise.

require __DIR__ . '/../src/app.php';

header('Content-Type: application/json');
header('Cache-Control: no-store');

try {
    $count = equipment_count(db_connect());
} catch (Throwable $error) {
    error_log('parc: health: ' . get_class($error) . ': ' . $error->getMessage());
    http_response_code(503);
    echo json_encode(['status' => 'error', 'database' => 'unreachable']), "\n";
    exit;
}

echo json_encode(['status' => 'ok', 'database' => 'ok', 'version' => APP_VERSION, 'equipment' => $count]), "\n";
