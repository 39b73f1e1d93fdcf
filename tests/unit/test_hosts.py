"""How --hosts values and Ansible inventories become targets."""

from __future__ import annotations

import pytest

from tssrkit import hosts
from tssrkit.hosts import HostError


def test_host_with_user_and_port_is_split():
    (target,) = hosts.parse_hosts("admin@srv1.example:2222")
    assert (target.host, target.user, target.port) == ("srv1.example", "admin", 2222)


def test_plain_host_keeps_ssh_defaults():
    (target,) = hosts.parse_hosts("srv1")
    assert (target.host, target.user, target.port, target.lab) == ("srv1", None, None, False)


def test_duplicate_hosts_are_run_once_in_the_order_given():
    assert [t.name for t in hosts.parse_hosts("b, a,b,,c")] == ["b", "a", "c"]


@pytest.mark.parametrize("bad", ["srv1;rm -rf /", "-oProxyCommand=x", "srv1:0", "srv1:99999",
                                 "us er@srv1", "srv1:port", "$(id)"])
def test_hostile_host_spec_is_refused(bad):
    with pytest.raises(HostError):
        hosts.parse_hosts(bad)


def test_empty_hosts_value_is_refused():
    with pytest.raises(HostError, match="empty"):
        hosts.parse_hosts(" , ")


def test_lab_name_that_is_not_running_is_refused_clearly(monkeypatch):
    monkeypatch.setattr(hosts.lab, "running_names", lambda: set())
    with pytest.raises(HostError, match="inv lab.up"):
        hosts.parse_hosts("tssr-lab7")


def test_ini_inventory_merges_group_vars_under_host_vars(tmp_path):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "# fleet\n[web]\nweb1 ansible_host=192.0.2.10 ansible_user=admin\nweb2 ansible_port=2222\n\n"
        "[db]\ndb1\n\n[prod:children]\nweb\ndb\n\n[prod:vars]\nansible_user=deploy\n")
    by_name = {t.name: t for t in hosts.load_inventory(inventory)}
    assert set(by_name) == {"web1", "web2", "db1"}
    assert (by_name["web1"].host, by_name["web1"].user) == ("192.0.2.10", "admin")
    assert (by_name["web2"].host, by_name["web2"].port, by_name["web2"].user) == ("web2", 2222, "deploy")
    assert by_name["db1"].user == "deploy"


def test_yaml_inventory_reads_children_and_vars(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  vars:\n    ansible_user: ops\n  children:\n    web:\n      hosts:\n"
        "        a.example:\n          ansible_port: 2200\n        b.example:\n")
    targets = hosts.load_inventory(inventory)
    assert [(t.host, t.port, t.user) for t in targets] == [
        ("a.example", 2200, "ops"), ("b.example", None, "ops")]


def test_inventory_host_ranges_are_refused_with_a_hint(tmp_path):
    inventory = tmp_path / "hosts"
    inventory.write_text("[web]\nweb[1:3].example\n")
    with pytest.raises(HostError, match="ranges"):
        hosts.load_inventory(inventory)


def test_inventory_with_bad_port_names_the_host(tmp_path):
    inventory = tmp_path / "hosts"
    inventory.write_text("web1 ansible_port=ssh\n")
    with pytest.raises(HostError, match="web1"):
        hosts.load_inventory(inventory)


def test_missing_inventory_file_is_a_clear_error(tmp_path):
    with pytest.raises(HostError, match="cannot read inventory"):
        hosts.load_inventory(tmp_path / "nope.ini")


def test_empty_inventory_is_refused(tmp_path):
    inventory = tmp_path / "hosts"
    inventory.write_text("# nothing yet\n")
    with pytest.raises(HostError, match="no host"):
        hosts.load_inventory(inventory)
