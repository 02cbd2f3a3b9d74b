#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: lint and import contracts, every layer but
# the containers, then the compose layer (real containers) if the time left can hold it.
#   make test                          # what a developer types
#   MNISTGRID_TEST_DEADLINE=EPOCH_SECONDS scripts/test.sh   # what .ci/run does
# With a deadline, the compose layer runs only when it can finish before it (it takes up to
# COMPOSE_BUDGET_S on a cold machine); otherwise one line says why it was left out.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
COMPOSE_BUDGET_S=${COMPOSE_BUDGET_S:-1500}
# Tests start `mnistgrid` and `celery` as commands, as a user with the venv active would.
export PATH="$(cd "$VENV" && pwd)/bin:$PATH"

"$VENV/bin/ruff" check .
"$VENV/bin/lint-imports"
"$VENV/bin/python" -m pytest -m "not compose" "$@"

if [ -n "${MNISTGRID_TEST_DEADLINE:-}" ]; then
    left=$((MNISTGRID_TEST_DEADLINE - $(date +%s)))
    if [ "$left" -lt "$COMPOSE_BUDGET_S" ]; then
        echo "compose layer left for the next run: $((left / 60)) min left, it needs up to $((COMPOSE_BUDGET_S / 60))"
        exit 0
    fi
fi
"$VENV/bin/python" -m pytest -m compose "$@"
