"""Coverage-guided fuzzing (atheris) of the parsers hostile input reaches, in process; not for CI."""  # noqa: E501

#     .venv/bin/pip install atheris==3.0.0
#     .venv/bin/python tools/fuzz.py                     # every target with its default budget
#     .venv/bin/python tools/fuzz.py --seconds-each 60 --only sse --only rules_expr
#     .venv/bin/python tools/fuzz.py --runs 20000        # at most this many inputs per target
#     .venv/bin/python tools/fuzz.py --known 'OverflowError: the repetition'   # go past a known bug
#     .venv/bin/python tools/fuzz.py --only values --reproduce INPUT_FILE   # one input, traceback
#
# Each target runs in a child process of its own (libFuzzer ends the process when done), with no
# server process: the code under test is called directly. The project's own exceptions (the
# package roots CoreError, ServerError, ClientError) are the documented answers to bad input; any
# other exception, a broken oracle (AssertionError), a 5xx from the REST handler, or one input
# running over --timeout seconds (a hang) is a crash. A target that crashes restarts on its corpus
# until its budget is spent; crashing inputs and logs are kept in --workdir. The table at the end
# gives inputs, seconds and crashes per target. The targets live in tools/fuzz_targets.py (shared
# inputs; values, rules_expr, rules_eval) and tools/fuzz_wire.py (rest_url, rest_handler, sse,
# socketio).
#
# Rates measured on the 2-core development machine, one target at a time, in inputs per second
# (with --known for the bugs already found, so that no target restarts): rest_url ~24,500,
# rest_handler ~1,600, values ~4,300, rules_expr ~830, rules_eval ~8,500, sse ~6,100, socketio
# ~3,900. The default budgets (30+60+40+75+45+30+30 = 310 s; about five and a half minutes of
# wall time) give about 1.7 million inputs in all, over the goal of one million; while those bugs
# stand, rest_handler, rules_expr and socketio stop after 20 crashes each and it is about 1.6
# million.

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # the repo (desktop_chat), and the target modules

import fuzz_targets  # noqa: E402
from fuzz_targets import Body, Expected, rules_eval, rules_expr, rules_seeds, values  # noqa: E402
from fuzz_wire import rest_handler, rest_url, socketio, sse  # noqa: E402

INSTALL = "atheris is not installed: run  .venv/bin/pip install atheris==3.0.0"
TIMEOUT = 10
"""Seconds one input may run before libFuzzer calls it a hang."""
MAX_RESTARTS = 20


# --- running ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    build: Callable[[], tuple[Body, Expected]]
    seconds: float
    """The default budget."""
    max_len: int = 4096
    seeds: Callable[[], list[bytes]] = lambda: [b""]
    """The first corpus (a function: it may import the code under test, once instrumented)."""

    @property
    def doc(self) -> str:
        return (self.build.__doc__ or "").strip()


TARGETS = {
    target.name: target
    for target in (
        Target("rest_url", rest_url, 30, seeds=lambda: [
            b"users/alan.json?orderBy=%22age%22&limitToLast=1&ns=x", b".json?shallow=true",
            b"bookings.json?orderBy=%22studentId%22&equalTo=%22alice%22&print=pretty",
            b"a/b%2Fc.json?orderBy=%22$key%22&startAt=%22b%22&limitToFirst=2&format=export",
        ]),
        Target("rest_handler", rest_handler, 60),
        Target("values", values, 40, seeds=lambda: [
            b'{"a": {".sv": "timestamp"}, "b": [1, null, {"c": 2.0}], ".priority": 1}',
            b'{".value": 5, ".priority": "p"}', b'[{".sv": {"increment": 1}}]', b'"x"',
        ]),
        Target("rules_expr", rules_expr, 75, max_len=8192, seeds=rules_seeds),
        Target("rules_eval", rules_eval, 45),
        Target("sse", sse, 30, max_len=8192, seeds=lambda: [
            b'event: put\ndata: {"path": "/", "data": {"a": 1}}\n\n',
            b'\xef\xbb\xbfevent: patch\r\ndata: {"path": "/a",\r\n'
            b'data: "data": {"b/c": 2}}\r\n\r\n',
            b"event: keep-alive\ndata: null\n\n: comment\nretry: 10\nid: 7\n\n",
            b'event: cancel\ndata: "Permission denied"\n\nevent: auth_revoked\ndata: x\n\n',
        ]),
        Target("socketio", socketio, 30),
    )
}  # fmt: skip


