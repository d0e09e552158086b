#!/usr/bin/env bash
# Mutation testing of the SDK's numeric core, run on demand (not in CI).
#
# Mutates sdk/gldpose_sdk/{preprocess,manifest,decode}.py and backends/base.py (preprocessing,
# the crop rule, decode, manifest checks, the backend base class) with mutmut and runs, for each
# mutant, only the fast tests that reach the mutated function (no torch, no exported models).
# Results: survivors listed at the end and in $WORK/survivors.txt; docs/results/mutation.md
# records a run and what became of each survivor.
#
# Install once into the project's virtualenv (no extra of pyproject.toml pulls it in):
#     pip install "mutmut==3.8.1"
# Run from the repository root (about 5 min on a 2-core CPU; nice it when sharing):
#     nice -n 10 bash scripts/mutation_test.sh [WORK_DIR]
#
# Everything happens in a scratch copy (WORK_DIR, default /tmp/gldpose-mutation): the working
# tree is never mutated. The copy puts the package under src/ (mutmut's layout) and a
# sitecustomize.py on PYTHONPATH removes the editable install's import redirect, so the tests
# import the mutated copy, not the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
WORK="${1:-/tmp/gldpose-mutation}"
CHILDREN="${MUTATION_CHILDREN:-2}"
TESTS=(tests/sdk/test_preprocess.py tests/sdk/test_crop_rules.py tests/sdk/test_manifest.py
       tests/sdk/test_decode_numpy.py tests/sdk/backends/test_backend_base.py
       tests/csrc/test_decode.py)

python -c "import importlib.util as u, sys; sys.exit(u.find_spec('mutmut') is None)" || {
    echo "mutmut is not installed: pip install \"mutmut==3.8.1\"" >&2; exit 2; }

rm -rf "$WORK"
mkdir -p "$WORK/src" "$WORK/site" "$WORK/tests/sdk/backends" "$WORK/tests/csrc"
cp -r sdk/gldpose_sdk "$WORK/src/gldpose_sdk"
find "$WORK/src" -name __pycache__ -prune -exec rm -rf {} +
# The compiled decode of the installed build, so decode.py runs as it does for users.
python - "$WORK/src/gldpose_sdk" <<'EOF'
import importlib.util, shutil, sys
spec = importlib.util.find_spec("gldpose_sdk._decode")
if spec is not None and spec.origin:
    shutil.copy2(spec.origin, sys.argv[1])
EOF
cp tests/conftest.py "$WORK/tests/"
cp tests/sdk/conftest.py "$WORK/tests/sdk/"
for t in "${TESTS[@]}"; do cp "$t" "$WORK/$t"; done

cat > "$WORK/site/sitecustomize.py" <<'EOF'
"""Drop scikit-build-core's editable redirect so that `import gldpose_sdk` finds mutants/src."""
import sys

sys.meta_path[:] = [f for f in sys.meta_path
                    if type(f).__name__ != "ScikitBuildRedirectingFinder"]
EOF

{
    echo '[tool.pytest.ini_options]'
    echo 'markers = ["gpu: needs a CUDA device", "slow: several seconds"]'
    echo ''
    echo '[tool.mutmut]'
    echo 'source_paths = ["src/gldpose_sdk"]'
    echo 'only_mutate = ["src/gldpose_sdk/preprocess.py", "src/gldpose_sdk/manifest.py",'
    echo '               "src/gldpose_sdk/decode.py", "src/gldpose_sdk/backends/base.py"]'
    printf 'pytest_add_cli_args_test_selection = ['
    printf '"%s", ' "${TESTS[@]}"
    echo ']'
    # The estimator end-to-end cases need torch and exported models, and the subnormals check
    # imports the package in a subprocess (outside mutmut's path): both run in the suite.
    echo 'pytest_add_cli_args = ["-q", "-p", "no:cacheprovider", "-k",'
    echo '                       "not hand_computed_crop and not subnormals"]'
} > "$WORK/pyproject.toml"

cd "$WORK"
export PYTHONPATH="$WORK/site" GLDPOSE_SHARED_DATA="$REPO/../shared/data"
start=$(date +%s)
mutmut run --max-children "$CHILDREN" || true
end=$(date +%s)
mutmut results > "$WORK/survivors.txt" 2>&1 || true
echo
echo "mutation run took $((end - start)) s; survivors (also in $WORK/survivors.txt):"
cat "$WORK/survivors.txt"
echo "inspect one with: (cd $WORK && PYTHONPATH=$WORK/site mutmut show NAME)"
