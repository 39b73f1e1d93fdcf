"""Benchmark deploy-lamp.sh against its floor: installing the same Debian packages, nothing else.

In one run, on fresh containers of the same test image (systemd as PID 1, like a lab host):

(a) floor: ``apt-get install -y --no-install-recommends <the script's Debian package list>`` in a
    fresh container — what any tool that sets up Apache, PHP-FPM and MariaDB must pay at least (the
    package list is read from the script's own ``DEBIAN_PACKAGES`` table, so the two cannot drift);
(b) fresh deploy: ``deploy-lamp.sh`` with the sample app ``examples/lamp/parc-v1`` and its schema,
    in another fresh container. The script, its ``templates/`` and ``lib/`` are copied in with ``docker cp``
    and run with ``docker exec`` (no SSH: the figure is the script's, not the runner's); the app goes
    in as the same tarball ``inv deploy-lamp`` would upload (tssrkit.jobs.lamp.pack_app);
(c) second run: the same deploy again in the same container (nothing to change).

Downloads: by default (``--downloads cached``) the packages are fetched once, before timing, by a
throw-away container into a host folder mounted as ``/var/cache/apt/archives`` in every container:
(a) and (b) then both install from the same local ``.deb`` files, and the ratio compares work, not
the mirror's mood (measured once: a network floor of 107 s against a deploy of 67 s, the mirror
being faster the second time). ``--downloads network`` lets each container download for itself,
and alternates which of (a) and (b) goes first from one round to the next.

Reported: the three wall times, (b)/(a), and (c). ``--repeat N`` runs it all N times on new
containers and reports medians. Only the containers this bench starts are removed (at the end, even
on failure). Not a test: it prints a table and one JSON line (also written with --json FILE).
Needs `inv images` and network access to the Debian mirror from the containers.

Usage:  .venv/bin/python bench/bench_lamp.py [--distro debian12] [--repeat 1]
            [--downloads cached|network] [--json FILE]
"""

from __future__ import annotations

from pathlib import Path

import deploybench  # first: it puts the repository on the import path, for tssrkit
from deploybench import Bench, Spec, deploy_twice

from tssrkit.jobs.lamp import DEFAULT_APP as LAMP_DEFAULT_APP
from tssrkit.jobs.lamp import SCRIPT as LAMP_SCRIPT
from tssrkit.jobs.lamp import pack_app


def debian_packages(distro: str) -> list[str]:
    """The floor's packages: the script's ``DEBIAN_PACKAGES=( … )`` array (the same on every release)."""
    return deploybench.bash_list(LAMP_SCRIPT, "DEBIAN_PACKAGES")


def deploy(bench: Bench, tarball: Path) -> dict:
    """(b) and (c): the deploy in a fresh container, then again in the same one."""
    schema = LAMP_DEFAULT_APP / "schema.sql"
    with bench.container() as box:
        work = bench.install(box, LAMP_SCRIPT, LAMP_SCRIPT.parent / "templates", tarball, schema)
        argv = ["bash", f"{work}/{LAMP_SCRIPT.name}", "--quiet", "--app", f"{work}/{tarball.name}",
                "--schema", f"{work}/{schema.name}"]
        figures = deploy_twice(box, argv)
    return figures


SPEC = Spec(
    name="lamp", doc=__doc__, packages=debian_packages,
    prepare=lambda tmp: pack_app(LAMP_DEFAULT_APP, tmp),
    deploy=deploy,
    rows=(("(b) fresh deploy of parc-v1 + schema", "fresh_deploy_s"),
          ("(c) second run (nothing to change)", "second_run_s")),
    listed=("second_run_changed", "fresh_deploy_changed"),
)


def main(argv: list[str] | None = None) -> int:
    return deploybench.main(SPEC, argv)


if __name__ == "__main__":
    raise SystemExit(main())
