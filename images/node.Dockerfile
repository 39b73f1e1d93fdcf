# tssr-kit test node: a Debian rootfs (debootstrap + docker import, see tssrkit/images.py) with
# systemd as PID 1, sshd, sudo and python3, so that a container behaves like a small server.
# Built by `inv images`; used by the lab, the container tests and Molecule.
ARG BASE
FROM ${BASE}

ENV container=docker \
    DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        systemd systemd-sysv dbus python3 sudo openssh-server ca-certificates iproute2 procps less \
 && apt-get clean

# Test-image settings, never the scripts': apt downloads through the kit's package cache when the
# harness put one on this container's network (tssr-apt-cache, tssrkit/pkgcache.py), else straight from
# the mirror; dpkg does not fsync what it unpacks (a thrown-away container, as Docker's own Debian
# images once did with docker-apt-speedup). The scripts install their packages for real either way.
RUN printf '%s\n' '#!/bin/sh' \
        '# apt Proxy-Auto-Detect: the kit package cache if one answers here, else DIRECT.' \
        'c=tssr-apt-cache' \
        'if getent hosts $c >/dev/null 2>&1 && timeout 2 bash -c ": </dev/tcp/$c/3142" 2>/dev/null; then' \
        '  echo http://tssr-apt-cache:3142' \
        'else' \
        '  echo DIRECT' \
        'fi' > /usr/local/bin/tssr-apt-proxy \
 && chmod 0755 /usr/local/bin/tssr-apt-proxy \
 && printf 'Acquire::http::Proxy-Auto-Detect "/usr/local/bin/tssr-apt-proxy";\n' \
        > /etc/apt/apt.conf.d/30tssr-apt-cache \
 && printf 'force-unsafe-io\n' > /etc/dpkg/dpkg.cfg.d/tssr-unsafe-io

# Units that make no sense in a container (no consoles, no udev, no seats).
RUN systemctl mask getty.target console-getty.service systemd-udevd.service \
        systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-logind.service \
        sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
        systemd-remount-fs.service systemd-firstboot.service \
 && printf 'd /tmp 1777 root root -\n' > /etc/tmpfiles.d/tmp.conf

# Each container gets its own SSH host keys at first boot, not the ones baked into the image.
RUN rm -f /etc/ssh/ssh_host_* \
 && mkdir -p /etc/systemd/system/ssh.service.d \
 && printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
        > /etc/systemd/system/ssh.service.d/10-tssr-hostkeys.conf \
 && printf 'PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no\n' \
        > /etc/ssh/sshd_config.d/10-tssr-lab.conf \
 && systemctl enable ssh.service

# The lab operator: key-only SSH login (the key is added by `inv lab.up`) and sudo without a password.
# A lab convenience, documented as such; UID and GID below 1000 so provisioning never manages them.
RUN groupadd --gid 990 tssr \
 && useradd --uid 990 --gid 990 --create-home --shell /bin/bash tssr \
 && install -d -m 0700 -o tssr -g tssr /home/tssr/.ssh \
 && printf 'tssr ALL=(ALL) NOPASSWD: ALL\n' > /etc/sudoers.d/tssr-lab \
 && chmod 0440 /etc/sudoers.d/tssr-lab \
 && visudo -c

STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
