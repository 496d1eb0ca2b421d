#!/usr/bin/env bash
# The cgroup v2 lane of CI: the sandbox's test binaries (unit, hostile, conformance, ordinary,
# cgroup, secrets), the judge engine's tests and the compose-privilege test, built on the host
# and run in a qemu guest with a pure cgroup v2 hierarchy (run-v2.sh), in container mode: each
# in a non-root cgroup with a cgroup namespace of its own, as Docker starts a container.
# SANDBOX_EXPECT_CGROUP=v2 makes every sandbox the tests create assert that the v2 backend is
# the one in use (and the judge engine's tests skip the plain runner, which is not under test).
#
#   sandbox/vm/cgroup-v2-lane.sh            # default kernel (Debian 12's 6.12)
#   VM_KERNEL_PKG=linux-image-6.1.0-57-amd64 sandbox/vm/cgroup-v2-lane.sh   # any other
#
# Exit status: 0 when every binary passed.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Test executables of the packages, as cargo reports them (examples excluded).
test_binaries() {
  cargo test "$@" --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and m["target"]["kind"] != ["example"] and m.get("profile", {}).get("test"):
        print(m["executable"])
'
}

echo "== building the test binaries"
cargo test -p sandbox -p judge-worker -p e2e-tests --no-run --quiet
mapfile -t binaries < <(
  test_binaries -p sandbox
  test_binaries -p judge-worker --test judge_engine
  test_binaries -p e2e-tests --test compose_privileges
)
[ ${#binaries[@]} -ge 8 ] || { echo "expected at least 8 test binaries, found ${#binaries[@]}" >&2; exit 1; }

# One guest boot runs them all; a failing binary does not stop the others.
script='failed=0
for b in "$@"; do
  echo "== $(basename "$b")"
  extra=()
  # A 64 MiB Java stack overflow takes more emulated CPU than any sane time limit; the
  # other Java cases (accepted, compile errors) run here, and this one on the host.
  case $(basename "$b") in judge_engine-*) extra=(--skip java_run_verdicts) ;; esac
  "$b" --test-threads=2 "${extra[@]}" || { echo "== FAILED: $(basename "$b")"; failed=1; }
done
exit $failed'
export SANDBOX_EXPECT_CGROUP=v2
# Guest CPU time counts instructions at ~1 GHz (-icount shift=0), slower than the host: the
# judge engine's tests give their programs this many times their time limits.
export SANDBOX_TIME_SCALE=${SANDBOX_TIME_SCALE:-4}
exec sandbox/vm/run-v2.sh --container-mode -- /bin/bash -c "$script" lane "${binaries[@]}"
