"""tssrkit/hostkeys.py without a network: which files are trusted, what is recorded, what is refused.

The same decisions against a real sshd are in tests/containers/test_host_keys.py; here paramiko's own
key objects and Fabric's own ssh-config reading are used, only the SSH handshake is left out.
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import io
import subprocess
from pathlib import Path

import pytest
from fabric import Config
from invlib import inv
from invoke import Program
from paramiko import ECDSAKey, HostKeys, PKey

import tasks
from tssrkit import hostkeys, runner
from tssrkit.hosts import Target


@pytest.fixture(scope="module")
def key() -> ECDSAKey:
    return ECDSAKey.generate(bits=256)


@pytest.fixture(scope="module")
def other_key() -> ECDSAKey:
    return ECDSAKey.generate(bits=256)


def connection(tmp_path: Path, ssh_config: str = "", host: str = "server.example", port: int = 2222):
    """A Fabric connection (never opened) that reads ``ssh_config`` as the user's ssh config."""
    path = tmp_path / "ssh_config"
    path.write_text(ssh_config)
    config = Config(runtime_ssh_path=str(path))
    return hostkeys.CheckedConnection(host, port=port, user="admin", config=config)


def line(name: str, key) -> str:
    return f"{name} {key.get_name()} {key.get_base64()}\n"


# ---- the options ------------------------------------------------------------------------------------
def test_no_option_means_strict_with_ssh_s_own_files():
    assert hostkeys.Options.parse(None, False) == hostkeys.Options(None, False)


def test_known_hosts_that_is_a_folder_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a file"):
        hostkeys.Options.parse(str(tmp_path), False)


def test_a_new_file_to_record_in_needs_an_existing_folder(tmp_path):
    with pytest.raises(ValueError, match="no folder"):
        hostkeys.Options.parse(str(tmp_path / "missing" / "known_hosts"), True)
    assert hostkeys.Options.parse(str(tmp_path / "known_hosts"), True).accept_new


def test_options_apply_inside_the_block_only():
    chosen = hostkeys.Options(Path("/x"), True)
    with hostkeys.using(chosen):
        assert hostkeys.current() is chosen
    assert hostkeys.current() == hostkeys.Options()


