# tssr-kit package cache: Debian's apt-cacher-ng, which every container the kit starts downloads its
# Debian packages through (tssrkit/pkgcache.py starts it as tssr-apt-cache; its downloads live in the
# volume tssr-apt-cache). Built by `inv images` from the Debian 12 base (debootstrap + docker import).
ARG BASE
FROM ${BASE}

ENV DEBIAN_FRONTEND=noninteractive

RUN apt-get update \
 && apt-get install -y --no-install-recommends apt-cacher-ng \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

EXPOSE 3142
VOLUME ["/var/cache/apt-cacher-ng"]
# In the foreground, as the container's one process (the package's own user, cache and log folders).
USER apt-cacher-ng
CMD ["/usr/sbin/apt-cacher-ng", "-c", "/etc/apt-cacher-ng", "ForeGround=1"]
