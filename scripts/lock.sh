#!/usr/bin/env bash
# Refresh the locks of tested versions in requirements/ from pyproject.toml's ranges.
#
#   scripts/lock.sh            keep every pinned version that still fits; add what is new
#   scripts/lock.sh --upgrade  take the newest version of everything that fits the ranges
#
# After a refresh, `make test` must pass on the new locks before they are committed.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/python" -m pip install --quiet "uv==$UV_VERSION"
compile=("$tools/bin/uv" pip compile --quiet --generate-hashes --universal --python-version 3.11
         --no-emit-package rlm-tui --custom-compile-command "scripts/lock.sh")
# The test lock is resolved first; the app's lock is held to the same versions.
"${compile[@]}" "$@" pyproject.toml --extra test --extra real-model -o requirements/test.lock
"${compile[@]}" "$@" pyproject.toml -c requirements/test.lock -o requirements/app.lock
echo "locks written: requirements/app.lock, requirements/test.lock; now run: make test"
