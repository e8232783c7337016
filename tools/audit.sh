#!/usr/bin/env bash
# Audit the locked dependencies (constraints.txt) for known vulnerabilities with pip-audit.
# Usage: tools/audit.sh
# Exit: 0 when no vulnerability is found that docs/audit-exceptions.md does not accept, or
#       when the vulnerability service cannot be reached (one line "pip-audit: not checked
#       (...)": nothing was checked, so nothing is said to have passed);
#       1 when a vulnerability is found that is not accepted there; 2 when the audit itself
#       fails for another reason (a bad lock line, a pip-audit crash).
# Env: AUDIT_SERVICE=pypi|osv (pip-audit's -s; default pypi), AUDIT_TIMEOUT=seconds the whole
#      pip-audit run may take (default 60), PYTHON=python3 for the throwaway venv,
#      PIP_AUDIT=path of a pip-audit to use instead.
# pip-audit comes from .venv if it is installed there, else from build/audit-venv (made here
# on first use, never inside .venv: it is a tool, not a dependency of the lock).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LOCK=constraints.txt
EXCEPTIONS=docs/audit-exceptions.md
SERVICE="${AUDIT_SERVICE:-pypi}"
TOTAL_TIMEOUT="${AUDIT_TIMEOUT:-60}"
SOCKET_TIMEOUT=10
AUDIT_VENV=build/audit-venv
WORK=build/audit
export PIP_DISABLE_PIP_VERSION_CHECK=1

not_checked() {
    echo "pip-audit: not checked ($*)"
    exit 0
}

# A command under a time limit where coreutils' timeout exists (Linux); as is elsewhere.
limited() {
    local seconds=$1
    shift
    if command -v timeout >/dev/null 2>&1; then
        timeout --kill-after=5 "$seconds" "$@"
    else
        "$@"
    fi
}

mkdir -p "$WORK"

# pip-audit: .venv's, else the throwaway venv's (made now if missing or broken).
if [[ -n "${PIP_AUDIT:-}" ]]; then
    AUDIT=("$PIP_AUDIT")
    HELPER_PY=.venv/bin/python
elif [[ -x .venv/bin/pip-audit ]]; then
    AUDIT=(.venv/bin/pip-audit)
    HELPER_PY=.venv/bin/python
else
    if ! "$AUDIT_VENV/bin/pip-audit" --version >/dev/null 2>&1; then
        PYTHON="${PYTHON:-python3}"
        rm -rf "$AUDIT_VENV"
        if ! "$PYTHON" -m venv "$AUDIT_VENV" >"$WORK/install.log" 2>&1; then
            not_checked "cannot make a venv for pip-audit with $PYTHON: see $WORK/install.log"
        fi
        if ! limited 180 "$AUDIT_VENV/bin/python" -m pip install --timeout 20 --quiet \
            pip-audit >>"$WORK/install.log" 2>&1; then
            rm -rf "$AUDIT_VENV"
            not_checked "cannot install pip-audit from the package index: see $WORK/install.log"
        fi
    fi
    AUDIT=("$AUDIT_VENV/bin/pip-audit")
    HELPER_PY="$AUDIT_VENV/bin/python"
fi

# The lock as pip-audit --no-deps --disable-pip takes it: name==version only. Comments,
# options (--hash, -c ...) and environment markers go: every pin is audited, whichever
# Python or platform it applies to (the Qt pins say python_version < "3.12").
REQUIREMENTS="$WORK/requirements.txt"
if ! "$HELPER_PY" - "$LOCK" "$REQUIREMENTS" >"$WORK/lock.log" 2>&1 <<'PY'; then
import re
import sys

source, target = sys.argv[1], sys.argv[2]
pin = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)")
pins, bad = [], []
text = open(source, encoding="utf-8").read().replace("\\\n", " ")
for number, raw in enumerate(text.splitlines(), 1):
    line = raw.split(" #", 1)[0].strip()
    if not line or line.startswith("#"):
        continue
    line = re.sub(r"\s--hash[= ]\S+", "", line).split(";", 1)[0].strip()
    if line.startswith("-"):
        continue  # an option line (-c, --index-url ...): nothing to audit
    match = pin.fullmatch(line)
    if match is None:
        bad.append(f"{source}:{number}: {raw.strip()}")
    else:
        pins.append(f"{match[1]}=={match[2]}")
if bad:
    print("not a name==version pin:", *bad, sep="\n  ")
    sys.exit(1)
with open(target, "w", encoding="utf-8") as out:
    out.write("".join(f"{p}\n" for p in pins))
