#!/usr/bin/env bash
# Install everything the test suite needs (first time only), lint, and run the whole suite.
# The browser test drives the distribution's Chromium; it is installed here when missing
# (as root or with sudo), otherwise that one test is skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements-dev.txt
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1 && sudo_cmd="sudo -n"
  if [[ $(id -u) -eq 0 || -n $sudo_cmd ]]; then
    ($sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null) \
      || echo "note: could not install chromium; the browser test will be skipped"
  fi
fi
# Fashion-MNIST for the tests: $EOS_DATA_DIR, else ../shared/data beside the checkout.
export EOS_DATA_DIR="${EOS_DATA_DIR:-$(cd .. && pwd)/shared/data}"
# Lint first (pyproject.toml's rules, pyflakes included): any finding fails the run.
.venv/bin/ruff check .
# Two workers (pytest-xdist); the browser tests share one of them (tests/e2e/conftest.py).
# Arguments after the script's name are pytest's and come last, so `-n 0` runs serially.
exec .venv/bin/python -m pytest -n "${EOS_TEST_WORKERS:-2}" --dist loadgroup "$@"
