<?php

declare(strict_types=1);

// The inventory: every item read from the database. 200 when the database answers, 500 when
// it does not (the deploy's health check GETs this page).

require __DIR__ . '/../src/app.php';

try {
    $items = equipment_list(db_connect());
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
<table>
<caption><?= count($items) ?> équipement(s)</caption>
<thead><tr><th>N° d'inventaire</th><th>Catégorie</th><th>Description</th></tr></thead>
<tbody>
<?php foreach ($items as $item): ?>
<tr>
<td class="tag"><?= h($item['asset_tag']) ?></td>
<td><?= h(CATEGORIES[$item['category']] ?? $item['category']) ?></td>
<td><?= h($item['description']) ?></td>
</tr>
<?php endforeach ?>
</tbody>
</table>
<?php
page_end();
