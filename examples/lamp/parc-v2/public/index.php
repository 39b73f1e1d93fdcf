<?php

declare(strict_types=1);

// The inventory: the items read from the database, all of them or one category
// (?category=switch). 200 when the database answers, 500 when it does not (the deploy's health
// check GETs this page).

require __DIR__ . '/../src/app.php';

// Only a known category is used; anything else shows the whole inventory.
$category = param($_GET, 'category');
if (!array_key_exists($category, CATEGORIES)) {
    $category = '';
}

try {
    $items = equipment_list(db_connect(), $category);
} catch (Throwable $error) {
    fail(500, 'La base de données ne répond pas : réessayez plus tard.', $error);
}

// After an add, add.php comes back here with ?added=TAG (shown only if it looks like a tag).
$added = param($_GET, 'added');

page_start('Inventaire');
?>
<?php if (preg_match(ASSET_TAG_PATTERN, $added) === 1): ?>
<p class="notice"><?= h($added) ?> a été ajouté à l'inventaire.</p>
<?php endif ?>
<form class="filter" method="get" action="./">
<label for="category">Catégorie</label>
<select id="category" name="category">
<option value="">Toutes</option>
<?php foreach (CATEGORIES as $code => $label): ?>
<option value="<?= h($code) ?>"<?= $code === $category ? ' selected' : '' ?>><?= h($label) ?></option>
<?php endforeach ?>
</select>
<button type="submit">Filtrer</button>
</form>
<table>
<caption><?= count($items) ?> équipement(s)</caption>
<thead><tr><th>N° d'inventaire</th><th>Catégorie</th><th>Description</th><th>Emplacement</th></tr></thead>
<tbody>
<?php foreach ($items as $item): ?>
<tr>
<td class="tag"><?= h($item['asset_tag']) ?></td>
<td><?= h(CATEGORIES[$item['category']] ?? $item['category']) ?></td>
<td><?= h($item['description']) ?></td>
<td><?= h($item['location']) ?></td>
</tr>
<?php endforeach ?>
</tbody>
</table>
<?php
page_end();
