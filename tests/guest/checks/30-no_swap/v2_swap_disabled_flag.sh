#!/bin/sh
# -u: a container with memory.swap.max 32M sees SwapTotal 0, SwapFree 0 and
# a /proc/swaps with the header only.
. /guest/lib.sh

cg_create swap_disabled memory.max=256M memory.swap.max=32M
ct_run swap_disabled "cat $M/proc/meminfo >$W/meminfo && cat $M/proc/swaps >$W/swaps" ||
    fail "reading $M/proc/meminfo or swaps in the container failed"
show meminfo "$W/meminfo"
show swaps "$W/swaps"
expect_eq "SwapTotal (kB) with -u" 0 "$(meminfo_get "$W/meminfo" SwapTotal)"
expect_eq "SwapFree (kB) with -u" 0 "$(meminfo_get "$W/meminfo" SwapFree)"
expect_eq "MemTotal (kB) with -u" 262144 "$(meminfo_get "$W/meminfo" MemTotal)"
expect_eq "swaps with -u (header only)" "$SWAPS_HEADER" "$(cat "$W/swaps")"
