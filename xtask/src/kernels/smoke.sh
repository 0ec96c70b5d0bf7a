#!/bin/sh
# The kernel matrix's smoke run, the same in a guest's initramfs and on the
# host: `sdtrace check`, a capture of `kernel-smoke run`, and a capture of
# `kernel-smoke storm`. Everything it learns goes to $OUT, each piece after
# a line "==ksmoke== NAME"; the host checks it (xtask/src/kernels/check.rs).
OUT=${OUT:?where the sections go}
T=${KSMOKE_TMP:-/tmp/ksmoke}
STORM_SECONDS=${STORM_SECONDS:-6}
mkdir -p "$T"

section() { echo "==ksmoke== $1" >> "$OUT"; }
# A guest sets KSMOKE_PACK: its serial port is slow, so each piece goes
# through gzip and base64 there.
dump() {
    if [ -n "$KSMOKE_PACK" ]; then
        section "$1 gzip+base64"
        gzip -c "$2" 2> /dev/null | base64 >> "$OUT"
    else
        section "$1"
        cat "$2" >> "$OUT" 2> /dev/null
        echo >> "$OUT"
    fi
}

section "kernel $(uname -r)"
sdtrace check -j > "$T/check.json" 2> "$T/check.err"
echo "rc=$?" >> "$T/check.err"
dump check "$T/check.json"
dump check-stderr "$T/check.err"

# capture NAME FORMAT FILTER WORKLOAD...: sdtrace with FILTER while WORKLOAD
# runs; its events (-j, or -j -p FORMAT), stderr, statistics and the
# workload's facts.
capture() {
    name=$1 format=$2 filter=$3
    shift 3
    sdtrace -j ${format:+-p} ${format:+"$format"} --buffer-size 64M \
        --stats-json "$T/$name.stats" -c "$filter" > "$T/$name.json" 2> "$T/$name.err" &
    sd=$!
    n=0
    until grep -q '^sdtrace: attached' "$T/$name.err" 2> /dev/null; do
        n=$((n + 1))
        if [ $n -gt 1800 ] || ! kill -0 $sd 2> /dev/null; then break; fi
        sleep 0.1
    done
    "$@" > "$T/$name.facts" 2> "$T/$name.facts-err"
    echo "rc=$?" >> "$T/$name.facts-err"
    # Past the reorder window and a quiet CPU's flush.
    sleep 1
    kill -INT $sd
    wait $sd
    echo "rc=$?" >> "$T/$name.err"
    dump "$name-facts" "$T/$name.facts"
    dump "$name-facts-stderr" "$T/$name.facts-err"
    dump "$name-events" "$T/$name.json"
    dump "$name-stderr" "$T/$name.err"
    dump "$name-stats" "$T/$name.stats"
}

# A capture file for the other architecture's sdtrace to read back
# (KSMOKE_CROSS): binary, so gzipped and base64-encoded everywhere.
cross() {
    sdtrace -w "$T/cross.scap" --buffer-size 64M \
        -c "proc.name=kernel-smoke and evt.type!=getppid" 2> "$T/cross.err" &
    sd=$!
    n=0
    until grep -q '^sdtrace: attached' "$T/cross.err" 2> /dev/null; do
        n=$((n + 1))
        if [ $n -gt 1800 ] || ! kill -0 $sd 2> /dev/null; then break; fi
        sleep 0.1
    done
    kernel-smoke run > /dev/null 2>&1
    sleep 1
    kill -INT $sd
    wait $sd
    echo "rc=$?" >> "$T/cross.err"
    dump cross-stderr "$T/cross.err"
    section "cross-scap gzip+base64"
    gzip -c "$T/cross.scap" 2> /dev/null | base64 >> "$OUT"
}

capture smoke "" "proc.name=kernel-smoke" kernel-smoke run
if [ -n "$KSMOKE_CROSS" ]; then cross; fi
capture storm "%thread.tid %evt.type %fd.name %proc.cmdline" \
    "proc.name=kernel-smoke and evt.type in (openat, execve)" kernel-smoke storm "$STORM_SECONDS"
section end
