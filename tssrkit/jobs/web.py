"""What ``inv deploy-lamp`` and ``inv deploy-java`` print after a deploy: where to open the site."""

from __future__ import annotations

from collections.abc import Sequence

from tssrkit.lab import LabHost
from tssrkit.runner import HostResult


def site_urls(results: Sequence[HostResult], lab_hosts: Sequence[LabHost], self_signed: bool) -> list[str]:
    """One line per successful host: where to open the app (deploy-lamp or deploy-java).

    Lab hosts are reached through their HTTPS port published on 127.0.0.1 (the vhost is the only one
    on 443, so Apache serves it whatever the Host header), at the path of the result line's ``url``
    (a WAR's context); other hosts at the ``url`` itself.
    """
    ports = {h.name: h.ports.get("https") for h in lab_hosts}
    lines = []
    for r in results:
        if not r.succeeded:
            continue
        domain = r.result.get("domain") or ""
        url = str(r.result.get("url") or (f"https://{domain}/" if domain else ""))
        port = ports.get(r.target.name) if r.target.lab else None
        if port:
            path = "/" + url.split("://", 1)[-1].partition("/")[2] if url else "/"
            shown = f"https://127.0.0.1:{port}{path}"
            line = f"{r.target.label()}: {shown}  (vhost {domain or url})"
        elif url:
            shown = url
            line = f"{r.target.label()}: {url}"
        else:
            continue
        if self_signed:
            line += f"  self-signed certificate: curl -k {shown}"
        lines.append(line)
    return lines
