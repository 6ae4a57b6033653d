#!/usr/bin/env bash
# A GPU loan in two device commands, each one short line (docs/gpu.md, "A GPU lent for minutes"):
#
#   call 1, carry .stage/part1:  CLR_REPRO_COMMIT=<sha> bash experiments/leases/loan.sh bench .stage/part1
#   call 2, carry .stage/part2:  CLR_REPRO_COMMIT=<sha> bash experiments/leases/loan.sh train .stage/part2 SECONDS
#
# Commit first and pass `git rev-parse HEAD`: the machine's copy of .git may be stale, so the runs' provenance
# takes the commit from CLR_REPRO_COMMIT. The parts are CIFAR-10 staged to fit a command's carry, each holding
# an unpack_cifar10.py that restores its shards into $LOAN_DATA (default ~/cifar10) and checks their pixels.
#
# bench   unpacks its part, then times what no stored benchmark has timed on this GPU (--unless-timed):
#         cudagraphs+fused alone and two sharing the GPU at batch 512, then at C6's batch of 128. The JSONs
#         go to $OUT and to $LOAN_BENCH, where call 2 reads them: files outside $OUT last ~30 s after a
#         command returns, so send call 2 at once. Last, profiles of the eager and the fast step
#         (profile-*.json and .txt: the device time by kind of kernel), what speed work starts from, each
#         unless benchmarks/results holds it for this GPU (--unless-profiled): a GPU seen before goes to training.
# train   unpacks the last part, checks that every shard is there (else the machine was released between the
#         calls: stage again), then `run-study` trains the missing runs of TARGETS, in that order, within
#         SECONDS (60-560; runs stop 40 s before it and checkpoint). The store is seeded with the stored runs,
#         so one target list serves every loan; $OUT gets results.tgz (for `import-runs`) and train.log.
#
# LOAN_DRY=1 (a CPU check, tests/test_loan.py): nothing is unpacked, timed or trained. The benchmark lines
# are printed, and run-study plans the queue with --plan --as-device "$LOAN_AS_DEVICE" (default NVIDIA H200)
# against $LOAN_STORE (default experiments/results).
set -uo pipefail

# the issue's order (ResNet-56 claims): C4, Smith's logged runs, C1, C7, C5, C4 with crop, C6, DA's schedule on
# the net of Smith's log, each claim's first seed (LABEL@0); then, with spare minutes, the further seeds the
# study files list (C1: a verdict needs an interval; C5, C7: the issue's item 8). Stored runs are skipped.
TARGETS=(
    experiments/full/05_resnet56_one_cycle.yaml:one_cycle,one_cycle-smith-setup,one_cycle-smith-log
    experiments/full/03_range_tests.yaml:C1-resnet56-linear@0
    experiments/full/06_weight_decay.yaml:wd1e-3@0,wd3e-4@0,wd1e-4@0,wd3e-5@0,wd1e-5@0
    experiments/full/05_resnet56_one_cycle.yaml:one_cycle-momentum0.9@0,one_cycle-momentum0.95@0,one_cycle-crop_flip,step-baseline,one_cycle-smith-net
    experiments/full/03_range_tests.yaml:C1-resnet56-linear
    experiments/full/05_resnet56_one_cycle.yaml:one_cycle-momentum0.9,one_cycle-momentum0.95
    experiments/full/06_weight_decay.yaml
)
PY=${PYTHON:-python3}
DATA=${LOAN_DATA:-$HOME/cifar10}
BENCH=${LOAN_BENCH:-$HOME/loan-bench}
STORE=${LOAN_STORE:-experiments/results}  # the stored runs, which the loan skips
DRY=${LOAN_DRY:-0}

fail() { echo "loan.sh: $*" >&2; exit 2; }

step=${1:-}
part=${2:-}
case "$step" in
    bench) [ $# -eq 2 ] || fail "bench takes one argument, the staged part (e.g. .stage/part1); got $(($# - 1))" ;;
    train) [ $# -eq 3 ] || fail "train takes two arguments, the staged part and SECONDS; got $(($# - 1))" ;;
    *) fail "step=${step@Q} is invalid: expected bench PART or train PART SECONDS" ;;
esac
[ -n "${CLR_REPRO_COMMIT:-}" ] || fail "CLR_REPRO_COMMIT is unset: expected the commit this tree is (git rev-parse HEAD)"
[ -n "${OUT:-}" ] && mkdir -p "$OUT" || fail "OUT=${OUT-} is invalid: expected a folder to write the results to"
if [ "$DRY" != 1 ] && [ ! -f "$part/unpack_cifar10.py" ]; then
    fail "part=${part@Q} is invalid: expected a staged part holding unpack_cifar10.py (.stage/partK)"
