<?php

declare(strict_types=1);

// The equipment table: every query names its columns (never SELECT *), so this code keeps
// working when a later version adds columns to the table.

// Categories: the code stored in the database => the label shown.
const CATEGORIES = [
    'pc' => 'Poste fixe',
    'laptop' => 'Portable',
    'server' => 'Serveur',
    'switch' => 'Commutateur',
    'printer' => 'Imprimante',
];

// An asset tag: 2 to 4 capital letters, a dash, 4 digits (PC-0001, PRN-0042).
const ASSET_TAG_PATTERN = '/^[A-Z]{2,4}-[0-9]{4}$/';

/**
 * The inventory, or only one category when $category is a code of CATEGORIES.
 *
 * @return list<array{asset_tag: string, category: string, description: string, location: string}>
 */
function equipment_list(PDO $db, string $category = ''): array
{
    $columns = 'SELECT asset_tag, category, description, location FROM equipment';
    if ($category === '') {
        return $db->query("$columns ORDER BY asset_tag")->fetchAll();
    }
    $select = $db->prepare("$columns WHERE category = ? ORDER BY asset_tag");
    $select->execute([$category]);
    return $select->fetchAll();
}

function equipment_count(PDO $db): int
{
    return (int) $db->query('SELECT COUNT(*) FROM equipment')->fetchColumn();
}

/**
 * Check what the add form sent.
 *
 * @param array<string, string> $input
 * @return array{0: array{asset_tag: string, category: string, description: string, location: string}, 1: array<string, string>}
 *         the cleaned values, and the errors by field (empty when all is well)
 */
function equipment_validate(array $input): array
{
    $item = [
        'asset_tag' => strtoupper(trim($input['asset_tag'] ?? '')),
        'category' => $input['category'] ?? '',
        'description' => trim($input['description'] ?? ''),
        'location' => trim($input['location'] ?? ''),
    ];
    $errors = [];
    if (preg_match(ASSET_TAG_PATTERN, $item['asset_tag']) !== 1) {
        $errors['asset_tag'] = 'Format attendu : 2 à 4 lettres, un tiret, 4 chiffres (PC-0001).';
    }
    if (!array_key_exists($item['category'], CATEGORIES)) {
        $errors['category'] = 'Choisissez une catégorie de la liste.';
    }
    // 1 to 255 characters of valid UTF-8, no control characters.
    if (preg_match('/^[^\x00-\x1F\x7F]{1,255}$/u', $item['description']) !== 1) {
        $errors['description'] = 'Obligatoire, 255 caractères au plus.';
    }
    // Optional: 0 to 100 characters.
    if (preg_match('/^[^\x00-\x1F\x7F]{0,100}$/u', $item['location']) !== 1) {
        $errors['location'] = '100 caractères au plus.';
    }
    return [$item, $errors];
}

/**
 * Add one item (already validated). A prepared statement: the values never become SQL.
 *
 * @param array{asset_tag: string, category: string, description: string, location: string} $item
 * @return bool false when the asset tag is already in the inventory
 */
function equipment_add(PDO $db, array $item): bool
{
    $insert = $db->prepare(
        'INSERT INTO equipment (asset_tag, category, description, location) VALUES (?, ?, ?, ?)'
    );
    try {
        $insert->execute([$item['asset_tag'], $item['category'], $item['description'], $item['location']]);
    } catch (PDOException $e) {
        if (($e->errorInfo[1] ?? null) === 1062) {   // ER_DUP_ENTRY: the unique asset tag
            return false;
        }
        throw $e;
    }
    return true;
}
