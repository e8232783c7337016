"""Rule expressions compiled once to one generated Python function each (the fast path)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from desktop_chat.server.rules_eval import (
    Rule,
    _Compiler,
    compile_closures,
)
from desktop_chat.server.rules_parser import (
    ArrayLit,
    Binary,
    Call,
    Expr,
    Ident,
    Literal,
    Member,
    RegexLit,
    RulesError,
    Ternary,
    Unary,
    parse_expression,
)
from desktop_chat.server.rules_runtime import GLOBALS, OPS, failure, literal_keys, non_boolean
from desktop_chat.server.rules_values import (
    NUM,
    SNAPSHOT_METHODS,
    translate_regex,
)

__all__ = ["compile_rule", "generate_source"]

# Value-returning methods known to yield a boolean (or raise): no check needed around them.
_BOOL_METHODS = frozenset(
    {"exists", "hasChild", "hasChildren", "isNumber", "isString", "isBoolean"}
    | {"contains", "beginsWith", "endsWith", "matches"}
)
_VARIABLES = {"auth": "auth", "now": "now", "root": "root", "data": "data"}
_VARIABLES |= {"newData": "new_data", "query": "query"}
_STR_CALLS = {"beginsWith": "startswith", "endsWith": "endswith", "replace": "replace"}
_STR_CALLS |= {"toLowerCase": "lower", "toUpperCase": "upper", "contains": "__contains__"}
_INLINE_OPS = frozenset({"==", "!=", "<", "<=", ">", ">=", "+"})


def _key(expr: Expr) -> tuple[Any, ...]:
    """A structural key: equal for expressions that always compute the same value
    (unlike ``==`` on the nodes, it tells 1 from true and ignores regex positions)."""
    if isinstance(expr, Literal):
        return ("L", type(expr.value).__name__, expr.value)
    if isinstance(expr, Ident):
        return ("I", expr.name)
    if isinstance(expr, Member):
        return ("M", _key(expr.obj), expr.name)
    if isinstance(expr, Call):
        return ("C", _key(expr.obj), expr.name, tuple(_key(a) for a in expr.args))
    if isinstance(expr, Unary):
        return ("U", expr.op, _key(expr.operand))
    if isinstance(expr, Binary):
        return ("B", expr.op, _key(expr.left), _key(expr.right))
    if isinstance(expr, Ternary):
        return ("T", _key(expr.cond), _key(expr.then), _key(expr.other))
    if isinstance(expr, ArrayLit):
        return ("A", tuple(_key(item) for item in expr.items))
    return ("R", expr.source, expr.flags)


def _children(expr: Expr) -> tuple[Expr, ...]:
    if isinstance(expr, Member):
        return (expr.obj,)
    if isinstance(expr, Call):
        return (expr.obj, *expr.args)
    if isinstance(expr, Unary):
        return (expr.operand,)
    if isinstance(expr, Binary):
        return (expr.left, expr.right)
    if isinstance(expr, Ternary):
        return (expr.cond, expr.then, expr.other)
    if isinstance(expr, ArrayLit):
        return expr.items
    return ()


def _literal_path(arg: Expr) -> tuple[str, ...] | None:
    """The keys of a literal string ``child()`` argument that cannot fail, else None."""
    return literal_keys(arg.value) if isinstance(arg, Literal) and type(arg.value) is str else None


def _literal(value: Any) -> str | None:
    """Python source for a literal value, or None when it has none (inf)."""
    if type(value) is float and not math.isfinite(value):
        return None
    return repr(value)


class _Generator:
    """Python source for one expression. Only names and repr()'d literals from the AST go
    into the source; each value keeps the rules' strict typing through inline type checks."""

    def __init__(self, expr: Expr) -> None:
        self.constants: dict[str, Any] = {}
        self.used: set[str] = set()
        self.temps = 0
        self.memos: dict[tuple[Any, ...], str] = {}
        self.counts: Counter[tuple[Any, ...]] = Counter()
        self.keys: dict[int, tuple[Any, ...]] = {}
        self._count(expr)

    def _count(self, expr: Expr) -> tuple[Any, ...]:
        for child in _children(expr):
            self._count(child)
        key = _key(expr)
        self.keys[id(expr)] = key
        if isinstance(expr, Member | Call) or (
            isinstance(expr, Binary) and expr.op not in ("&&", "||")
        ):
            self.counts[key] += 1
        return key

    def temp(self) -> str:
        self.temps += 1
        return f"t{self.temps}"

    def constant(self, value: Any) -> str:
        name = f"_k{len(self.constants)}"
        self.constants[name] = value
        return name

    def gen(self, expr: Expr) -> tuple[str, bool]:
        """The source of *expr* and whether it always yields a boolean (when it yields)."""
        key = self.keys[id(expr)]
        if self.counts[key] < 2:
            return self.plain(expr)
        code, is_bool = self.plain(expr)
        name = self.memos.setdefault(key, f"m{len(self.memos)}")
        return f"({name} if {name} is not _U else ({name} := {code}))", is_bool

    def checked_bool(self, expr: Expr, fail: str) -> str:
        code, is_bool = self.gen(expr)
        if is_bool:
            return code
        t = self.temp()
        return f"({t} if type({t} := {code}) is bool else {fail.format(t)})"

    def plain(self, expr: Expr) -> tuple[str, bool]:
        if isinstance(expr, Literal):
            value = expr.value
            code = _literal(value)
            return (code if code is not None else self.constant(value)), type(value) is bool
        if isinstance(expr, Ident):
            if expr.name[0] == "$":
                self.used.add("b")
                return f"b[{expr.name!r}]", False
            self.used.add(_VARIABLES[expr.name])
            return f"v_{_VARIABLES[expr.name]}", False
        if isinstance(expr, Member):
            obj, t = self.gen(expr.obj)[0], self.temp()
            if expr.name == "length":
                length = f"(len({t}) if {t}.isascii() else _u16({t}))"
                return f"({length} if type({t} := {obj}) is str else _member({t}, 'length'))", False
            got = f"{t}.get({expr.name!r})"
            return f"({got} if type({t} := {obj}) is dict else _member({t}, {expr.name!r}))", False
        if isinstance(expr, Call):
            return self.call(expr)
        if isinstance(expr, Unary):
            operand = expr.operand
            if expr.op == "-" and isinstance(operand, Literal) and type(operand.value) in NUM:
                negated = -operand.value  # type: ignore[operator]
                code = _literal(negated)
                return (f"({code})" if code is not None else self.constant(negated)), False
            code, is_bool = self.gen(operand)
            if expr.op == "!" and is_bool:
                return f"(not {code})", True
            return f"_unary({expr.op!r}, {code})", expr.op == "!"
        if isinstance(expr, Binary):
            return self.binary(expr)
        if isinstance(expr, Ternary):
            cond = self.checked_bool(expr.cond, "_cond({})")
            then, then_bool = self.gen(expr.then)
            other, other_bool = self.gen(expr.other)
            return f"({then} if {cond} else {other})", then_bool and other_bool
        raise RulesError("unexpected expression")  # the closure compiler rejected it already

    def receiver(self, expr: Call) -> str:
        """The snapshot *expr* is called on, checked unless it is known to be one."""
        obj, t = self.gen(expr.obj)[0], self.temp()
        if isinstance(expr.obj, Call) and expr.obj.name in ("child", "parent"):
            return obj
        bad = f"_receiver({t}, {expr.name!r}, 'snapshot')"
        return f"({t} if type({t} := {obj}) is _Snapshot else {bad})"

    def snapshot_call(self, expr: Call) -> tuple[str, bool]:
        name, is_bool, inner = expr.name, expr.name in _BOOL_METHODS, expr.obj
        if name in ("val", "exists") and isinstance(inner, Call) and inner.name == "child":
            keys = _literal_path(inner.args[0])
            if keys is not None and self.counts[self.keys[id(inner)]] < 2:
                helper = "_child_val" if name == "val" else "_child_exists"
                return f"{helper}({self.receiver(inner)}, {keys!r})", is_bool
        if name == "hasChild" and (keys := _literal_path(expr.args[0])) is not None:
            return f"_child_exists({self.receiver(expr)}, {keys!r})", True
        recv = self.receiver(expr)
        if name == "val":
            return f"_val({recv})", False
        if name in ("isString", "isBoolean"):
            kind = "str" if name == "isString" else "bool"
            return f"(type(_leaf({recv}.node)) is {kind})", True
        args = [self.gen(arg)[0] for arg in expr.args if not isinstance(arg, ArrayLit)]
        if name in ("child", "exists"):
            return f"{recv}.{name}({', '.join(args)})", is_bool
        if name == "hasChild":
            return f"{recv}.child({args[0]}).exists()", True
        if name == "hasChildren" and expr.args:
            items = expr.args[0]
            assert isinstance(items, ArrayLit)
            paths = [_literal_path(item) for item in items.items]
            if paths and None not in paths:
                return f"_has_all({recv}, {tuple(paths)!r})", True
            args = ["[" + ", ".join(self.gen(i)[0] for i in items.items) + "]"]
        return f"_sm_{name}({', '.join([recv, *args])})", is_bool

    def call(self, expr: Call) -> tuple[str, bool]:
        name, t = expr.name, self.temp()
        is_bool = name in _BOOL_METHODS
        if name in SNAPSHOT_METHODS:
            return self.snapshot_call(expr)
        obj = self.gen(expr.obj)[0]
        recv = f"({t} if type({t} := {obj}) is str else _receiver({t}, {name!r}, 'string'))"
        if name == "matches":
            regex = expr.args[0]
            assert isinstance(regex, RegexLit)
            pattern = self.constant(translate_regex(regex.source, regex.flags))
            return f"({pattern}.search({recv}) is not None)", True
        args = []
        for arg in expr.args:
            if isinstance(arg, Literal) and type(arg.value) is str:
                args.append(repr(arg.value))
                continue
            code, a = self.gen(arg)[0], self.temp()
            args.append(f"({a} if type({a} := {code}) is str else _str_arg({a}, {name!r}))")
        return f"{recv}.{_STR_CALLS[name]}({', '.join(args)})", is_bool

    def binary(self, expr: Binary) -> tuple[str, bool]:
        op = expr.op
        if op in ("&&", "||"):
            chain: list[Expr] = []
            while isinstance(expr.left, Binary) and expr.left.op == op:
                chain.append(expr.right)
                expr = expr.left
            chain += [expr.right, expr.left]
            parts = [self.checked_bool(e, f"_not_bool({{}}, {op!r})") for e in reversed(chain)]
            return "(" + f" {'and' if op == '&&' else 'or'} ".join(parts) + ")", True
        left, right = expr.left, expr.right
        if op in _INLINE_OPS and isinstance(left, Literal) != isinstance(right, Literal):
            lit, other, lit_left = (
                (left, right, True) if isinstance(left, Literal) else (right, left, False)
            )
            assert isinstance(lit, Literal)
            code = _literal(lit.value)
            if code is not None:
                return self.with_literal(op, self.gen(other)[0], code, lit.value, lit_left)
        left_code, right_code = self.gen(left)[0], self.gen(right)[0]
        if op == "==":
            return f"_eq({left_code}, {right_code})", True
        if op == "!=":
            return f"(not _eq({left_code}, {right_code}))", True
        return f"{OPS[op]}({left_code}, {right_code})", op in ("<", "<=", ">", ">=")

    def with_literal(
        self, op: str, other: str, lit: str, value: Any, lit_left: bool
    ) -> tuple[str, bool]:
        """``other op lit`` (or ``lit op other``) with the literal's type checked inline."""
        t = self.temp()
        pair = f"{lit}, {t}" if lit_left else f"{t}, {lit}"
        fast = f"{lit} {op} {t}" if lit_left else f"{t} {op} {lit}"
        kind = "NoneType" if value is None else type(value).__name__
        direct = f"{lit}, {other}" if lit_left else f"{other}, {lit}"  # no inline check
        if op in ("==", "!="):
            slow = f"_eq({pair})" if op == "==" else f"(not _eq({pair}))"
            if value is None or type(value) is bool:
                fast = f"{t} {'is' if op == '==' else 'is not'} {lit}"
            if value is None:  # only a snapshot differs from null without being a value
                return f"({fast} if type({t} := {other}) is not _Snapshot else {slow})", True
            return f"({fast} if type({t} := {other}) is {kind} else {slow})", True
        if op == "+" and kind in ("str", "int", "float"):
            return f"({fast} if type({t} := {other}) is {kind} else _add({pair}))", False
        if op in OPS and kind in ("str", "int", "float"):
            is_bool = op != "+"
            if kind == "str":
                return f"{OPS[op]}({direct})", is_bool
            return f"({fast} if type({t} := {other}) in _NUM else {OPS[op]}({pair}))", is_bool
        return f"{OPS[op]}({direct})", op in ("<", "<=", ">", ">=")


