"""Benchmark deploy-java.sh (jar mode) against its floor: installing the same Debian packages, nothing else.

In one run, on fresh containers of the same test image (systemd as PID 1, like a lab host):

(a) floor: ``apt-get install -y --no-install-recommends`` of the packages the script installs for a
    jar — its ``DEBIAN_PACKAGES`` array plus ``openjdk-N-jre-headless``, N from its ``JAVA_DEFAULT``
    table for the distribution (Debian 12: 17, Debian 13: 21); both are read from the script's
    text, so the two cannot drift — in a fresh container: what any tool that runs a Java service
    behind Apache must pay at least;
(b) fresh deploy: ``deploy-java.sh --jar hello-service-1.0.0.jar --domain bench.example.test`` (the
    sample built with the local JDK, examples/java), in another fresh container: user, unit, env
    file, release, Apache vhost with a self-signed certificate, firewall, start, health check over
    HTTPS. The script, its ``templates/`` and ``lib/`` are copied in with ``docker cp`` and run with
    ``docker exec`` (no SSH: the figure is the script's, not the runner's);
(c) second run: the same deploy again in the same container (nothing to change: status ok, 0 changes);
(d) update: the 2.0.0 jar deployed in the same container (copy, switch ``current``, restart, health
    check); the site is then asked for its version (not timed).

Downloads: by default (``--downloads cached``) the packages are fetched once, before timing, by a
throw-away container into a host folder mounted as ``/var/cache/apt/archives`` in every container:
(a) and (b) then both install from the same local ``.deb`` files, and the ratio compares work, not
the mirror's mood. ``--downloads network`` lets each container download for itself, and alternates
which of (a) and (b) goes first from one round to the next.

Reported: the four wall times and (b)/(a). ``--repeat N`` runs it all N times on new containers and
reports medians. Only the containers this bench starts (``tssr-bench-java-…``) are removed (at the
end, even on failure). Not a test: it prints a table and one JSON line (also written with --json
FILE). Needs `inv images`, a JDK on this machine and network access to the Debian mirror from the
containers.

Usage:  .venv/bin/python bench/bench_java.py [--distro debian12] [--repeat 1]
            [--downloads cached|network] [--json FILE]
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import deploybench  # first: it puts the repository on the import path, for tssrkit
from deploybench import Bench, Spec, deploy_twice, result_line, timed

from tssrkit.containers import docker
from tssrkit.jobs.java import SCRIPT as JAVA_SCRIPT
from tssrkit.jobs.java import build_samples as build_java_samples

log = logging.getLogger("bench")
DOMAIN = "bench.example.test"
FIRST, UPDATE = "1.0.0", "2.0.0"


def debian_packages(distro: str) -> list[str]:
    """The floor's packages on ``distro`` (``debian12``): the script's ``DEBIAN_PACKAGES`` and the
    headless runtime of its ``JAVA_DEFAULT`` Java for that release."""
    family_release = re.fullmatch(r"([a-z]+)(\d+)", distro)
    key = f"{family_release[1]}:{family_release[2]}" if family_release else distro
    java = deploybench.bash_table(JAVA_SCRIPT, "JAVA_DEFAULT").get(key)
    if not java:
        raise SystemExit(f"{JAVA_SCRIPT}: JAVA_DEFAULT has no entry for {key}")
    return [*deploybench.bash_list(JAVA_SCRIPT, "DEBIAN_PACKAGES"), f"openjdk-{java}-jre-headless"]


def build_jars(tmp: Path) -> dict[str, Path]:
    """The sample jar at both versions, built once with the local JDK."""
    return {version: build_java_samples(version, tmp / version)["jar"] for version in (FIRST, UPDATE)}


def deploy(bench: Bench, jars: dict[str, Path]) -> dict:
    """(b), (c) and (d): the deploy in a fresh container, again, then the update, in the same one."""
    with bench.container() as box:
        work = bench.install(box, JAVA_SCRIPT, JAVA_SCRIPT.parent / "templates", *jars.values())

        def argv(version: str) -> list[str]:
            return ["bash", f"{work}/{JAVA_SCRIPT.name}", "--quiet", "--jar", f"{work}/{jars[version].name}",
                    "--domain", DOMAIN]

        figures = deploy_twice(box, argv(FIRST))
        figures["update_s"], proc = timed(box, *argv(UPDATE))
        update = result_line(proc)
        served = docker("exec", box, "curl", "-sk", "--max-time", "10", "--resolve",
                        f"{DOMAIN}:443:127.0.0.1", f"https://{DOMAIN}/", check=False).stdout.strip()
    figures["update_status"], figures["update_changed"] = update.get("status"), update.get("changed")
    if (update.get("status"), update.get("release"), update.get("previous")) != ("changed", UPDATE, FIRST) \
            or update.get("rolled_back") or UPDATE not in served:
        log.warning("unexpected update: result %s, the site serves %r", update, served)
    log.info("(d) update to %s: %.1f s (%s changes); the site serves %r",
             UPDATE, figures["update_s"], update.get("changed"), served)
    return figures


SPEC = Spec(
    name="java", doc=__doc__, packages=debian_packages, prepare=build_jars, deploy=deploy,
    rows=((f"(b) fresh deploy of hello-service {FIRST} (jar)", "fresh_deploy_s"),
          ("(c) second run (nothing to change)", "second_run_s"),
          (f"(d) update to {UPDATE} (switch, restart, health)", "update_s")),
    listed=("fresh_deploy_changed", "second_run_status", "second_run_changed", "update_status",
            "update_changed"),
)


def main(argv: list[str] | None = None) -> int:
    return deploybench.main(SPEC, argv)


if __name__ == "__main__":
    raise SystemExit(main())
