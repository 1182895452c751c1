#!/usr/bin/env bash
# The core tests against an AddressSanitizer + UndefinedBehaviorSanitizer build of pyrnn._core.
#
#   tests/sanitize.sh                 # build into a temporary directory, run, clean up
#   PYRNN_ASAN_BUILD=/tmp/bld-asan tests/sanitize.sh   # reuse (and keep) a build directory
#
# Fails on any ASan error (out-of-bounds, use-after-free, ...), any UBSan report, and any leak
# whose allocation stack passes through pyrnn's code. CPython and NumPy leak by design at exit
# (interned objects, static caches); LeakSanitizer reports them too, so every leak report is
# kept in a log and only the ones with a frame in pyrnn's extension count.
# Needs: a C++17 compiler with libasan/libubsan (gcc), cmake, ninja, pybind11 (pip installs the
# last three when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
PY=${PYTHON:-python3}

for tool in cmake ninja; do
  command -v "$tool" >/dev/null || "$PY" -m pip install -q "$tool"
done
"$PY" -c "import pybind11" 2>/dev/null || "$PY" -m pip install -q pybind11

WORK=$(mktemp -d /tmp/pyrnn-sanitize.XXXXXX)
BUILD=${PYRNN_ASAN_BUILD:-$WORK/build}
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

echo "== sanitizer build in $BUILD"
cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYRNN_SANITIZE=ON \
  -Dpybind11_DIR="$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
  -DPython_EXECUTABLE="$(command -v "$PY")" >/dev/null
cmake --build "$BUILD"

# The package from the source tree with the sanitized extension (the tree's own build, if any,
# is left alone), and a `torch` that cannot be imported: PyTorch under ASan is slow and noisy,
# and its parity tests are not what this step checks (they skip).
PKG=$WORK/pkg
mkdir -p "$PKG/pyrnn" "$PKG/torch"
for f in "$SRC"/src/pyrnn/*; do
  case "$(basename "$f")" in _core*.so|__pycache__) ;; *) cp -r "$f" "$PKG/pyrnn/" ;; esac
done
cp "$BUILD"/_core*.so "$PKG/pyrnn/"
echo 'raise ModuleNotFoundError("torch is disabled under the sanitizers")' > "$PKG/torch/__init__.py"

LOGS=$WORK/logs
mkdir -p "$LOGS"
# Python itself is not instrumented: the ASan runtime must be loaded first. PYTHONMALLOC=malloc
# routes every Python allocation through malloc, so that LeakSanitizer sees (and scans) them.
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export PYTHONMALLOC=malloc
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:log_path=$LOGS/asan:abort_on_error=0:halt_on_error=1"
export LSAN_OPTIONS="exitcode=0:max_leaks=0:report_objects=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$LOGS/ubsan"
export PYTHONPATH="$PKG"
export PYRNN_HYPOTHESIS_EXAMPLES=${PYRNN_HYPOTHESIS_EXAMPLES:-25}

echo "== core tests under ASan + UBSan"
# --capture=sys: reports written by the sanitizers to file descriptor 2 reach the log even when
# they end the process (pytest's default fd capture would swallow them).
status=0
(cd "$WORK" && "$PY" -m pytest -q -p no:cacheprovider -p no:benchmark -x --capture=sys \
  "$SRC/tests/test_core.py" "$SRC/tests/test_lengths.py" "$SRC/tests/test_cells.py" \
  "$SRC/tests/test_projection.py" "$SRC/tests/test_hardening.py" "$SRC/tests/test_property.py" \
  "$SRC/tests/test_microkernels.py" "$SRC/tests/test_scratch_sizes.py" "$SRC/tests/test_recurrent_dropout.py" \
  "$SRC/tests/test_quant.py" "$SRC/tests/test_quant_models.py") \
  2>&1 | tee "$LOGS/pytest.log" || status=$?  # (pipefail: pytest's status)
unset LD_PRELOAD

"$PY" - "$LOGS" <<'EOF' || status=1
# Sort the sanitizer logs: errors fail; leaks fail only when pyrnn's code is on the stack.
import pathlib, re, sys
ours = re.compile(r"_core\.cpython|pyrnn::|/csrc/|bindings\.cpp")
errors, our_leaks, other_leaks = [], [], 0
for log in sorted(pathlib.Path(sys.argv[1]).glob("*")):
    text = log.read_text(errors="replace")
    if "ERROR: AddressSanitizer" in text or "runtime error:" in text:
        errors.append((log.name, text))
    for block in re.split(r"\n(?=(?:Direct|Indirect) leak of )", text):
        if re.match(r"(Direct|Indirect) leak of ", block):
            if ours.search(block):
                our_leaks.append((log.name, block))
            else:
                other_leaks += 1
print(f"sanitizer logs: {len(errors)} error report(s), {len(our_leaks)} leak(s) through pyrnn, "
      f"{other_leaks} leak(s) of CPython/NumPy alone (ignored)")
for name, text in errors[:3] + our_leaks[:10]:
    print(f"--- {name}\n{text[:4000]}")
sys.exit(1 if errors or our_leaks else 0)
EOF
exit $status