def generate_source(expr: Expr) -> tuple[str, dict[str, Any]]:
    """The source of ``def rule(c)`` for *expr* (already checked by the closure compiler) and
    the constants it refers to. The function returns the raw value or raises."""
    gen = _Generator(expr)
    code, is_bool = gen.gen(expr)
    lines = ["def rule(c):", "    try:"]
    lines += [f"        v_{name} = c.{name}" for name in sorted(gen.used - {"b"})]
    if "b" in gen.used:
        lines.append("        b = c.bindings")
    if gen.memos:
        lines.append("        " + " = ".join(gen.memos.values()) + " = _U")
    if is_bool:
        lines += [
            f"        return {code}",
            "    except Exception as e:",
            "        return _fail(c, e)",
        ]
    else:
        lines += [f"        r = {code}", "    except Exception as e:", "        return _fail(c, e)"]
        lines += ["    if r is True:", "        return True", "    return _result(c, r)"]
    return "\n".join(lines) + "\n", gen.constants


def _generated(expr: Expr, where: str) -> Rule:
    source, constants = generate_source(expr)
    namespace = {**GLOBALS, **constants, "_fail": failure(where), "_result": non_boolean(where)}
    exec(compile(source, f"<rule {where}>", "exec"), namespace)  # AST-derived source only
    rule: Rule = namespace["rule"]
    return rule


def compile_rule(source: object, where: str, variables: frozenset[str]) -> Rule:
    """Compile a ``.read``/``.write``/``.validate`` value (a boolean or an expression string)
    into a rule: a function of a Ctx that is True only when the expression yields ``true``.

    Evaluation errors and non-boolean results give False (and are noted in ``ctx.errors``).
    Raises RulesError naming *where* for anything that cannot be understood. The expression
    is checked (and, as a fallback, compiled) by the closure compiler, then generated as one
    Python function; an expression Python cannot compile (too deep) keeps the closures.
    """
    if type(source) is bool or not isinstance(source, str) or source.strip() in ("true", "false"):
        return compile_closures(source, where, variables)
    expr = parse_expression(source, where)
    _Compiler(where, variables).compile(expr)  # checks names, methods and arities
    try:
        return _generated(expr, where)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return compile_closures(source, where, variables)
