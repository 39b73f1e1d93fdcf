"""`inv test`'s tiers: what --quick, --only and --job select, how a test's capability is read from its
names (tests/tiers.py, marked by tests/conftest.py), and what the end of every run prints.

The selections are proven by pytest itself, collecting with the command line tasks.pytest_argv builds
and the real tests/conftest.py and tests/tiers.py: first on a small tree whose answer is known, then
(marked slow: they collect the whole suite) on this repository's tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tiers

import tasks
from tssrkit.paths import REPO

PY = sys.executable


# ---- a test's layer and capabilities, from its names --------------------------------------------
@pytest.mark.parametrize(("nodeid", "layer"), [
    ("tests/static/test_static.py::test_python_is_ruff_clean", "static"),
    ("tests/unit/test_runner.py::test_x[a/b]", "unit"),
    ("tests/containers/test_lamp.py::TestX::test_y[debian12]", "containers"),
    ("tests/lab/test_lab_users.py::test_z", "lab"),
    ("tests/molecule/test_molecule.py::test_molecule_scenario_passes_on_platform[lamp-debian12]", "molecule"),
    ("tests/hoststate/test_users.py::test_z", "hoststate"),
    ("tests/rolelib.py::test_q", None),
    ("bench/test_q.py::test_r", None),
])
def test_a_tests_layer_is_its_folder_under_tests(nodeid, layer):
    assert tiers.layer(nodeid) == layer


@pytest.mark.parametrize(("nodeid", "capabilities"), [
    ("tests/containers/test_logging.py::test_x[debian12]", {"logging"}),
    ("tests/unit/test_logging_role.py::test_x", {"logging"}),
    ("tests/hoststate/test_logging.py::test_x", {"logging"}),
    ("tests/lab/test_lab_lamp.py::test_x", {"lamp"}),
    ("tests/unit/test_backup_retention.py::test_x[7-days]", {"backup"}),
    ("tests/unit/test_provision_users_parse.py::test_x", {"users"}),
    ("tests/unit/test_tssr_check.py::test_x", {"checks"}),
    ("tests/unit/test_snmp_poll.py::test_x", {"snmp", "checks"}),
    ("tests/unit/test_clixml.py::test_x", {"powershell"}),
])
def test_a_test_module_named_after_a_capability_belongs_to_it(nodeid, capabilities):
    assert tiers.capabilities(nodeid) == capabilities


def test_a_molecule_run_belongs_to_its_scenario():
    nodeid = "tests/molecule/test_molecule.py::test_molecule_scenario_passes_on_platform[{}-debian13]"
    for scenario in tiers.SCENARIOS:
        assert tiers.capabilities(nodeid.format(scenario)) == {scenario}


@pytest.mark.parametrize(("script", "capability"), [
    ("scripts/bash/lamp/deploy-lamp.sh", "lamp"),
    ("scripts/bash/backup/restore.sh", "backup"),
    ("scripts/bash/lib/firewall.sh", "firewall"),
    ("tests/fixtures/firewall/web-firewall.sh", "firewall"),
    ("scripts/python/snmp_poll.py", "snmp"),
    ("scripts/powershell/Sync-TssrAdUser.ps1", "powershell"),
])
def test_a_check_of_a_kit_file_belongs_to_the_capability_its_path_names(script, capability):
    nodeid = f"tests/static/test_static.py::test_shell_script_is_shellcheck_clean[{script}]"
    assert capability in tiers.capabilities(nodeid)


@pytest.mark.parametrize(("nodeid", "capabilities"), [
    ("tests/containers/test_firewall.py::test_a_second_run_of_each_job_changes_nothing[debian12-setup-snmp]",
     {"firewall", "snmp"}),
    ("tests/containers/test_result_json.py::test_a_hostile_value[debian13-restore.sh]", {"backup"}),
    ("tests/containers/test_result_json.py::test_a_hostile_value[redhat-provision-users (python)]",
     {"users"}),
    ("tests/lab/test_lab_refusals.py::test_bad_input_is_refused[logging-client-without-server]",
     {"logging"}),
    ("tests/containers/test_host_keys.py::test_every_task_refuses_an_unknown_host[debian12-check]",
     {"checks"}),
])
def test_a_test_of_several_capabilities_carries_the_one_its_parameter_names(nodeid, capabilities):
    assert tiers.capabilities(nodeid) == capabilities


def test_monitoring_is_the_agent_the_logs_and_the_checks():
    assert tiers.capabilities("tests/lab/test_lab_monitoring.py::test_x") == {"snmp", "logging", "checks"}


@pytest.mark.parametrize("nodeid", [
    "tests/unit/test_runner.py::test_the_result_line_is_read[ok]",
    "tests/unit/test_hostkeys.py::test_no_option_means_strict_with_ssh_s_own_files",
    "tests/containers/test_runner_ssh.py::test_x[debian12]",
    "tests/static/test_static.py::test_roles_pass_ansible_lint_production_profile",
])
def test_a_test_of_the_harness_belongs_to_no_capability(nodeid):
    assert tiers.capabilities(nodeid) == set()


def test_every_molecule_scenario_is_a_capability_so_a_new_job_is_one_by_its_name():
    scenarios = {p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml")}
    assert scenarios >= {"users", "lamp", "java", "backup", "snmp", "logging"}
    assert scenarios <= set(tiers.CAPABILITIES)
    assert {"checks", "powershell", "firewall"} <= set(tiers.CAPABILITIES)


def test_no_word_names_two_capabilities_by_accident():
    words = [word for names in tiers.CAPABILITIES.values() for word in names]
    assert len(words) == len(set(words))
    assert all(name == names[0] for name, names in tiers.CAPABILITIES.items()), "the noun comes first"


def test_no_two_test_modules_share_a_name_so_that_one_run_collects_them_all():
    """pytest imports test modules by their file name (tests/ has no packages): a second test_x.py in
    another folder stops the whole collection ("import file mismatch"). tests/hoststate/ is collected
    alone (--hosts), so its modules take the capability's name as the container tests do."""
    names = [path.name for path in (REPO / "tests").rglob("test_*.py") if "hoststate" not in path.parts]
    assert sorted(name for name in set(names) if names.count(name) > 1) == []


