#!/bin/sh
# Checks docs/prometheus-rules.yml (YAML, PromQL, templates) and runs its unit tests
# (tests/monitoring/prometheus-rules.test.yml) with promtool. A missing promtool is a failure, not
# a skip, as with the Go reference checkers: checking the rules is the point of the test.
#   check_rules.sh SOURCE_DIR
set -eu
src=${1:?usage: check_rules.sh SOURCE_DIR}
if ! command -v promtool >/dev/null 2>&1; then
  echo "check_rules: promtool not found: it comes with Debian's prometheus package; run scripts/install-deps.sh" >&2
  exit 1
fi
promtool check rules "$src/docs/prometheus-rules.yml"
promtool test rules "$src/tests/monitoring/prometheus-rules.test.yml"