PY
    echo "pip-audit: error: $LOCK has lines that are not name==version pins:" >&2
    cat "$WORK/lock.log" >&2
    exit 2
fi

# The audit. Its JSON goes to a file; its chatter to a log read only to explain a failure.
RESULT="$WORK/result.json"
LOG="$WORK/pip-audit.log"
rm -f "$RESULT"
rc=0
limited "$TOTAL_TIMEOUT" "${AUDIT[@]}" --no-deps --disable-pip -r "$REQUIREMENTS" \
    --vulnerability-service "$SERVICE" --timeout "$SOCKET_TIMEOUT" --progress-spinner off \
    --cache-dir "$WORK/cache" --format json --output "$RESULT" >"$LOG" 2>&1 || rc=$?

if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    not_checked "the $SERVICE vulnerability service gave no answer within ${TOTAL_TIMEOUT} s"
fi
if [[ ! -s "$RESULT" ]]; then
    unreachable='ConnectionError|ConnectTimeout|ReadTimeout|Timeout|timed out|NameResolution'
    unreachable+='|resolve|Max retries|unreachable|refused|ProxyError|SSLError|ServiceError'
    unreachable+='|HTTPError|Could not connect|blocking this service'
    if grep -q -E "$unreachable" "$LOG"; then
        # the last such line, without addresses (the log in $LOG has them all)
        why=$(grep -E "$unreachable" "$LOG" | tail -n 1 |
            sed -E "s/host='[^']*'/host=.../g; s#[a-z]+://[^ )'\"]*#...#g" | cut -c 1-160)
        not_checked "the $SERVICE vulnerability service cannot be reached: $why"
    fi
    echo "pip-audit: error: pip-audit exited $rc without a result; its output:" >&2
    tail -n 20 "$LOG" >&2
    exit 2
fi

# Findings, less those accepted in the exceptions file.
"$HELPER_PY" - "$RESULT" "$EXCEPTIONS" "$SERVICE" <<'PY'
import json
import re
import sys

result_file, exceptions_file, service = sys.argv[1], sys.argv[2], sys.argv[3]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


entry = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*) ([A-Z][A-Z0-9]*-[A-Za-z0-9._-]+): (\S.*)")
accepted: dict[tuple[str, str], str] = {}
try:
    with open(exceptions_file, encoding="utf-8") as handle:
        for line in handle:
            match = entry.fullmatch(line.rstrip("\n"))
            if match:
                accepted[(canonical(match[1]), match[2].upper())] = match[3].strip()
except FileNotFoundError:
    pass

with open(result_file, encoding="utf-8") as handle:
    dependencies = json.load(handle)["dependencies"]
audited = [d for d in dependencies if "skip_reason" not in d]
skipped = [d for d in dependencies if "skip_reason" in d]
if not audited:
    print(
        f"pip-audit: not checked (the {service} vulnerability service has no record of any "
        f"of the {len(dependencies)} locked packages, {skipped[0]['name']} included: "
        "probably a mirror without the vulnerability feed)"
        if skipped
        else "pip-audit: not checked (no locked package was audited)"
    )
    sys.exit(0)

failing = excepted = 0
for dependency in audited:
    for vuln in dependency.get("vulns", []):
        ids = [vuln["id"], *vuln.get("aliases", [])]
        reason = next(
            (
                accepted[(canonical(dependency["name"]), i.upper())]
                for i in ids
                if (canonical(dependency["name"]), i.upper()) in accepted
            ),
            None,
        )
        fixes = ", ".join(vuln.get("fix_versions", [])) or "none yet"
        aliases = f" ({', '.join(vuln['aliases'])})" if vuln.get("aliases") else ""
        line = f"{dependency['name']} {dependency['version']}: {vuln['id']}{aliases}, fixed in {fixes}"
        if reason is None:
            failing += 1
            print(f"VULNERABLE {line}")
        else:
            excepted += 1
            print(f"accepted   {line}: {reason}")
if skipped:
    names = ", ".join(sorted(d["name"] for d in skipped))
    print(f"pip-audit: not audited, unknown to the {service} service: {names}")
if failing:
    print(
        f"pip-audit: {failing} known vulnerabilities in {len(audited)} locked packages are not "
        f"accepted in {exceptions_file}"
    )
    sys.exit(1)
accepted_note = f" ({excepted} accepted in {exceptions_file})" if excepted else ""
print(f"pip-audit: no known vulnerabilities in {len(audited)} locked packages{accepted_note}")
PY