# ---- the command line of inv test -----------------------------------------------------------------
XDIST = ["-n", "3", "--dist", "loadgroup", "--no-loadscope-reorder"]


def test_inv_test_runs_every_folder_longest_first_and_lists_the_slowest():
    assert tasks.pytest_argv() == [PY, "-m", "pytest", "tests", *XDIST, "--durations", "25"]


def test_quick_is_static_and_unit_without_the_tests_marked_slow_on_a_worker_per_core():
    assert tasks.pytest_argv(quick=True) == [PY, "-m", "pytest", "tests/static", "tests/unit",
                                             "-m", "not slow", "-n", "2", *XDIST[2:], "--durations", "25"]
    assert tasks.pytest_argv(quick=True, only="unit")[3:6] == ["tests/unit", "-m", "not slow"]


def test_a_job_is_selected_by_the_marks_conftest_puts_on_its_tests():
    argv = tasks.pytest_argv(job="logging", only="containers", k="refus", workers=1)
    assert argv == [PY, "-m", "pytest", "tests/containers", "--job", "logging", "-k", "refus",
                    "--durations", "25"]


@pytest.mark.parametrize(("options", "message"), [
    ({"only": "hoststate"}, "--only must be one of static, unit, containers, lab, molecule"),
    ({"only": "molecule", "quick": True}, "--quick runs static and unit tests"),
])
def test_a_selection_that_cannot_be_is_refused(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        tasks.pytest_argv(**options)


def test_the_task_refuses_it_before_pytest_starts():
    proc = subprocess.run([str(Path(PY).parent / "inv"), "--search-root", str(REPO), "test", "--quick",
                           "--only", "lab"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2 and "--quick runs static and unit tests" in proc.stderr, proc.stderr


# ---- what pytest selects with it: a small tree whose answer is known -------------------------------
SMALL_TREE = {
    "static/test_static.py": """
        import pytest
        def test_python_is_ruff_clean(): pass
        @pytest.mark.slow
        def test_roles_pass_ansible_lint(): pass
        @pytest.mark.parametrize("script", ["scripts/bash/logging/setup-logging.sh",
                                            "scripts/bash/lamp/deploy-lamp.sh"])
        def test_shellcheck(script): pass
    """,
    "unit/test_logging_role.py": "def test_role(): pass\n",
    "unit/test_runner.py": "def test_runner(): pass\n",
    "containers/test_logging.py": "def test_script(): pass\n",
    "containers/test_firewall.py": """
        import pytest
        @pytest.mark.parametrize("job", ["deploy-lamp", "setup-logging"])
        def test_second_run(job): pass
    """,
    "lab/test_lab_monitoring.py": "def test_lab(): pass\n",
    "molecule/test_molecule.py": """
        import pytest
        @pytest.mark.parametrize("scenario", ["logging-debian12", "users-debian12"])
        def test_molecule(scenario, request):
            request.node.user_properties.append(("molecule_seconds", 40.5))   # as tests/molecule does
    """,
    "hoststate/test_logging.py": "def test_state(): pass\n",
}
ALL_SMALL = [
    "tests/molecule/test_molecule.py::test_molecule[logging-debian12]",
    "tests/molecule/test_molecule.py::test_molecule[users-debian12]",
    "tests/containers/test_firewall.py::test_second_run[deploy-lamp]",
    "tests/containers/test_firewall.py::test_second_run[setup-logging]",
    "tests/containers/test_logging.py::test_script",
    "tests/lab/test_lab_monitoring.py::test_lab",
    "tests/static/test_static.py::test_roles_pass_ansible_lint",          # slow: first of its layer
    "tests/static/test_static.py::test_python_is_ruff_clean",
    "tests/static/test_static.py::test_shellcheck[scripts/bash/logging/setup-logging.sh]",
    "tests/static/test_static.py::test_shellcheck[scripts/bash/lamp/deploy-lamp.sh]",
    "tests/unit/test_logging_role.py::test_role",
    "tests/unit/test_runner.py::test_runner",
]


@pytest.fixture(scope="module")
def small_tree(tmp_path_factory) -> Path:
    """A repository of a few empty tests with the real conftest.py, tiers.py and pytest settings."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copy(REPO / "pyproject.toml", root)
    (root / "tests").mkdir()
    for name in ("conftest.py", "tiers.py"):
        shutil.copy(REPO / "tests" / name, root / "tests" / name)
    for name, text in SMALL_TREE.items():
        (root / "tests" / name).parent.mkdir(exist_ok=True)
        (root / "tests" / name).write_text(textwrap.dedent(text))
    return root


def run(argv: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    """The command line run in ROOT, with this checkout's tssrkit."""
    return subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def selected(argv: list[str], root: Path) -> list[str]:
    """The node ids pytest collects, in order, with this command line (run in ROOT)."""
    proc = run([*argv, "--collect-only", "-q", "-p", "no:cacheprovider"], root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [line for line in proc.stdout.splitlines() if "::" in line]


def test_inv_test_selects_every_layer_but_hoststate_molecule_first(small_tree):
    assert selected(tasks.pytest_argv(), small_tree) == ALL_SMALL


def test_inv_test_quick_selects_static_and_unit_but_what_is_marked_slow(small_tree):
    quick = selected(tasks.pytest_argv(quick=True), small_tree)
    static_and_unit = [n for n in ALL_SMALL if n.startswith(("tests/static/", "tests/unit/"))]
    assert quick == [n for n in static_and_unit if "ansible_lint" not in n]


def test_inv_test_job_selects_the_capabilitys_tests_of_every_layer(small_tree):
    assert selected(tasks.pytest_argv(job="logging"), small_tree) == [
        "tests/molecule/test_molecule.py::test_molecule[logging-debian12]",
        "tests/containers/test_firewall.py::test_second_run[setup-logging]",
        "tests/containers/test_logging.py::test_script",
        "tests/lab/test_lab_monitoring.py::test_lab",
        "tests/static/test_static.py::test_shellcheck[scripts/bash/logging/setup-logging.sh]",
        "tests/unit/test_logging_role.py::test_role",
    ]
    assert selected(tasks.pytest_argv(job="logging", quick=True), small_tree) == [
        "tests/static/test_static.py::test_shellcheck[scripts/bash/logging/setup-logging.sh]",
        "tests/unit/test_logging_role.py::test_role",
    ]


def test_the_layers_and_capabilities_are_pytest_marks_too(small_tree):
    argv = [PY, "-m", "pytest", "tests", "-m", "containers and lamp"]
    assert selected(argv, small_tree) == ["tests/containers/test_firewall.py::test_second_run[deploy-lamp]"]


def test_an_unknown_job_is_refused_with_the_list_of_capabilities(small_tree):
    proc = run([*tasks.pytest_argv(job="nope", workers=1), "--collect-only"], small_tree)
    assert proc.returncode == 4 and "invalid choice: 'nope'" in proc.stderr and "'logging'" in proc.stderr


def test_every_run_ends_with_the_slowest_tests_the_time_per_tier_and_each_molecule_run(small_tree):
    proc = run(tasks.pytest_argv(workers=2), small_tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    end = proc.stdout[proc.stdout.index("slowest 25 durations"):]       # the slowest, then the tiers
    rows = end[end.index("time per tier"):].split("\n=")[0].splitlines()[2:]   # after the title, the header
    assert re.fullmatch(r"machine CPU: \d+ CPU-s busy of \d+ \(\d+ %\), \d+ core\(s\)", rows.pop()), end
    rows = dict(line.split()[:2] for line in rows)
    assert rows == {"static": "4", "unit": "2", "containers": "3", "lab": "1", "molecule": "2",
                    "all": "12"}, end
    assert re.search(r"wall clock \d+\.\d s, 2 worker\(s\)", end), end
    molecule = end[end.index("molecule timings"):].splitlines()[1:3]
    assert [line.split() for line in molecule] == [["logging-debian12", "40.5", "s"],
                                                   ["users-debian12", "40.5", "s"]]


def test_the_time_per_tier_sums_each_layer_then_gives_the_wall_clock():
    lines = tiers.tier_lines({"unit": 3.0, "static": 1.25}, {"unit": {"a", "b"}, "static": {"c"}}, 2.5, 2)
    assert [line.split() for line in lines] == [
        ["tier", "tests", "test", "time"],
        ["static", "1", "1.2", "s"],
        ["unit", "2", "3.0", "s"],
        ["all", "3", "4.2", "s", "wall", "clock", "2.5", "s,", "2", "worker(s)"],
    ]


def test_the_machine_cpu_counts_everything_but_idle_and_iowait():
    # user nice system idle iowait irq softirq steal guest guest_nice, in ticks
    busy, total = tiers.cpu_seconds("cpu  700 100 200 900 100 0 0 0 50 0\n")
    hertz = os.sysconf("SC_CLK_TCK")
    assert (busy, total) == (1000 / hertz, 2000 / hertz)


def test_the_machine_cpu_line_says_how_busy_the_cores_were_during_the_run():
    assert tiers.cpu_line((100.0, 400.0), (280.0, 600.0), 2) == (
        "machine CPU: 180 CPU-s busy of 200 (90 %), 2 core(s)")
    assert tiers.cpu_line((1.0, 2.0), (1.0, 2.0), 1) == "machine CPU: 0 CPU-s busy of 0 (0 %), 1 core(s)"


# ---- the same on this repository's tests (they collect the whole suite: tens of seconds) -----------
@pytest.mark.slow  # three collections of static and unit: about 15 s of CPU
def test_quick_here_is_static_and_unit_but_exactly_the_tests_marked_slow():
    layers = [PY, "-m", "pytest", "tests/static", "tests/unit"]
    every, slow = selected(layers, REPO), selected([*layers, "-m", "slow"], REPO)
    quick = selected(tasks.pytest_argv(quick=True), REPO)
    assert "tests/static/test_static.py::test_roles_pass_ansible_lint_production_profile" in slow
    assert len(quick) > 1000 and sorted(quick + slow) == sorted(every)


@pytest.mark.slow  # collects every layer: about 10 s of CPU
def test_a_job_here_takes_its_tests_from_every_layer():
    chosen = selected(tasks.pytest_argv(job="logging"), REPO)
    files = {nodeid.split("::")[0] for nodeid in chosen}
    assert {"tests/containers/test_logging.py", "tests/lab/test_lab_monitoring.py",
            "tests/molecule/test_molecule.py", "tests/unit/test_logging_role.py",
            "tests/static/test_static.py"} <= files
    assert all("logging" in tiers.capabilities(nodeid) for nodeid in chosen)
    assert not any(nodeid.startswith("tests/molecule/") and "[logging-" not in nodeid for nodeid in chosen)
