#!/usr/bin/env bash
# lmgate's benchmark, one command: bare nginx vs lmgate (all policies on; DLP off,
# then on) behind the same fast fake upstreams, on loopback, bounded in time.
#
#   scripts/bench.sh            # full run: 3 interleaved rounds, 1,000,000-request RSS soak (~25 min)
#   scripts/bench.sh --quick    # smoke run (~2 min)
#   scripts/bench.sh --help     # every knob (--soak N, --rate R, --seconds S, --json FILE, ...)
#   scripts/bench.sh --profile DIR   # instead: profile lmgate at saturation (py-spy, perf) into DIR
#
# Installs what it needs when root (nginx + njs, wrk, the venv); otherwise prints
# the apt-get line. Pins the gateway and the fake upstreams to one CPU and the load
# generator to another (taskset). What it measures and how to read it:
# docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
profile=0
[[ " $* " == *" --profile "* || " $* " == *" --profile="* ]] && profile=1
[ "$profile" = 1 ] && ! command -v perf >/dev/null 2>&1 && need+=(linux-perf)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "the benchmark needs these Debian packages; install them, then run this again:" >&2
    echo "  sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "installing ${need[*]} ..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
scripts/setup.sh >&2  # nginx + njs and the venv, as scripts/run.sh has them
if [ "$profile" = 1 ] && [ ! -x .venv/bin/py-spy ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check py-spy==0.4.3 >&2
fi

load_cpu=1
prev=""
for arg in "$@"; do
  case "$arg" in
    --load-cpu=*) load_cpu="${arg#--load-cpu=}" ;;
  esac
  [ "$prev" = "--load-cpu" ] && load_cpu="$arg"
  prev="$arg"
done
pin=()
if [ "$(nproc)" -ge 2 ] && [[ " $* " != *" --no-pin "* ]]; then
  pin=(taskset -c "$load_cpu")  # this driver sits with the load generator, off the gateway's CPU
fi
exec "${pin[@]}" .venv/bin/python scripts/bench/run.py "$@"
