#!/usr/bin/env bash
# Runs `deno task eval` on the stage-1 weights N times (default 200) and
# counts the runs that did not exit 0: the reproducer of the exit-time
# segfault (exit 139 after correct output, 5 of 100 runs before the fix; see
# lib/runtime/main.ts runMain). Not run by CI: 200 runs take ~5 minutes.
#
#   CIFAR10_DIR=../shared/data/cifar-10-batches-bin bench/eval_exit_loop.sh [N] [extra eval flags]
#   bench/eval_exit_loop.sh 100 --backend native
#   UNTIL_FAIL=1 bench/eval_exit_loop.sh 1000       # stop at the first failing run
set -u
cd "$(dirname "$0")/.."
n=${1:-200}
shift || true
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fails=0
for i in $(seq 1 "$n"); do
  deno task -q eval --weights weights/resnet20-stage1.safetensors --limit-test 16 "$@" >"$log" 2>&1
  rc=$?
  if [ "$rc" -ne 0 ]; then
    fails=$((fails + 1))
    echo "run $i: exit $rc"
    tail -n 3 "$log"
    if [ -n "${UNTIL_FAIL:-}" ]; then
      n=$i
      break
    fi
  fi
done
echo "$((n - fails)) of $n runs exited 0"
[ "$fails" -eq 0 ]
