"""``inv deploy-java``: deploy-java.sh with a jar or a WAR (docs/reference/deploy-java.md).

Checked here: the local files (the builder), and the sample build when no archive is given. Which
options go together (``--jar`` or ``--war``, a rollback by ``--name``, ``--cert`` with ``--key``) and
every value are the script's to check, on every host first.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tssrkit.jobs.command import script_job
from tssrkit.paths import EXAMPLES, SCRIPTS
from tssrkit.runner import Job

SCRIPT = SCRIPTS / "bash" / "java" / "deploy-java.sh"
BUILD = EXAMPLES / "java" / "build.sh"
SAMPLE_NAME = "hello-service"          # what deploy-java.sh derives from hello-service-1.0.0.jar
SAMPLE_VERSION = "1.0.0"


def build_samples(version: str, out_dir: Path) -> dict[str, Path]:
    """Build the sample jar and WAR (examples/java) at ``version`` with the local JDK.

    Returns ``{"jar": …, "war": …}``. Raises ValueError when the build fails (no JDK, bad version).
    """
    proc = subprocess.run(["bash", str(BUILD), "samples", version, str(out_dir)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ValueError(f"building the Java samples failed: {proc.stderr.strip()}")
    return {"jar": out_dir / f"hello-service-{version}.jar", "war": out_dir / f"hello-war-{version}.war"}


def deploy(jar: Path | None = None, war: Path | None = None, *, name: str | None = None,
           version: str | None = None, domain: str | None = None, cert: Path | None = None,
           key: Path | None = None, context: str | None = None, port: object = None,
           java: str | None = None, heap: str | None = None, env_file: Path | None = None,
           health: str | None = None, health_timeout: object = None, rollback: bool = False) -> Job:
    """Run a Java application with deploy-java.sh. The archive goes up under its own name (the
    script derives the app name from it). A ValueError means nothing was contacted."""
    return script_job(SCRIPT, {
        "--jar": jar, "--war": war, "--cert": cert, "--key": key, "--env-file": env_file, "--name": name,
        "--version": version, "--domain": domain, "--context": context, "--port": port, "--java": java,
        "--heap": heap, "--health": health, "--health-timeout": health_timeout, "--rollback": rollback})
