"""Which hosts a task targets: ``--hosts``, ``--inventory`` (Ansible INI or YAML), or the local lab.

One inventory file serves ``inv`` and ``ansible-playbook``. The subset of Ansible's inventory format
read here: groups, ``children``, host lines with ``ansible_host``, ``ansible_port``, ``ansible_user``
and ``ansible_ssh_private_key_file``, and ``[group:vars]`` / ``vars:`` for those same four keys.
Host ranges (``web[1:3]``) and dynamic inventories are not read: say ``ansible-inventory --list -y``
to turn one into a plain YAML file first.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tssrkit import lab

HOST_RE = re.compile(
    r"^(?:(?P<user>[a-z_][a-z0-9_.-]*)@)?"
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>\d{1,5}))?$"
)
VAR_KEYS = {"ansible_host": "host", "ansible_port": "port", "ansible_user": "user",
            "ansible_ssh_private_key_file": "key_file"}


class HostError(ValueError):
    """A host list or an inventory that cannot be read; the message says where."""


@dataclass
class Target:
    """One host to run a job on."""

    name: str                      # how it is shown in progress and the summary
    host: str                      # address or name to connect to
    port: int | None = None
    user: str | None = None
    key_file: str | None = None
    ssh_config: Path | None = None  # the lab's ssh_config for lab hosts
    lab: bool = False

    def label(self) -> str:
        return self.name


def parse_host(spec: str) -> Target:
    """``[user@]host[:port]`` or a lab host name (``tssr-lab1``) → Target."""
    spec = spec.strip()
    match = HOST_RE.match(spec)
    if not match:
        raise HostError(f"bad host {spec!r}: expected [user@]host[:port]")
    host, user, port = match.group("host"), match.group("user"), match.group("port")
    if port is not None and not 0 < int(port) < 65536:
        raise HostError(f"bad host {spec!r}: port must be 1-65535")
    if re.fullmatch(rf"{lab.PREFIX}\d+", host) and user is None and port is None:
        return lab_target(host)
    return Target(name=spec, host=host.strip("[]"), port=int(port) if port else None, user=user)


def lab_target(name: str, running: set[str] | None = None) -> Target:
    """A lab host, reached through the lab's ssh_config (host name, port, user and key come from it).

    ``running``: the running lab hosts when the caller already knows them (saves a docker call).
    """
    if name not in (lab.running_names() if running is None else running):
        raise HostError(f"lab host {name} is not running: start it with `inv lab.up`")
    return Target(name=name, host=name, ssh_config=lab.SSH_CONFIG, lab=True)


def parse_hosts(value: str) -> list[Target]:
    """A comma-separated ``--hosts`` value → Targets (duplicates dropped, order kept)."""
    specs = [s for s in (part.strip() for part in value.split(",")) if s]
    if not specs:
        raise HostError("--hosts is empty")
    return _unique(parse_host(s) for s in specs)


def _unique(targets) -> list[Target]:
    seen, out = set(), []
    for t in targets:
        if t.name not in seen:
            seen.add(t.name)
            out.append(t)
    return out


@dataclass
class _Group:
    hosts: dict[str, dict] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    vars: dict = field(default_factory=dict)


def _target_from_vars(name: str, hostvars: dict) -> Target:
    values = {VAR_KEYS[k]: v for k, v in hostvars.items() if k in VAR_KEYS}
    port = values.get("port")
    try:
        port = int(port) if port not in (None, "") else None
    except (TypeError, ValueError):
        raise HostError(f"host {name}: ansible_port {port!r} is not a number") from None
    if re.fullmatch(rf"{lab.PREFIX}\d+", name) and "host" not in values:
        return lab_target(name)
    return Target(name=name, host=str(values.get("host", name)), port=port,
                  user=values.get("user"), key_file=values.get("key_file"))


def _resolve(groups: dict[str, _Group]) -> list[Target]:
    """Flatten groups into targets; host vars win over group vars, child groups over parents."""
    merged: dict[str, dict] = {}

    def visit(name: str, inherited: dict, stack: tuple[str, ...]) -> None:
        if name in stack:
            raise HostError(f"inventory: group {name} contains itself")
        group = groups.get(name, _Group())
        scope = {**inherited, **group.vars}
        for host, hostvars in group.hosts.items():
            merged.setdefault(host, {})
            merged[host] = {**scope, **merged[host], **hostvars}
        for child in group.children:
            visit(child, scope, (*stack, name))

    roots = [g for g in groups if not any(g in other.children for other in groups.values())]
    for root in roots:
        visit(root, groups["all"].vars if "all" in groups and root != "all" else {}, ())
    return [_target_from_vars(name, hv) for name, hv in merged.items()]


def _parse_ini(text: str, path: Path) -> dict[str, _Group]:
    groups: dict[str, _Group] = {"ungrouped": _Group()}
    section, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = re.fullmatch(r"\[([A-Za-z0-9_.-]+)(?::(vars|children))?\]", line)
        if header:
            section, kind = header.group(1), header.group(2) or "hosts"
            groups.setdefault(section, _Group())
            continue
        if line.startswith("["):
            raise HostError(f"{path}:{number}: bad section header {line!r}")
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise HostError(f"{path}:{number}: {exc}") from None
        if kind == "vars":
            key, sep, value = line.partition("=")
            if not sep:
                raise HostError(f"{path}:{number}: expected key=value in [{section}:vars]")
            groups[section].vars[key.strip()] = value.strip().strip("'\"")
        elif kind == "children":
            groups[section].children.append(words[0])
            groups.setdefault(words[0], _Group())
        else:
            hostvars = {}
            for word in words[1:]:
                key, sep, value = word.partition("=")
                if not sep:
                    raise HostError(f"{path}:{number}: expected key=value after the host name, got {word!r}")
                hostvars[key] = value
            if re.search(r"\[[^]]*:[^]]*\]", words[0]):
                raise HostError(f"{path}:{number}: host ranges such as {words[0]} are not supported")
            groups[section].hosts[words[0]] = hostvars
    return groups


def _parse_yaml(data: object, path: Path) -> dict[str, _Group]:
    if not isinstance(data, dict):
        raise HostError(f"{path}: a YAML inventory is a mapping of groups (e.g. all:)")
    groups: dict[str, _Group] = {}

    def walk(name: str, body: object) -> None:
        group = groups.setdefault(name, _Group())
        if body is None:
            return
        if not isinstance(body, dict):
            raise HostError(f"{path}: group {name} must be a mapping")
        for host, hostvars in (body.get("hosts") or {}).items():
            group.hosts[str(host)] = dict(hostvars or {})
        group.vars.update(body.get("vars") or {})
        for child, child_body in (body.get("children") or {}).items():
            group.children.append(str(child))
            walk(str(child), child_body)

    for name, body in data.items():
        walk(str(name), body)
    return groups


def load_inventory(path: str | Path) -> list[Target]:
    """Read an Ansible inventory (INI or YAML, chosen by content) → Targets."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HostError(f"cannot read inventory {path}: {exc.strerror}") from None
    if path.suffix in (".yml", ".yaml") or text.lstrip().startswith(("---", "all:")):
        try:
            groups = _parse_yaml(yaml.safe_load(text), path)
        except yaml.YAMLError as exc:
            raise HostError(f"{path}: not valid YAML: {exc}") from None
    else:
        groups = _parse_ini(text, path)
    targets = _unique(_resolve(groups))
    if not targets:
        raise HostError(f"{path}: no host in the inventory")
    return targets