fi
export PYTHONPATH=. PYTHONUNBUFFERED=1 CLR_REPRO_COMMIT CLR_REPRO_DIRTY=0

exec > >(tee "$OUT/$step.log") 2>&1  # what the reply's tail cuts off comes back whole
tee_pid=$!
trap 'exec >&- 2>&-; wait "$tee_pid"' EXIT  # the log is whole before the command returns and $OUT is read
echo "# loan.sh $step at $(date -u +%FT%TZ), commit $CLR_REPRO_COMMIT$([ "$DRY" = 1 ] && echo ' (dry)')"
if [ "$DRY" != 1 ]; then
    echo "# gpu: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"  # import-runs names files by it
    "$PY" "$part/unpack_cifar10.py" "$DATA" || fail "unpacking $part into $DATA failed (its output is above)"
fi

# a command, or in a dry run the line it would be
run() { if [ "$DRY" = 1 ]; then echo "would run: $*"; else "$@"; fi; }

if [ "$step" = bench ]; then
    run timeout -s TERM -k 10 150 "$PY" benchmarks/throughput.py --data synthetic:50000 --no-standard --unless-timed \
        --modes cudagraphs+fused --concurrency 2 --max-seconds 90 --out "$OUT/modes.json"
    run timeout -s TERM -k 10 90 "$PY" benchmarks/throughput.py --data synthetic:50000 --no-standard --unless-timed \
        --batch-size 128 --modes cudagraphs+fused --max-seconds 30 --out "$OUT/modes128.json"
    # where a step's time goes on this GPU (kernels by kind, how busy the device is): eager (~15 s, no compiling),
    # then the fast mode (~20-60 s, its compile included); each once per GPU: stored profiles are not taken again
    run timeout -s TERM -k 10 60 "$PY" benchmarks/profile_step.py --data synthetic:50000 --mode eager --unless-profiled \
        --out "$OUT/profile-eager.json"
    run timeout -s TERM -k 10 100 "$PY" benchmarks/profile_step.py --data synthetic:50000 --mode cudagraphs+fused --unless-profiled \
        --out "$OUT/profile-cudagraphs.json"
    if [ "$DRY" != 1 ]; then
        mkdir -p "$BENCH" && cp "$OUT"/modes*.json "$BENCH"/ 2>/dev/null
        echo "# benchmark JSONs for call 2 in $BENCH: $(ls "$BENCH" 2>/dev/null | tr '\n' ' ')"
    fi
    exit 0
fi

secs=$3
[[ "$secs" =~ ^[0-9]+$ ]] && [ "$secs" -ge 60 ] && [ "$secs" -le 560 ] \
    || fail "SECONDS=${secs@Q} is invalid: expected a whole number from 60 to 560 (a command may run 600 s, the archive included)"
if [ "$DRY" = 1 ]; then
    "$PY" -m reproduce run-study "${TARGETS[@]}" --out "$STORE" --time-limit $((secs - 20)) \
        --parallel auto --plan --as-device "${LOAN_AS_DEVICE:-NVIDIA H200}"
    exit
fi
for shard in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch test_batch_jpeg; do
    [ -f "$DATA/$shard.npz" ] || fail "data=$DATA lacks $shard.npz: expected every part unpacked there; the machine was \
released between the calls (files outside \$OUT last ~30 s): stage again and send the calls back to back"
done
mkdir -p runs/results runs/logs && { cp -rn "$STORE"/. runs/results/ 2>/dev/null || true; }  # cp -n may exit 1 on a skip
# the deadline is SECONDS - 20, and run-study stops its runs 20 s before that, so their checkpoints land in time;
# a run-study that does not end at SECONDS (a hung child) is killed 20 s later, so the archive is still written
# inside the command's 600 s. The benchmarks merge in run-study's own order (the first full one, the later ones
# by name), then this loan's
timeout -s TERM -k 20 "$secs" "$PY" -m reproduce run-study "${TARGETS[@]}" --data "$DATA" --out runs/results \
    --log-dir runs/logs --time-limit $((secs - 20)) --parallel auto \
    --benchmark benchmarks/results/throughput.json benchmarks/results/throughput-*.json "$BENCH"/modes*.json
echo "# run-study exit $? (0: every target stored; 3: some remain for the next loan; 124/137: stopped at SECONDS)"
tar czf "$OUT/results.tgz" --exclude=checkpoint.pt -C runs results logs && ls -l "$OUT/results.tgz"