@dataclass(slots=True)
class Outcome:
    """What fuzzing one target gave."""

    name: str
    runs: int = 0
    known: int = 0
    """Inputs that raised an error matching --known: counted, not crashes."""
    seconds: float = 0.0
    crashes: list[str] = field(default_factory=list)
    """One entry per crash: why, and the files holding its input and its log."""


def _child(target: Target, args: argparse.Namespace) -> None:
    """Fuzz one target in this process; libFuzzer exits it at the end."""
    import atheris

    fuzz_targets.SCRATCH = args.workdir / "scratch"
    fuzz_targets.SCRATCH.mkdir(exist_ok=True)
    with atheris.instrument_imports(include=["desktop_chat"]):
        body, expected = target.build()
    count, done = args.workdir / f"{target.name}.runs", [0, 0]
    known = re.compile("|".join(args.known)) if args.known else None

    def one(data: bytes) -> None:
        done[0] += 1
        if done[0] & 0x3FF == 0:
            count.write_text(f"{done[0]} {done[1]}")
        try:
            body(data)
        except expected:
            pass
        except Exception as exc:
            if known is not None and known.search(f"{type(exc).__name__}: {exc}"):
                done[1] += 1
                return
            count.write_text(f"{done[0]} {done[1]}")
            raise

    corpus = args.workdir / "corpus" / target.name
    corpus.mkdir(parents=True, exist_ok=True)
    for index, seed in enumerate(target.seeds()):
        (corpus / f"seed-{index}").write_bytes(seed)
    options = [f"-max_total_time={max(1, round(args.seconds))}", f"-timeout={args.timeout}"]
    options += [f"-max_len={target.max_len}", f"-artifact_prefix={args.workdir}/{target.name}-"]
    options += ["-rss_limit_mb=2048", *([f"-runs={args.runs}"] if args.runs else [])]
    atheris.Setup([sys.argv[0], *options, str(corpus)], one)
    atheris.Fuzz()


_DONE = re.compile(r"^Done (\d+) runs in", re.MULTILINE)
_STAT = re.compile(r"^#(\d+)\s", re.MULTILINE)
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


def _why(log: str) -> str:
    """One line on why a child stopped early."""
    if "Uncaught Python exception" in log:
        lines = log.split("Uncaught Python exception", 1)[1].splitlines()
        return lines[1].strip()[:200] if len(lines) > 1 else "uncaught exception"
    for mark in ("Timeout", "out-of-memory", "deadly signal"):
        if mark in log:
            return mark
    return log.strip().splitlines()[-1] if log.strip() else "died without a word"


def _fuzz(target: Target, seconds: float, args: argparse.Namespace) -> Outcome:
    """Fuzz *target* for *seconds* in child processes, starting a new one after each crash."""
    outcome, start = Outcome(target.name), time.monotonic()
    count = args.workdir / f"{target.name}.runs"
    while True:
        count.unlink(missing_ok=True)
        left = start + seconds - time.monotonic()
        command = [sys.executable, __file__, "--child", target.name, "--seconds", f"{left:.1f}"]
        command += ["--workdir", str(args.workdir), "--timeout", str(args.timeout)]
        command += [f"--known={known}" for known in args.known]
        command += ["--runs", str(args.runs - outcome.runs)] if args.runs else []
        child = subprocess.run(
            command, check=False, capture_output=True, text=True, errors="replace"
        )
        shutil.rmtree(args.workdir / "scratch", ignore_errors=True)
        log = child.stdout + child.stderr
        counted = [int(n) for n in count.read_text().split()] if count.exists() else [0, 0]
        finished = _DONE.search(log)
        stats = [int(n) for n in _STAT.findall(log)]
        outcome.runs += int(finished.group(1)) if finished else max([counted[0], *stats])
        outcome.known += counted[1]
        if child.returncode == 0 and finished:
            break
        artifact = _ARTIFACT.search(log)
        log_file = args.workdir / f"{target.name}-crash-{len(outcome.crashes) + 1}.log"
        log_file.write_text(log)
        where = artifact.group(1) if artifact else "(no input saved)"
        outcome.crashes.append(f"{_why(log)}\n    input: {where}\n    log: {log_file}")
        print(f"  crash: {outcome.crashes[-1]}", flush=True)
        spent = args.runs is not None and outcome.runs >= args.runs
        if start + seconds - time.monotonic() < 2 or spent or len(outcome.crashes) >= MAX_RESTARTS:
            break
    outcome.seconds = time.monotonic() - start
    return outcome


