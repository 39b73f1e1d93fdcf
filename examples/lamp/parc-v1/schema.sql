-- Parc, version 1: the equipment inventory.
-- Applied inside the app's database by its migration account (deploy-lamp.sh --schema).
-- Idempotent: running it again changes nothing, and the seed rows (explicit ids) are only added
-- when missing.

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

INSERT IGNORE INTO equipment (id, asset_tag, category, description) VALUES
    (1, 'PC-0001',  'pc',      'Dell OptiPlex 7010, poste de l''accueil'),
    (2, 'SW-0001',  'switch',  'Cisco Catalyst 2960-X, 24 ports PoE'),
    (3, 'PRN-0001', 'printer', 'HP LaserJet Pro M404dn, réseau'),
    (4, 'SRV-0001', 'server',  'Dell PowerEdge T150, serveur de fichiers'),
    (5, 'PT-0001',  'laptop',  'Lenovo ThinkPad E14, prêt aux techniciens');
