#!/usr/bin/env bash
# Prints what the Molecule scenario of roles/backup protects, as comparable text: every entry of
# /srv/data (type, mode, owner, group, modification time of files, link targets), the SHA-256 of each
# file, and the row count and a digest of the rows of inventaire.equipements.
# prepare.yml installs it as /root/expected.sh and keeps its output in /root/expected.txt; after the
# restore, side_effect.yml and tests/hoststate/test_backup.py run it again and compare.
# Usage: snapshot.sh     (as root)
# Exit codes: 0 printed, 1 a command failed (a missing folder or database included).
# Changes: nothing.

# errexit, nounset, pipefail: a missing folder or database fails the snapshot instead of printing less.
set -euo pipefail

cd /
printf '# entries of srv/data\n'
# Whole seconds: an archive may keep no fraction of a modification time.
find srv/data \( -type f -printf 'f %m %u %g %T@ %p\n' \) -o \( -type d -printf 'd %m %u %g - %p\n' \) \
  -o \( -type l -printf 'l %l %p\n' \) | awk '$1 == "f" { sub(/\.[0-9]*$/, "", $5) } { print }' | LC_ALL=C sort
printf '# sha256 of the files\n'
find srv/data -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
printf '# inventaire.equipements: rows, digest\n'
mariadb --batch --skip-column-names inventaire -e "
  SET SESSION group_concat_max_len = 16777216;
  SELECT COUNT(*), MD5(GROUP_CONCAT(CONCAT_WS('|', id, code, IFNULL(salle, 'NULL'), achat, prix)
                                    ORDER BY id SEPARATOR '\n'))
  FROM equipements"