def _table(outcomes: list[Outcome]) -> str:
    """Inputs, seconds, rate, crashes and known errors per target, and their totals."""
    rows = [["target", "inputs", "seconds", "inputs/s", "crashes", "known"]]
    total = Outcome("total", sum(o.runs for o in outcomes), sum(o.known for o in outcomes))
    total.seconds = sum(o.seconds for o in outcomes)
    total.crashes = [crash for o in outcomes for crash in o.crashes]
    for o in [*outcomes, total]:
        rate = f"{o.runs / o.seconds:,.0f}" if o.seconds else "-"
        rows.append([o.name, f"{o.runs:,}", f"{o.seconds:.1f}", rate, str(len(o.crashes))])
        rows[-1].append(f"{o.known:,}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    rule = "-" * len(lines[0])
    return "\n".join([lines[0], rule, *lines[1:-1], rule, lines[-1]])


def _reproduce(target: Target, file: Path) -> int:
    """Run one saved input through *target*, without atheris: a crash shows its traceback."""
    body, expected = target.build()
    try:
        body(file.read_bytes())
    except expected as exc:
        print(f"a documented error: {type(exc).__name__}: {exc}")
        return 0
    print("no error")
    return 0


def main(argv: list[str] | None = None) -> int:
    names = list(TARGETS)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", action="append", choices=names, help="a target (repeatable)")
    parser.add_argument("--seconds-each", type=float, help="one time budget for every target")
    parser.add_argument("--runs", type=int, help="at most this many inputs per target")
    parser.add_argument("--timeout", type=int, default=TIMEOUT, help="hang guard: s per input")
    known = "an error already reported, as a regex on 'Type: message': counted, not a crash"
    parser.add_argument("--known", action="append", default=[], metavar="REGEX", help=known)
    parser.add_argument("--workdir", type=Path, help="corpus and crashes (default: a temp dir)")
    parser.add_argument("--reproduce", type=Path, help="run this one input through --only")
    parser.add_argument("--child", choices=names, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        import atheris  # noqa: F401
    except ImportError:
        print(INSTALL, file=sys.stderr)
        return 2
    if args.reproduce is not None:
        if len(args.only or []) != 1:
            parser.error("--reproduce needs exactly one --only NAME")
        return _reproduce(TARGETS[args.only[0]], args.reproduce)
    if args.child is not None:
        _child(TARGETS[args.child], args)
        return 0
    args.workdir = args.workdir or Path(tempfile.gettempdir()) / "desktop-chat-fuzz"
    args.workdir.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for name in args.only or names:
        target = TARGETS[name]
        seconds = target.seconds if args.seconds_each is None else args.seconds_each
        print(f"{name}, {seconds:g} s: {target.doc}", flush=True)
        outcomes.append(_fuzz(target, seconds, args))
    print()
    print(_table(outcomes))
    crashes = [f"{o.name}: {crash}" for o in outcomes for crash in o.crashes]
    if crashes:
        print("\nCrashes (run one again: tools/fuzz.py --only TARGET --reproduce INPUT):")
        print("\n".join(crashes))
    print(f"\nCorpus, crash inputs and logs: {args.workdir}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
