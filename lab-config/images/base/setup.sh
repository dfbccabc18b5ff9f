#!/bin/sh
# Runs inside the debootstrapped tree (chroot) after rootfs/ is copied in.
set -eu
# Keep policy-rc.d absent: patches are .debs whose maintainer scripts restart services.
# (invoke-rc.d allows that only when /sbin/init exists and a runlevel is known: see
# rootfs/usr/sbin/init and rootfs/usr/sbin/runlevel.)
rm -f /usr/sbin/policy-rc.d
# Docker provides these at run time.
rm -f /etc/resolv.conf /etc/hostname
: > /etc/hosts
# Small image: no apt lists or caches, no logs from the build. (Docs and translations stay:
# a lab machine should look like production to `dpkg --verify`.)
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old
rm -rf /var/log/*.log /var/log/apt/* /tmp/* /var/tmp/*
