#!/usr/bin/env bash
# Seeds what the Molecule scenario of roles/backup protects, on a fresh container (prepare.yml):
# the MariaDB database `inventaire` (a table of 1000 rows, UTF-8 text, NULLs) and the folder /srv/data
# (a few MB of mixed files: text, random bytes, a large compressible log, an empty file, a name with
# spaces and accents, a symbolic link, an empty folder, a private file owned by another user).
# Usage: seed.sh        (as root; MariaDB running)
# Exit codes: 0 seeded, 1 a command failed.
# Changes: creates /srv/data and the database inventaire (a test fixture: never run on a real server).

# errexit, nounset, pipefail: any failed step (a pipe's included) stops the seeding.
set -euo pipefail

mariadb <<'SQL'
CREATE DATABASE IF NOT EXISTS inventaire CHARACTER SET utf8mb4;
USE inventaire;
CREATE TABLE IF NOT EXISTS equipements (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  code VARCHAR(16) NOT NULL UNIQUE,
  salle VARCHAR(64) NULL,
  achat DATE NOT NULL,
  prix DECIMAL(8, 2) NOT NULL
) ENGINE=InnoDB;
INSERT INTO equipements (code, salle, achat, prix)
  WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 1000)
  SELECT CONCAT('PC-', LPAD(n, 4, '0')),
         CASE WHEN n % 10 = 0 THEN NULL ELSE CONCAT('Salle réunion ', n % 7, ' — étage ', n % 3) END,
         DATE_ADD('2020-01-01', INTERVAL n DAY),
         n * 1.25
  FROM seq;
SQL

install -d -m 0755 /srv/data /srv/data/docs /srv/data/bin /srv/data/logs /srv/data/empty-dir
install -d -m 0700 -o nobody /srv/data/private
printf 'Inventaire du parc\n' > /srv/data/docs/readme.txt
printf 'compte rendu\n' > '/srv/data/docs/réunion du lundi.txt'
: > /srv/data/docs/empty
head -c 3145728 /dev/urandom > /srv/data/bin/random.bin
for i in $(seq 1 20000); do
  printf '2026-11-29T02:%02d:%02dZ app[%d]: request %d served in %d ms\n' \
    $((i % 60)) $((i % 60)) $((i % 97)) "${i}" $((i % 250))
done > /srv/data/logs/app.log
printf 'secret=s3cr3t\n' > /srv/data/private/app.conf
chown nobody /srv/data/private/app.conf
chmod 0600 /srv/data/private/app.conf
chmod 0640 /srv/data/logs/app.log
ln -s docs /srv/data/current
touch -d '2024-01-02 03:04:05' /srv/data/docs/readme.txt
