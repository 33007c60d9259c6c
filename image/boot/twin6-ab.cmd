# twin6 A/B boot script for U-Boot (docs/image.md §5). scripts/image/sd-image.sh
# makes it into boot.scr (mkimage -A arm64 -T script -C none) at the root of
# the FAT boot partition, where U-Boot's distro boot finds it. The same script
# for every board, never rewritten by an upgrade: what changes lives in files
# next to it, all on this partition:
#   twin6/board.env      twin6_rootdev=<the root disk's partition prefix>,
#                        written at image build (/dev/mmcblk0p, /dev/vda)
#   twin6/committed.env  twin6_committed=a|b, twin6_committed_gen=N; only Linux
#                        writes it (temp file, fsync, rename)
#   twin6/trial.env      twin6_trial=a|b, twin6_trial_gen=N: try that slot
#                        once. This script spends the try before booting it
#                        by overwriting the file with a single newline (names
#                        no trial); Linux commits by renaming committed.env
#                        and then removing trial.env
#   twin6/<slot>/Image, initrd.gz, boot.env (twin6_args=<kernel arguments>,
#                        and twin6_fdt=twin6/<slot>/<name>.dtb where the
#                        board's DTB is loaded from a file)
# Slot a's root is partition 2, slot b's partition 3.
#
# Debian 12's U-Boot builds have no bootcount (CONFIG_BOOTCOUNT_LIMIT), and
# the nanopc-t4 one has no setexpr: the script uses only fatload, fatwrite,
# env import, mw, test and booti. It writes the disk once per trial, never on
# a normal boot.

# The partition U-Boot's distro boot found this script on.
if test -z "${distro_bootpart}"; then setenv distro_bootpart 1; fi
setenv twin6_dev "${devtype} ${devnum}:${distro_bootpart}"
# Small files go where the initramfs goes later (never over this running script).
setenv twin6_tmp ${ramdisk_addr_r}

setenv twin6_rootdev
if fatload ${twin6_dev} ${twin6_tmp} twin6/board.env; then env import -t ${twin6_tmp} ${filesize} twin6_rootdev; fi
setenv twin6_committed a
setenv twin6_committed_gen 0
if fatload ${twin6_dev} ${twin6_tmp} twin6/committed.env; then env import -t ${twin6_tmp} ${filesize} twin6_committed twin6_committed_gen; fi
if test "${twin6_committed}" != b; then setenv twin6_committed a; fi
setenv twin6_trial
setenv twin6_trial_gen
if fatload ${twin6_dev} ${twin6_tmp} twin6/trial.env; then env import -t ${twin6_tmp} ${filesize} twin6_trial twin6_trial_gen; fi
echo "twin6: committed slot ${twin6_committed} (generation ${twin6_committed_gen}), trial ${twin6_trial} (generation ${twin6_trial_gen})"

# Boots slot ${twin6_slot}: its boot.env, Image (unless ${twin6_loaded} says
# it is loaded already), initrd.gz and DTB (the file boot.env names, else the
# one the firmware handed over: ${fdt_addr}, which the Pi's U-Boot sets to
# the firmware's DTB and qemu_arm64's default environment to where QEMU puts
# its own; ${fdtcontroladdr}, U-Boot's own, where neither is set). Returns
# only when something is missing or booti fails.
setenv twin6_boot 'setenv twin6_args; setenv twin6_fdt; setenv twin6_fdtaddr; if test "${twin6_slot}" = b; then setenv twin6_part 3; else setenv twin6_part 2; fi; if fatload ${twin6_dev} ${twin6_tmp} twin6/${twin6_slot}/boot.env; then env import -t ${twin6_tmp} ${filesize} twin6_args twin6_fdt; fi; if test "${twin6_loaded}" = "${twin6_slot}" || fatload ${twin6_dev} ${kernel_addr_r} twin6/${twin6_slot}/Image; then setenv twin6_loaded ${twin6_slot}; if fatload ${twin6_dev} ${ramdisk_addr_r} twin6/${twin6_slot}/initrd.gz; then setenv twin6_initrd ${ramdisk_addr_r}:${filesize}; if test -n "${twin6_fdt}"; then if fatload ${twin6_dev} ${fdt_addr_r} ${twin6_fdt}; then setenv twin6_fdtaddr ${fdt_addr_r}; fi; elif test -n "${fdt_addr}"; then setenv twin6_fdtaddr ${fdt_addr}; else setenv twin6_fdtaddr ${fdtcontroladdr}; fi; if test -n "${twin6_fdtaddr}"; then setenv bootargs "${twin6_args} twin6.slot=${twin6_slot} twin6.root=${twin6_rootdev}${twin6_part}"; echo "twin6: booting slot ${twin6_slot}: ${bootargs}"; booti ${kernel_addr_r} ${twin6_initrd} ${twin6_fdtaddr}; fi; fi; fi; echo "twin6: slot ${twin6_slot} did not boot"'
setenv twin6_loaded

# A trial: its Image must load, and the try is spent (trial.env overwritten
# with one newline) before anything of it runs. If the write fails, the trial
# is not booted: a try that cannot be spent could be retried forever.
if test "${twin6_trial}" = a || test "${twin6_trial}" = b; then
  setenv twin6_slot ${twin6_trial}
  if fatload ${twin6_dev} ${kernel_addr_r} twin6/${twin6_slot}/Image; then
    setenv twin6_loaded ${twin6_slot}
    mw.b ${twin6_tmp} 0x0a 1
    if fatwrite ${twin6_dev} ${twin6_tmp} twin6/trial.env 1; then
      echo "twin6: trial of slot ${twin6_slot} (generation ${twin6_trial_gen}), its try spent"
      run twin6_boot
    else
      echo "twin6: cannot spend the trial of slot ${twin6_slot} (fatwrite failed): not booting it"
    fi
  else
    echo "twin6: trial slot ${twin6_slot} has no Image: not booting it"
  fi
fi

# The committed slot, then the other one.
setenv twin6_slot ${twin6_committed}
run twin6_boot
if test "${twin6_committed}" = a; then setenv twin6_slot b; else setenv twin6_slot a; fi
run twin6_boot
echo "twin6: no slot booted"
