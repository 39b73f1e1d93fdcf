-- Parc, version 2: each item gets a location.
-- Works on an empty database and on one where version 1's schema was applied: the table is
-- created if missing, the column added if missing, the seed rows added if missing. Version 1's
-- code keeps working on this database (the new column has a default, and v1 names its columns).

SET NAMES utf8mb4;

CREATE TABLE IF NOT EXISTS equipment (
    id          INT UNSIGNED NOT NULL AUTO_INCREMENT,
    asset_tag   VARCHAR(20)  NOT NULL,              -- inventory number on the label: PC-0001
    category    VARCHAR(20)  NOT NULL,              -- pc, laptop, server, switch, printer
    description VARCHAR(255) NOT NULL,
    created_at  TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    UNIQUE KEY uq_equipment_asset_tag (asset_tag)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- New in version 2 (MariaDB syntax: IF NOT EXISTS makes the upgrade safe to run again).
ALTER TABLE equipment ADD COLUMN IF NOT EXISTS location VARCHAR(100) NOT NULL DEFAULT '' AFTER description;
CREATE INDEX IF NOT EXISTS idx_equipment_category ON equipment (category);

INSERT IGNORE INTO equipment (id, asset_tag, category, description) VALUES
    (1, 'PC-0001',  'pc',      'Dell OptiPlex 7010, poste de l''accueil'),
    (2, 'SW-0001',  'switch',  'Cisco Catalyst 2960-X, 24 ports PoE'),
    (3, 'PRN-0001', 'printer', 'HP LaserJet Pro M404dn, réseau'),
    (4, 'SRV-0001', 'server',  'Dell PowerEdge T150, serveur de fichiers'),
    (5, 'PT-0001',  'laptop',  'Lenovo ThinkPad E14, prêt aux techniciens');

-- Locations of the seed rows, only where none was set yet (never overwrite a user's entry).
UPDATE equipment SET location = 'Accueil, rez-de-chaussée'  WHERE asset_tag = 'PC-0001'  AND location = '';
UPDATE equipment SET location = 'Salle serveur, baie A'     WHERE asset_tag = 'SW-0001'  AND location = '';
UPDATE equipment SET location = 'Secrétariat, 1er étage'    WHERE asset_tag = 'PRN-0001' AND location = '';
UPDATE equipment SET location = 'Salle serveur, baie B'     WHERE asset_tag = 'SRV-0001' AND location = '';
UPDATE equipment SET location = 'Bureau du support'         WHERE asset_tag = 'PT-0001'  AND location = '';
