#!/usr/bin/env bash
# Writes OUT/sdcard.img for a board whose profile has an SD disk (image.disk
# kind rpi-sd, rockchip-sd, or qemu-uboot-sd: the same card for QEMU's virt
# machine) from what scripts/build-image left in OUT (vmlinuz, initrd.gz,
# rootfs.squashfs), without loop devices or mounts, so that a CI container
# can run it: mformat/mcopy into a FAT file, sfdisk on the disk file, dd.
#
# Every board boots through Debian's U-Boot and one boot script, boot.scr
# (image/boot/twin6-ab.cmd), which picks root slot a or b from files on the
# FAT partition (docs/image.md §5).
#
# Layout, in 512-byte sectors, every partition on a 4 MiB boundary (SD
# cards' erase units):
#   MBR (disk id 0x7436e600)
#   rockchip-sd only: Debian's u-boot-rockchip idbloader.img (TPL + SPL) at
#      sector 64 and u-boot.itb (U-Boot + TF-A) at sector 16384 (8 MiB),
#      where the RK3399 boot ROM and SPL look for them
#   1  FAT32 (type 0x0c, bootable), bootMb, at 4 MiB (rpi-sd, qemu-uboot-sd)
#      or 16 MiB (rockchip-sd, after U-Boot), room for two kernel sets:
#        boot.scr             the A/B boot script (mkimage -T script), the
#                             same for every board, never rewritten
#        twin6/board.env      twin6_rootdev=<root partition prefix>
#        twin6/committed.env  twin6_committed=a, twin6_committed_gen=1
#        twin6/a/             Image, initrd.gz, boot.env (twin6_args=<kernel
#                             arguments>, twin6_fdt=<DTB file> on rockchip-sd)
#                             and the DTB on rockchip-sd; twin6/b/ empty
#        rpi-sd: raspi-firmware's start4.elf and fixup4.dat, the board's DTB,
#                config.txt, and u-boot.bin from u-boot-rpi (the firmware
#                starts U-Boot and hands it the DTB)
#   2  rootfs_a (type 0x83), rootMb: the squashfs
#   3  rootfs_b (type 0x83), rootMb: blank (zeros); an upgrade writes it
#   4  rootfs_data (type 0x83), dataMb, zeros: the init formats it as ext4
#      on first boot (image/initramfs/init)
# Then src/testing/image/sd-check.ts checks the result, and disk.json
# records the layout.
#
# raspi-firmware is in Debian's non-free-firmware component. It is fetched
# with a private apt configuration under .build/apt-non-free-firmware (its
# own sources, lists and cache, passed with -o); the host's apt sources are
# never changed. u-boot-rockchip and u-boot-rpi are in main: apt-get
# download, as the kernel, never installed. qemu-uboot-sd carries no U-Boot:
# QEMU runs the host's u-boot-qemu as its -bios.
#
# usage: scripts/image/sd-image.sh BOARD OUT KERNEL_LIB_DIR KERNEL_ARGS
#   KERNEL_LIB_DIR: the unpacked kernel package's /usr/lib/linux-image-<version>
#   KERNEL_ARGS:    the board's fixed kernel arguments (console=…), as for the UEFI disk
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
[ $# -eq 4 ] || { sed -n '2,47p' "$0" >&2; exit 2; }
BOARD="$1" OUT="$2" KLIB="$3" KARGS="$4"
log() { printf '[sd-image] %s\n' "$*" >&2; }
die() { printf 'sd-image: %s\n' "$*" >&2; exit 1; }

for t in mformat mcopy sfdisk fdtput dd truncate mkimage; do
  command -v "$t" >/dev/null || die "$t not found: run scripts/setup-debian (mtools, fdisk, device-tree-compiler, u-boot-tools)"
done
eval "$(node scripts/image/board-env.mjs board "$BOARD")"
case "$BOARD_DISK" in rpi-sd | rockchip-sd | qemu-uboot-sd) ;; *) die "board $BOARD has no SD disk (image.disk.kind rpi-sd, rockchip-sd or qemu-uboot-sd)" ;; esac
for f in vmlinuz initrd.gz rootfs.squashfs; do [ -f "$OUT/$f" ] || die "$OUT/$f missing: run scripts/build-image --board $BOARD"; done
[ -z "$BOARD_DISK_DTB" ] || [ -f "$KLIB/$BOARD_DISK_DTB" ] || die "the kernel package has no $BOARD_DISK_DTB (looked in $KLIB)"

