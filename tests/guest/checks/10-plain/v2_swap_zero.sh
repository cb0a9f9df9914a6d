#!/bin/sh
# meminfo in a container with memory.swap.max 0: SwapTotal and SwapFree are 0.
. /guest/lib.sh

cg_create swap_zero memory.max=256M memory.swap.max=0
ct_run swap_zero "cat $M/proc/meminfo" >"$W/meminfo" ||
    fail "reading $M/proc/meminfo in the container failed"
show meminfo "$W/meminfo"
expect_eq "SwapTotal (kB) for memory.swap.max 0" 0 "$(meminfo_get "$W/meminfo" SwapTotal)"
expect_eq "SwapFree (kB) for memory.swap.max 0" 0 "$(meminfo_get "$W/meminfo" SwapFree)"
