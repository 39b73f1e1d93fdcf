<?php

declare(strict_types=1);

// The add form. GET shows it; POST checks the CSRF token, validates, inserts with a prepared
// statement, then redirects to the inventory (post/redirect/get: a reload never adds twice).

require __DIR__ . '/../src/app.php';

// The session only holds the CSRF token: a random value that a page of another site cannot
// read, so it cannot forge a POST that carries it.
session_start([
    'name' => 'parc_session',
    'cookie_httponly' => true,
    'cookie_secure' => param($_SERVER, 'HTTPS') === 'on',
    'cookie_samesite' => 'Strict',
    'use_strict_mode' => true,
]);
$_SESSION['csrf'] ??= bin2hex(random_bytes(32));

$item = ['asset_tag' => '', 'category' => '', 'description' => '', 'location' => ''];
$errors = [];

if (param($_SERVER, 'REQUEST_METHOD') === 'POST') {
    if (!hash_equals($_SESSION['csrf'], param($_POST, 'csrf'))) {
        fail(400, 'Formulaire expiré : rechargez la page et recommencez.');
    }
    $input = [];
    foreach (array_keys($item) as $field) {
        $input[$field] = param($_POST, $field);
    }
    [$item, $errors] = equipment_validate($input);
    if ($errors === []) {
        try {
            $added = equipment_add(db_connect(), $item);
        } catch (Throwable $error) {
            fail(500, 'La base de données ne répond pas : réessayez plus tard.', $error);
        }
        if ($added) {
            header('Location: index.php?added=' . rawurlencode($item['asset_tag']), true, 303);
            exit;
        }
        $errors['asset_tag'] = 'Ce numéro d\'inventaire existe déjà.';
    }
    http_response_code(422);
}

/** The error message of a field, if any. */
$error_of = static fn (string $field): string =>
    isset($errors[$field]) ? '<span class="error">' . h($errors[$field]) . '</span>' : '';

page_start('Ajouter un équipement');
?>
<form method="post" action="add.php">
<input type="hidden" name="csrf" value="<?= h($_SESSION['csrf']) ?>">
<p><label for="asset_tag">N° d'inventaire</label>
<input id="asset_tag" name="asset_tag" required maxlength="9" placeholder="PC-0002" value="<?= h($item['asset_tag']) ?>">
<?= $error_of('asset_tag') ?></p>
<p><label for="category">Catégorie</label>
<select id="category" name="category" required>
<option value="">—</option>
<?php foreach (CATEGORIES as $code => $label): ?>
<option value="<?= h($code) ?>"<?= $code === $item['category'] ? ' selected' : '' ?>><?= h($label) ?></option>
<?php endforeach ?>
</select>
<?= $error_of('category') ?></p>
<p><label for="description">Description</label>
<input id="description" name="description" required maxlength="255" value="<?= h($item['description']) ?>">
<?= $error_of('description') ?></p>
<p><label for="location">Emplacement</label>
<input id="location" name="location" maxlength="100" placeholder="Salle 104" value="<?= h($item['location']) ?>">
<?= $error_of('location') ?></p>
<p><button type="submit">Ajouter</button></p>
</form>
<?php
page_end();