# --- the boot loader -------------------------------------------------------
# raspi-firmware, from non-free-firmware through a private apt config; sets
# LOADER (the files for partition 1) and LOADER_ID.
raspi_firmware() {
  APTDIR="$ROOT/.build/apt-non-free-firmware"
  CODENAME="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
  mkdir -p "$APTDIR/sources" "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/dl"
  cat > "$APTDIR/sources/non-free-firmware.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $CODENAME
Components: non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  APT_OPTS=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$APTDIR/sources"
    -o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR/cache"
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=")
  fw_version() { apt-cache "${APT_OPTS[@]}" policy raspi-firmware 2>/dev/null | awk '/Candidate:/ {print $2}'; }
  FW_VERSION="$(fw_version)"
  if [ -z "$FW_VERSION" ] || [ "$FW_VERSION" = "(none)" ]; then
    log "apt-get update (non-free-firmware, private lists in $APTDIR)"
    apt-get "${APT_OPTS[@]}" update -qq >&2 || die "apt-get update of $CODENAME non-free-firmware failed"
    FW_VERSION="$(fw_version)"
  fi
  [ -n "$FW_VERSION" ] && [ "$FW_VERSION" != "(none)" ] || die "apt knows no raspi-firmware in $CODENAME non-free-firmware"
  FW="$ROOT/.build/raspi-firmware-$FW_VERSION"
  if [ ! -f "$FW/.done" ]; then
    log "downloading raspi-firmware $FW_VERSION"
    rm -rf "$APTDIR/dl"/*.deb "$FW.tmp" && mkdir -p "$FW.tmp"
    (cd "$APTDIR/dl" && apt-get "${APT_OPTS[@]}" download "raspi-firmware=$FW_VERSION" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
    deb="$(ls "$APTDIR"/dl/raspi-firmware_*.deb 2>/dev/null | head -1 || true)"
    [ -n "$deb" ] || die "apt-get download raspi-firmware failed"
    dpkg-deb -x "$deb" "$FW.tmp/pkg"
    mkdir -p "$FW.tmp/boot"
    # The Pi 4's boot stage (the EEPROM loads start4.elf, fixup4.dat matches
    # its memory split) and the licence that allows redistributing them.
    cp "$FW.tmp/pkg/usr/lib/raspi-firmware/start4.elf" "$FW.tmp/pkg/usr/lib/raspi-firmware/fixup4.dat" "$FW.tmp/boot/"
    cp "$FW.tmp/pkg/usr/share/doc/raspi-firmware/copyright" "$FW.tmp/boot/COPYING.firmware"
    rm -rf "$FW.tmp/pkg" "$deb"
    touch "$FW.tmp/.done"
    rm -rf "$FW" && mv "$FW.tmp" "$FW"
  fi
  LOADER="$FW/boot" LOADER_ID="raspi-firmware $FW_VERSION"
}

# Debian's U-Boot package $1 (main: u-boot-rockchip, u-boot-rpi), unpacked
# once; sets UBOOT (the board's target directory in it) and UBOOT_ID.
uboot_package() {
  local pkg="$1" version dir deb
  want() { apt-cache policy "$pkg:arm64" 2>/dev/null | awk '/Candidate:/ {print $2}'; }
  version="$(want)"
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    log "apt-get update (apt knows no $pkg:arm64 yet)"
    apt-get update -qq >&2
    version="$(want)"
  fi
  [ -n "$version" ] && [ "$version" != "(none)" ] || die "apt knows no $pkg:arm64: dpkg --add-architecture arm64 && apt-get update (scripts/setup-debian)"
  dir="$ROOT/.build/$pkg-$version"
  if [ ! -f "$dir/.done" ]; then
    log "downloading $pkg $version"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/dl"
    (cd "$dir.tmp/dl" && apt-get download "$pkg:arm64=$version" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
    deb="$(ls "$dir.tmp"/dl/"$pkg"_*.deb 2>/dev/null | head -1 || true)"
    [ -n "$deb" ] || die "apt-get download $pkg:arm64 failed"
    dpkg-deb -x "$deb" "$dir.tmp/pkg"
    mv "$dir.tmp/pkg/usr/lib/u-boot" "$dir.tmp/targets"
    rm -rf "$dir.tmp/pkg" "$dir.tmp/dl"
    touch "$dir.tmp/.done"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  UBOOT="$dir/targets/$BOARD_DISK_UBOOT"
  [ -d "$UBOOT" ] || die "$pkg $version has no target $BOARD_DISK_UBOOT (targets: $(ls "$dir/targets" | tr '\n' ' '))"
  UBOOT_ID="$pkg $version ($BOARD_DISK_UBOOT)"
}
case "$BOARD_DISK" in
  rpi-sd)
    raspi_firmware
    uboot_package u-boot-rpi
    [ -f "$UBOOT/u-boot.bin" ] || die "$UBOOT_ID has no u-boot.bin"
    LOADER_ID="$LOADER_ID, $UBOOT_ID"
    ;;
  rockchip-sd)
    uboot_package u-boot-rockchip
    for f in idbloader.img u-boot.itb; do [ -f "$UBOOT/$f" ] || die "$UBOOT_ID has no $f"; done
    LOADER="" LOADER_ID="$UBOOT_ID"
    ;;
  qemu-uboot-sd) LOADER="" LOADER_ID="none on the card: QEMU's -bios (u-boot-qemu, qemu_arm64)" ;;
esac


# --- partition 1: the FAT boot partition ------------------------------------
MIB=1048576
S=512
# Partition 1 starts after what precedes it: the MBR alone (rpi-sd,
# qemu-uboot-sd), or U-Boot, whose u-boot.itb begins at 8 MiB (rockchip-sd).
if [ "$BOARD_DISK" = rockchip-sd ]; then P1=$((16 * MIB / S)); else P1=$((4 * MIB / S)); fi
B="$OUT/boot.tmp"
rm -rf "$B" && mkdir -p "$B/twin6/a" "$B/twin6/b"
[ -z "$LOADER" ] || cp "$LOADER/"* "$B/"
RELEASE="$(node -p 'require(process.argv[1]).release' "$OUT/manifest.json")"
# The device tree: on the Pi the firmware loads it (config.txt) and hands it
# to U-Boot, so it stays at the partition's root, with the firmware; on a
# Rockchip board U-Boot loads the slot's own, which comes with its kernel.
DTB="" DTB_DIR=""
if [ -n "$BOARD_DISK_DTB" ]; then
  DTB="$(basename "$BOARD_DISK_DTB")"
  if [ "$BOARD_DISK" = rpi-sd ]; then DTB_DIR="$B"; else DTB_DIR="$B/twin6/a"; fi
  cp "$KLIB/$BOARD_DISK_DTB" "$DTB_DIR/$DTB"
  # Debian's bcm2711 DTB has no mmc aliases: the SD controller's number, and so
  # the card's mmcblkN, would follow probe order (the Wi-Fi SDIO host can come
  # first). An alias fixes it (mmc_alloc_host takes the index from "mmcN").
  for a in $BOARD_DISK_ALIASES; do
    fdtput -p -t s "$DTB_DIR/$DTB" /aliases "${a%%=*}" "${a#*=}" || die "cannot add alias $a to $DTB"
  done
fi
# The boot script, and what it reads (docs/image.md §5, image/boot/twin6-ab.cmd).
mkimage -A arm64 -O linux -T script -C none -n "twin6 A/B boot" -d image/boot/twin6-ab.cmd "$B/boot.scr" >/dev/null \
  || die "mkimage of image/boot/twin6-ab.cmd failed"
ROOT_PREFIX="${BOARD_ROOT_DEV%2}"
[ "$ROOT_PREFIX" != "$BOARD_ROOT_DEV" ] || die "image.rootDevice $BOARD_ROOT_DEV is not partition 2 (slot a)"
printf 'twin6_rootdev=%s\n' "$ROOT_PREFIX" > "$B/twin6/board.env"
printf 'twin6_committed=a\ntwin6_committed_gen=1\n' > "$B/twin6/committed.env"
cp "$OUT/vmlinuz" "$B/twin6/a/Image"
cp "$OUT/initrd.gz" "$B/twin6/a/initrd.gz"
# No root= (the initramfs mounts the squashfs and the flash named here), and
# no twin6.root= or twin6.slot=: boot.scr adds them for the slot it boots.
{
  printf 'twin6_args=%s twin6.data=%s\n' "$KARGS" "$BOARD_FLASH_DEV"
  [ "$DTB_DIR" != "$B/twin6/a" ] || printf 'twin6_fdt=twin6/a/%s\n' "$DTB"
} > "$B/twin6/a/boot.env"
if [ "$BOARD_DISK" = rpi-sd ]; then
  cp "$UBOOT/u-boot.bin" "$B/u-boot.bin"
  cat > "$B/config.txt" <<EOF
# $RELEASE, written by scripts/image/sd-image.sh
# The firmware starts Debian's U-Boot (u-boot-rpi, rpi_arm64) with the DTB
# below; U-Boot runs boot.scr, which boots root slot a or b.
arm_64bit=1
upstream_kernel=1
# The serial console is the mini-UART (ttyS1); it runs off the core clock,
# which must not change under it (Debian's raspi-firmware: 360 MHz on a Pi 4).
enable_uart=1
core_freq=360
kernel=u-boot.bin
device_tree=$DTB
EOF
fi
# Room for two kernel sets (one per slot: an upgrade writes the other slot's
# while the running one stays) and the boot loader's files, with a tenth spare.
SET_BYTES="$(du -cb "$B/twin6/a" | tail -1 | cut -f1)"
OTHER_BYTES="$(du -cb --exclude=twin6 "$B" | tail -1 | cut -f1)"
NEED_MB=$(( (2 * SET_BYTES + OTHER_BYTES) / MIB + 1 ))
[ "$NEED_MB" -le $((BOARD_DISK_BOOT_MB * 9 / 10)) ] \
  || die "two kernel sets ($SET_BYTES bytes each) and the boot loader need $NEED_MB MiB: more than 90% of the $BOARD_DISK_BOOT_MB MiB boot partition (image.disk.bootMb)"
log "boot partition: two kernel sets of $((SET_BYTES / 1024)) KiB and $((OTHER_BYTES / 1024)) KiB of boot loader: $NEED_MB of $BOARD_DISK_BOOT_MB MiB"

rm -f "$OUT/boot.fat"
truncate -s $((BOARD_DISK_BOOT_MB * MIB)) "$OUT/boot.fat"
export MTOOLS_SKIP_CHECK=1
# -H: the FAT's hidden sectors are the sectors before it on the disk.
mformat -i "$OUT/boot.fat" -F -v TWIN6BOOT -N 7436e600 -H "$P1" :: || die "mformat failed"
mcopy -s -i "$OUT/boot.fat" "$B"/* :: || die "the boot files do not fit in $BOARD_DISK_BOOT_MB MiB"

# --- the disk: MBR, the boot loader, four partitions ------------------------
SQ_BYTES="$(stat -c %s "$OUT/rootfs.squashfs")"
[ "$SQ_BYTES" -le $((BOARD_DISK_ROOT_MB * MIB)) ] || die "rootfs.squashfs is $SQ_BYTES bytes, partition 2 holds $BOARD_DISK_ROOT_MB MiB (image.disk.rootMb)"
P1_N=$((BOARD_DISK_BOOT_MB * MIB / S))
P2=$((P1 + P1_N))
P2_N=$((BOARD_DISK_ROOT_MB * MIB / S))
P3=$((P2 + P2_N))
P3_N=$P2_N
P4=$((P3 + P3_N))
P4_N=$((BOARD_DISK_DATA_MB * MIB / S))
END=$((P4 + P4_N))
IMG="$OUT/sdcard.img"
rm -f "$IMG.tmp"
# Sparse: the zeros of partitions 3 and 4 and the gaps cost nothing here, and
# dd writes them to the card, so an old card's filesystems there are wiped.
truncate -s $((END * S)) "$IMG.tmp"
sfdisk --quiet --no-reread --no-tell-kernel "$IMG.tmp" >/dev/null <<EOF || die "sfdisk failed"
label: dos
label-id: 0x7436e600
unit: sectors
start=$P1, size=$P1_N, type=c, bootable
start=$P2, size=$P2_N, type=83
start=$P3, size=$P3_N, type=83
start=$P4, size=$P4_N, type=83
EOF
if [ "$BOARD_DISK" = rockchip-sd ]; then
  # The RK3399 boot ROM reads idbloader.img (TPL, SPL) from sector 64; SPL
  # reads u-boot.itb from sector 16384 (CONFIG_SYS_MMCSD_RAW_MODE_U_BOOT_SECTOR).
  IDB_END=$((64 + ($(stat -c %s "$UBOOT/idbloader.img") + S - 1) / S))
  ITB_END=$((16384 + ($(stat -c %s "$UBOOT/u-boot.itb") + S - 1) / S))
  [ "$IDB_END" -le 16384 ] && [ "$ITB_END" -le "$P1" ] || die "U-Boot does not fit before partition 1 (idbloader to sector $IDB_END, u-boot.itb to $ITB_END)"
  dd if="$UBOOT/idbloader.img" of="$IMG.tmp" bs=$S seek=64 conv=notrunc status=none
  dd if="$UBOOT/u-boot.itb" of="$IMG.tmp" bs=$S seek=16384 conv=notrunc status=none
fi
dd if="$OUT/boot.fat" of="$IMG.tmp" bs=$MIB seek=$((P1 * S / MIB)) conv=notrunc,sparse status=none
dd if="$OUT/rootfs.squashfs" of="$IMG.tmp" bs=$MIB seek=$((P2 * S / MIB)) conv=notrunc,sparse status=none
rm -rf "$B" "$OUT/boot.fat"

node dist/testing/image/sd-check-main.js --board "$BOARD" --image "$IMG.tmp" --build "$OUT" --loader "$LOADER_ID" --out "$OUT/disk.json.tmp" >&2 \
  || die "the SD image fails its structural check (above)"
mv "$IMG.tmp" "$IMG"
mv "$OUT/disk.json.tmp" "$OUT/disk.json"
log "done: $IMG ($(stat -c %s "$IMG") bytes), $LOADER_ID"
