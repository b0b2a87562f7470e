#!/usr/bin/env bash
# Run lmgate on this machine: installs what is missing (nginx + njs, a venv with
# lmgate), renders nginx.conf from config/lmgate.yaml and runs nginx (clients,
# default 0.0.0.0:8080) and the sidecar (127.0.0.1:8081) in the foreground.
# Ctrl-C stops both. Extra arguments go to `lmgate up` (e.g. --config FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/lmgate up "$@"
