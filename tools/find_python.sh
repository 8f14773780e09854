#!/usr/bin/env bash
# Print the path of a Python >= 3.12 (the pinned jax needs it), or explain in one line and exit 1.
# Order: $BOOK_PYTHON if set, then interpreters on PATH, then pyenv's installed versions; 3.12 (the version
# the pins were resolved on) before newer ones.
# Every candidate is actually run: a pyenv shim on PATH exists but fails when its version is not selected.
set -u
ok() { "$1" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }

candidates=()
[ -n "${BOOK_PYTHON:-}" ] && candidates+=("$BOOK_PYTHON")
for name in python3.12 python3.13 python3 python; do
  path=$(command -v "$name" 2>/dev/null) && candidates+=("$path")
done
pyenv_root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for dir in $(ls -d "$pyenv_root"/versions/3.12* 2>/dev/null | sort -rV) \
           $(ls -d "$pyenv_root"/versions/3.* 2>/dev/null | grep -v '/3\.12' | sort -rV); do
  candidates+=("$dir/bin/python3")
done

for candidate in "${candidates[@]}"; do
  if ok "$candidate"; then echo "$candidate"; exit 0; fi
done
echo "error: no Python >= 3.12 found (looked on PATH and in pyenv versions); install one, or set BOOK_PYTHON=/path/to/python3.12" >&2
exit 1