# ---- which files are trusted ------------------------------------------------------------------------
def test_by_default_ssh_s_user_and_global_files_are_read_and_the_first_one_records(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    known = hostkeys.KnownHosts.for_host(connection(tmp_path), hostkeys.Options())
    assert known.read == [tmp_path / ".ssh/known_hosts", tmp_path / ".ssh/known_hosts2",
                          Path("/etc/ssh/ssh_known_hosts"), Path("/etc/ssh/ssh_known_hosts2")]
    assert known.record == tmp_path / ".ssh/known_hosts"
    assert not known.accept_new


def test_known_hosts_option_takes_the_place_of_the_user_files(tmp_path):
    given = tmp_path / "fleet"
    known = hostkeys.KnownHosts.for_host(connection(tmp_path), hostkeys.Options(given, True))
    assert known.read[0] == given and known.record == given and known.accept_new
    assert not any(".ssh" in str(p) for p in known.read)


def test_ssh_config_files_tokens_strict_and_hashing_are_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    config = ("Host server.example\n    UserKnownHostsFile ~/kh/%h_%p %d/second\n"
              "    GlobalKnownHostsFile none\n    StrictHostKeyChecking accept-new\n    HashKnownHosts yes\n")
    known = hostkeys.KnownHosts.for_host(connection(tmp_path, config), hostkeys.Options())
    assert known.read == [tmp_path / "kh/server.example_2222", tmp_path / "second"]
    assert known.accept_new and known.hashed


@pytest.mark.parametrize("value", ["yes", "ask"])
def test_strict_or_asking_ssh_config_still_refuses_an_unknown_key(tmp_path, value):
    known = hostkeys.KnownHosts.for_host(
        connection(tmp_path, f"Host *\n    StrictHostKeyChecking {value}\n"), hostkeys.Options())
    assert not known.accept_new


def test_an_unknown_token_in_a_file_name_is_an_error_not_a_guess():
    with pytest.raises(hostkeys.HostKeyError, match="%C"):
        hostkeys.expand_files("~/.ssh/known_%C", {"%%": "%"})


def test_the_lab_trusts_its_own_file_only_and_never_records(tmp_path):
    known = hostkeys.KnownHosts.for_lab(tmp_path / "lab_known_hosts")
    assert known.read == [tmp_path / "lab_known_hosts"] and known.record is None and not known.accept_new


def test_lab_connections_ignore_the_operator_s_options(tmp_path, monkeypatch):
    from tssrkit import lab
    monkeypatch.setattr(lab, "KNOWN_HOSTS", tmp_path / "lab_known_hosts")
    (tmp_path / "ssh_config").write_text("Host tssr-lab1\n    HostName 127.0.0.1\n    Port 2201\n")
    target = Target("tssr-lab1", "tssr-lab1", ssh_config=tmp_path / "ssh_config", lab=True)
    conn = runner.connect(target, host_keys=hostkeys.Options(tmp_path / "mine", True))
    assert conn.known_hosts.read == [tmp_path / "lab_known_hosts"]
    assert not conn.known_hosts.accept_new and conn.known_hosts.record is None


# ---- decisions --------------------------------------------------------------------------------------
def test_unknown_key_is_refused_with_its_fingerprint_and_the_way_to_accept_it(tmp_path, key):
    known = hostkeys.KnownHosts([tmp_path / "kh"], record=tmp_path / "kh")
    with pytest.raises(hostkeys.HostKeyError) as caught:
        known.unknown("[h]:2222", key)
    message = str(caught.value)
    assert "[h]:2222" in message and hostkeys.fingerprint(key) in message and key.get_name() in message
    assert "--accept-new-host-key" in message and str(tmp_path / "kh") in message
    assert "\n" not in message
    assert not (tmp_path / "kh").exists()


@pytest.mark.parametrize("hashed", [False, True])
def test_accepted_key_is_appended_and_then_known(tmp_path, key, hashed):
    path = tmp_path / "kh"
    mine = "other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPZnJFltDjT7Ye7GqxQ+4V1ELC8ny/rNls5caVj/1Btv"
    path.write_text(f"# mine\n{mine}")          # no newline at the end: the new line must not join it
    known = hostkeys.KnownHosts([path], record=path, accept_new=True, hashed=hashed)
    known.unknown("[h]:2222", key)
    lines = path.read_text().splitlines()
    assert lines[:2] == ["# mine", mine]
    assert len(lines) == 3 and lines[2].startswith("|1|" if hashed else "[h]:2222 ")
    keys = HostKeys()
    keys.load(str(path))
    assert keys.check("[h]:2222", key)
    known.unknown("[h]:2222", key)           # a second accept of the same key adds nothing
    assert len(path.read_text().splitlines()) == 3


def test_new_record_file_is_private(tmp_path, key):
    path = tmp_path / "kh"
    hostkeys.KnownHosts([path], record=path, accept_new=True).unknown("h", key)
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_key_recorded_meanwhile_with_another_value_is_a_changed_key(tmp_path, key, other_key):
    path = tmp_path / "kh"
    known = hostkeys.KnownHosts([path], record=path, accept_new=True)
    path.write_text(line("h", other_key))        # another run recorded another key since we read the file
    with pytest.raises(hostkeys.HostKeyError, match="CHANGED"):
        known.unknown("h", key)
    assert path.read_text() == line("h", other_key)


def test_changed_key_message_names_both_keys_the_file_and_the_fix(tmp_path, key, other_key):
    path = tmp_path / "kh"
    path.write_text(line("[h]:2222", other_key))
    message = hostkeys.KnownHosts([path]).changed_message("[h]:2222", key, other_key)
    assert hostkeys.fingerprint(key) in message and hostkeys.fingerprint(other_key) in message
    assert f"ssh-keygen -R '[h]:2222' -f {path}" in message and "\n" not in message


def test_revoked_key_is_refused_even_when_new_keys_are_accepted(tmp_path, key):
    path = tmp_path / "kh"
    path.write_text(f"@revoked * {key.get_name()} {key.get_base64()}\n")
    known = hostkeys.KnownHosts([path], record=path, accept_new=True)
    known.install(connection(tmp_path).client)
    with pytest.raises(hostkeys.HostKeyError, match="@revoked"):
        known.unknown("h", key)
    assert path.read_text().count("\n") == 1


def test_no_file_to_record_in_is_said_plainly(tmp_path, key):
    with pytest.raises(hostkeys.HostKeyError, match="--known-hosts FILE"):
        hostkeys.KnownHosts([], record=None, accept_new=True).unknown("h", key)


def test_loaded_files_make_paramiko_know_the_host_and_skip_what_it_cannot_read(tmp_path, key):
    path = tmp_path / "kh"
    path.write_text("@cert-authority *.example ssh-ed25519 AAAA\nbroken ssh-ed25519 ###\n"
                    "wrong-type ssh-foo AAAA\n" + line("[h]:2222", key))
    conn = connection(tmp_path)
    hostkeys.KnownHosts([tmp_path / "missing", path]).install(conn.client)
    assert conn.client.get_host_keys().check("[h]:2222", key)


def test_fingerprint_is_the_one_ssh_keygen_prints(tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    printed = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "k.pub")], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    words = (tmp_path / "k.pub").read_text().split()
    assert hostkeys.fingerprint(PKey.from_type_string(words[0], base64.b64decode(words[1]))) == printed


# ---- tasks.py -----------------------------------------------------------------------------------------
# Every task that takes hosts, found in tasks.py (a new job is covered without being listed here), but
# `poll`: it reads the agents over SNMP from this machine and never opens an SSH session.
TASKS_THAT_CONNECT = sorted(name for name, body in tasks.ns.tasks.items()
                            if "hosts" in inspect.signature(body.body).parameters and name != "poll")


def test_the_tasks_that_connect_are_found():
    expected = {"provision-users", "deploy-lamp", "backup", "setup-logging", "run-powershell"}
    assert expected <= set(TASKS_THAT_CONNECT)


def inv_help(task: str) -> str:
    """What `inv --help TASK` prints: Invoke's own program on tasks.py's collection, in this process (a
    process per task only repeated the same imports; the real `inv` runs in the test below)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        Program(namespace=tasks.ns, name="inv", binary="inv").run(["inv", "--help", task], exit=False)
    return out.getvalue()


@pytest.mark.parametrize("task", TASKS_THAT_CONNECT)
def test_every_task_that_connects_has_the_host_key_options(task):
    text = inv_help(task)
    assert f"Usage: inv [--core-opts] {task} [--options]" in text, text
    assert "--known-hosts" in text and "--accept-new-host-key" in text


@pytest.mark.parametrize(("task", "code"), [("provision-users", 2), ("check", 3)])
def test_a_known_hosts_option_that_cannot_serve_stops_the_task_before_any_host(tmp_path, task, code):
    proc = inv(task, "--hosts", "admin@192.0.2.1", "--known-hosts", str(tmp_path), timeout=60)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "--known-hosts" in proc.stderr and "not a file" in proc.stderr
