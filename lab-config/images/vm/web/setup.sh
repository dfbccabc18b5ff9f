#!/bin/sh
# Runs inside the debootstrapped tree (chroot, /proc mounted) after rootfs/ is copied in.
set -eu
echo patchlab-vm > /etc/hostname
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > /etc/hosts
# One machine id for the image (VMs are lab copies); an empty one would make the first boot
# write /etc and differ from the image.
rm -f /etc/machine-id && systemd-machine-id-setup >/dev/null
# Throwaway certificate so nginx starts; the web role's provision replaces it.
mkdir -p /etc/ssl/patchlab
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=patchlab-placeholder" \
  -keyout /etc/ssl/patchlab/server.key -out /etc/ssl/patchlab/server.crt 2>/dev/null
chmod 600 /etc/ssl/patchlab/server.key
nginx -t
systemctl enable systemd-networkd.service patchlab-ssh-key.service patchlab-booted.service
# Nothing changes the machine by itself between a snapshot and its restore: no timers that
# update, scrub, trim or rotate.
systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
  fstrim.timer man-db.timer logrotate.timer dpkg-db-backup.timer >/dev/null
# A faster boot under TCG (every unit costs emulated CPU): nothing here uses a text console
# login, hugepages, debug/trace filesystems, fuse, device-mapper or EFI pstore.
systemctl mask getty-static.service getty@tty1.service dev-hugepages.mount sys-kernel-debug.mount \
  sys-kernel-tracing.mount sys-fs-fuse-connections.mount modprobe@dm_mod.service modprobe@efi_pstore.service \
  modprobe@fuse.service modprobe@drm.service systemd-pstore.service >/dev/null
# Small, fast initramfs (see etc/initramfs-tools/): virtio disk + ext4 only.
update-initramfs -u -k all
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old
rm -rf /var/log/*.log /var/log/apt/* /tmp/* /var/tmp/*
