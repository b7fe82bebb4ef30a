#!/usr/bin/env bash
# Mutation testing of certcheck/evaluate with mutmut -- a developer tool, not part of CI.
#
# Install (once, into the project's virtualenv; mutmut is in no dependency list):
#     .venv/bin/pip install mutmut          # 3.8 was used
# Run (from the repository root):
#     scripts/mutation.sh                    # every module of certcheck/evaluate (slow)
#     scripts/mutation.sh names.py           # one module: certcheck/evaluate/names.py
#     JOBS=2 scripts/mutation.sh rules/protocols.py
# Environment:
#     JOBS          parallel mutant runs (default 1: be kind to shared machines)
#     KEEP=1        keep the scratch copy (its path is printed) to inspect mutants
#     DESELECT      space-separated pytest node ids to leave out (a test that fails on
#                   the unmutated code makes mutmut refuse to start)
#
# It works on a scratch copy of the working tree (mutmut writes a mutants/ folder
# and edits the configuration), so the checkout is never touched.  Only the fast,
# pure evaluation tests run against each mutant; the server-backed tests are left
# out on purpose.  Afterwards it prints every surviving mutant: each is either a
# missing test or an equivalent mutant (same behaviour), which only reading the
# diff (`mutmut show NAME` in the scratch copy) can tell.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
MODULE="${1:-}"
JOBS="${JOBS:-1}"
TESTS=(
    tests/evaluate/test_cert_rules.py
    tests/evaluate/test_cipher_rules.py
    tests/evaluate/test_protocol_rules.py
    tests/core/test_names.py
    tests/evaluate/test_distrust_eval.py
    tests/evaluate/test_ct_stapling.py
    tests/evaluate/test_simulation.py
    tests/test_policyfile.py
    tests/evaluate/test_rules_near_miss.py
    tests/evaluate/test_webpki_conformance.py
)

if ! "$PY" -c "import mutmut" 2>/dev/null; then
    echo "mutation.sh: mutmut is not installed: run .venv/bin/pip install mutmut" >&2
    exit 2
fi
if [[ -n "$MODULE" && ! -f "$ROOT/certcheck/evaluate/$MODULE" ]]; then
    echo "mutation.sh: no module certcheck/evaluate/$MODULE" >&2
    exit 2
fi

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/certcheck-mutation.XXXXXX")"
if [[ "${KEEP:-0}" != 1 ]]; then
    trap 'rm -rf "$SCRATCH"' EXIT
fi
echo "scratch copy: $SCRATCH"
cp -r "$ROOT/certcheck" "$ROOT/rules" "$ROOT/templates" "$ROOT/pyproject.toml" "$SCRATCH/"
mkdir "$SCRATCH/tests"
cp "$ROOT"/tests/*.py "$SCRATCH/tests/"
[[ -d "$ROOT/tests/data" ]] && cp -r "$ROOT/tests/data" "$SCRATCH/tests/"
find "$SCRATCH" -name __pycache__ -prune -exec rm -rf {} +

toml_list() { # "a b" -> ["a", "b"]
    local out="" item
    for item in "$@"; do out+="\"$item\", "; done
    echo "[${out%, }]"
}
pytest_args=(-p no:cacheprovider -q -x -n 0)  # one process: mutmut runs its own jobs
for node in ${DESELECT:-}; do pytest_args+=("--deselect=$node"); done
only="certcheck/evaluate/${MODULE:-*.py}"
cat >>"$SCRATCH/pyproject.toml" <<EOF

[tool.mutmut]
source_paths = ["certcheck"]
only_mutate = ["$only"]
also_copy = ["rules", "templates", "tests", "pyproject.toml"]
pytest_add_cli_args_test_selection = $(toml_list "${TESTS[@]}")
pytest_add_cli_args = $(toml_list "${pytest_args[@]}")
EOF

cd "$SCRATCH"
# mutmut exits non-zero when mutants survive; the summary below is what matters.
"$ROOT/.venv/bin/mutmut" run --max-children "$JOBS" || true
echo
echo "== surviving mutants (each: a missing test, or an equivalent mutant)"
"$ROOT/.venv/bin/mutmut" results || true
