#!/bin/sh
# /proc/swaps in containers: with memory.swap.max 32M the header plus one
# "none ... virtual" line whose size is meminfo's SwapTotal (32768) and whose
# use is SwapTotal - SwapFree; with memory.swap.max 0 the header only.
. /guest/lib.sh

cg_create swaps_32m memory.max=256M memory.swap.max=32M
ct_run swaps_32m "cat $M/proc/swaps >$W/swaps && cat $M/proc/meminfo >$W/meminfo" ||
    fail "reading $M/proc/swaps in the container failed"
show swaps "$W/swaps"
total=$(meminfo_get "$W/meminfo" SwapTotal)
free=$(meminfo_get "$W/meminfo" SwapFree)
expect_uint "meminfo SwapTotal" "$total"
expect_uint "meminfo SwapFree" "$free"
expect_eq "header line" "$SWAPS_HEADER" "$(sed -n 1p "$W/swaps")"
expect_eq "number of lines with memory.swap.max 32M" 2 "$(wc -l <"$W/swaps")"
line=$(sed -n 2p "$W/swaps")
echo "$line" | grep -Eq "$SWAPS_LINE_RE" ||
    problem "swap line: expected 'none<spaces>virtual<tabs>SIZE<tab>USED<tab>0', got '$line'"
size=$(echo "$line" | awk '{ print $3 }')
used=$(echo "$line" | awk '{ print $4 }')
expect_eq "swap size (kB) for memory.swap.max 32M" 32768 "$size"
expect_eq "swap size vs meminfo SwapTotal" "$total" "$size"
expect_eq "swap used vs meminfo SwapTotal - SwapFree" "$((total - free))" "$used"

cg_create swaps_zero memory.max=256M memory.swap.max=0
ct_run swaps_zero "cat $M/proc/swaps" >"$W/swaps0" ||
    fail "reading $M/proc/swaps in the container failed"
show "swaps with memory.swap.max 0" "$W/swaps0"
expect_eq "content with memory.swap.max 0 (header only)" "$SWAPS_HEADER" "$(cat "$W/swaps0")"
