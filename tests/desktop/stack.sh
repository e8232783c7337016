# Runs tests/desktop/harness.py SCENARIO with a tray (trayer), a fake notification service and a
# PulseAudio null sink; meant to run inside xvfb-run and dbus-run-session. Usage: stack.sh OUT SCENARIO
PY=${PYTHON:-python}
set -u
cd "$(dirname "$0")/../.."
OUT=$1; SC=$2; mkdir -p $OUT
export XDG_RUNTIME_DIR=$(mktemp -d)
trayer --expand false --widthtype pixel --width 64 --heighttype pixel --height 32 --edge top --align right >/dev/null 2>&1 &
T=$!
"$PY" tests/desktop/fake_notifications.py $OUT/notify.jsonl > $OUT/fake.log 2>&1 &
F=$!
pulseaudio -n --daemonize=yes --exit-idle-time=-1 --use-pid-file=yes -L module-native-protocol-unix -L "module-null-sink sink_name=nullsink" 2>/dev/null
sleep 1.5
PYTHONPATH=. QT_QPA_PLATFORM=xcb timeout 60 "$PY" tests/desktop/harness.py $SC $OUT &
H=$!
if [ "$SC" = sound ]; then for i in $(seq 300); do [ -f $OUT/playing ] && break; sleep 0.1; done; pactl list short sink-inputs > $OUT/inputs.txt; fi
wait $H
kill $T $F 2>/dev/null; kill "$(cat "$XDG_RUNTIME_DIR/pulse/pid")" 2>/dev/null; true

