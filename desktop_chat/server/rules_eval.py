"""Rule evaluation: compiling expressions to closures, with the rules' operators and types."""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Callable
from typing import Any, TypeAlias

from desktop_chat.core.paths import Path, join
from desktop_chat.server.errors import PageFaultError
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
from desktop_chat.server.rules_values import (
    NUM,
    SNAPSHOT_METHODS,
    EvalError,
    Snapshot,
    translate_regex,
    type_name,
    utf16_len,
)

__all__ = [
    "READ_VARIABLES",
    "WRITE_VARIABLES",
    "Ctx",
    "Fn",
    "Rule",
    "allow",
    "compile_closures",
    "deny",
    "index_error_message",
]

log = logging.getLogger("desktop_chat.server.rules")

READ_VARIABLES = frozenset({"auth", "now", "root", "data", "query"})
WRITE_VARIABLES = frozenset({"auth", "now", "root", "data", "newData"})


class Ctx:
    """The variables one rule sees. ``bindings`` maps ``$wildcard`` names to path keys."""

    __slots__ = ("auth", "bindings", "data", "errors", "new_data", "now", "query", "root")

    def __init__(
        self,
        auth: dict[str, Any] | None,
        now: int,
        root: Snapshot,
        data: Snapshot,
        new_data: Snapshot | None,
        query: dict[str, Any] | None,
        bindings: dict[str, str],
        errors: list[str] | None,
    ) -> None:
        self.auth, self.now, self.root, self.data = auth, now, root, data
        self.new_data, self.query, self.bindings, self.errors = new_data, query, bindings, errors


Rule: TypeAlias = Callable[[Ctx], bool]
Fn: TypeAlias = Callable[[Ctx], Any]


def index_error_message(path: Path, order_by: str) -> str:
    """Firebase's error for a query ordered by an unindexed child (``.value`` for $value)."""
    child = ".value" if order_by == "$value" else "/".join(k for k in order_by.split("/") if k)
    return f'Index not defined, add ".indexOn": "{child}", for path "{join(path)}", to the rules'


def _str_arg(method: str, value: Any) -> str:
    if type(value) is not str:
        raise EvalError(f"{method}() takes a string, not {type_name(value)}")
    return value


_STRING_METHODS: dict[str, tuple[tuple[int, ...], Callable[..., Any]]] = {
    "contains": ((1,), lambda s, sub: _str_arg("contains", sub) in s),
    "beginsWith": ((1,), lambda s, sub: s.startswith(_str_arg("beginsWith", sub))),
    "endsWith": ((1,), lambda s, sub: s.endswith(_str_arg("endsWith", sub))),
    "toLowerCase": ((0,), str.lower),
    "toUpperCase": ((0,), str.upper),
    "replace": ((2,), lambda s, a, b: s.replace(_str_arg("replace", a), _str_arg("replace", b))),
    "matches": ((1,), lambda s, pattern: pattern.search(s) is not None),
}


def _equal(a: Any, b: Any) -> bool:
    kind_a, kind_b = type(a), type(b)
    if kind_a is Snapshot or kind_b is Snapshot or kind_a is re.Pattern or kind_b is re.Pattern:
        raise EvalError(f"cannot compare {type_name(a)} with {type_name(b)} (use .val())")
    if kind_a is kind_b or (kind_a in NUM and kind_b in NUM):
        return bool(a == b)
    return False


def _order(op: Callable[[Any, Any], bool], symbol: str) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if type(a) in NUM and type(b) in NUM:
            return op(a, b)
        if type(a) is str and type(b) is str:
            if a.isascii() and b.isascii():
                return op(a, b)
            units = "utf-16-be", "surrogatepass"  # JavaScript's order: by UTF-16 code units
            return op(a.encode(*units), b.encode(*units))
        raise EvalError(f"cannot compare {type_name(a)} {symbol} {type_name(b)}")

    return compare


def _add(a: Any, b: Any) -> Any:
    if (type(a) in NUM and type(b) in NUM) or (type(a) is str and type(b) is str):
        return a + b
    raise EvalError(f"cannot add {type_name(a)} and {type_name(b)}")


def _numeric(op: Callable[[Any, Any], Any], symbol: str) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if type(a) not in NUM or type(b) not in NUM:
            raise EvalError(f"cannot compute {type_name(a)} {symbol} {type_name(b)}")
        if symbol in "/%" and b == 0:
            raise EvalError(f"division by zero in {symbol}")
        return op(a, b)

    return apply


def _js_mod(a: Any, b: Any) -> Any:
    rest = abs(a) % abs(b)  # JavaScript: the result takes the sign of the dividend
    return -rest if a < 0 else rest


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "==": _equal,
    "!=": lambda a, b: not _equal(a, b),
    "<": _order(operator.lt, "<"),
    "<=": _order(operator.le, "<="),
    ">": _order(operator.gt, ">"),
    ">=": _order(operator.ge, ">="),
    "+": _add,
    "-": _numeric(operator.sub, "-"),
    "*": _numeric(operator.mul, "*"),
    "/": _numeric(operator.truediv, "/"),
    "%": _numeric(_js_mod, "%"),
}


class _Compiler:
    """Turns an AST into nested closures, checking variables and methods at load time."""

    def __init__(self, where: str, variables: frozenset[str]) -> None:
        self.where, self.variables = where, variables

    def fail(self, reason: str) -> RulesError:
        return RulesError(f"{self.where}: {reason}")

    def compile(self, expr: Expr) -> Fn:
        if isinstance(expr, Literal):
            value = expr.value
            return lambda c: value
        if isinstance(expr, Ident):
            return self.variable(expr.name)
        if isinstance(expr, Member):
            return self.member(self.compile(expr.obj), expr.name)
        if isinstance(expr, Call):
            return self.call(expr)
        if isinstance(expr, Unary):
            return self.unary(expr.op, self.compile(expr.operand))
        if isinstance(expr, Binary):
            return self.binary(expr.op, self.compile(expr.left), self.compile(expr.right))
        if isinstance(expr, Ternary):
            return self.ternary(expr)
        if isinstance(expr, ArrayLit):
            raise self.fail("an array literal is only allowed as the argument of hasChildren()")
        raise self.fail(f"a regular expression /{expr.source}/ is only allowed in matches()")

    def variable(self, name: str) -> Fn:
        if name not in self.variables:
            if name == "newData":
                raise self.fail("newData is not available in .read rules")
            if name == "query":
                raise self.fail("query is only available in .read rules")
            if name[0] == "$":
                raise self.fail(f"unknown wildcard {name!r} (no such $location above this rule)")
            raise self.fail(f"unknown name {name!r}")
        if name[0] == "$":
            return lambda c: c.bindings[name]
        attribute = {"newData": "new_data"}.get(name, name)
        return operator.attrgetter(attribute)

    def member(self, obj: Fn, name: str) -> Fn:
        def member(c: Ctx) -> Any:
            value = obj(c)
            if type(value) is dict:
                return value.get(name)
            if type(value) is str and name == "length":
                return utf16_len(value)
            raise EvalError(f"cannot read .{name} of {type_name(value)}")

        return member

    def call(self, expr: Call) -> Fn:
        name, obj = expr.name, self.compile(expr.obj)
        table = SNAPSHOT_METHODS if name in SNAPSHOT_METHODS else _STRING_METHODS
        if name not in table:
            raise self.fail(f"unknown method {name}()")
        arities, method = table[name]
        if len(expr.args) not in arities:
            raise self.fail(f"{name}() takes {' or '.join(map(str, arities))} argument(s)")
        args = [self.argument(name, arg) for arg in expr.args]
        kind, kind_name = (Snapshot, "snapshot") if table is SNAPSHOT_METHODS else (str, "string")

        def receiver(c: Ctx) -> Any:
            value = obj(c)
            if type(value) is not kind:
                raise EvalError(f"{name}() is a {kind_name} method; got {type_name(value)}")
            return value

        if not args:
            return lambda c: method(receiver(c))
        if len(args) == 1:
            first = args[0]
            return lambda c: method(receiver(c), first(c))
        return lambda c: method(receiver(c), *[arg(c) for arg in args])

    def argument(self, method: str, arg: Expr) -> Fn:
        if method == "matches":
            if not isinstance(arg, RegexLit):
                raise self.fail("matches() takes a regular expression literal /.../")
            try:
                pattern = translate_regex(arg.source, arg.flags)
            except ValueError as exc:
                raise self.fail(
                    f"bad regular expression /{arg.source}/{arg.flags}: {exc}"
                ) from None
            return lambda c: pattern
        if method == "hasChildren":
            if not isinstance(arg, ArrayLit):
                raise self.fail("hasChildren() takes an array literal of names, like ['a', 'b']")
            items = [self.compile(item) for item in arg.items]
            return lambda c: [item(c) for item in items]
        return self.compile(arg)

    def unary(self, op: str, operand: Fn) -> Fn:
        def unary(c: Ctx) -> Any:
            value = operand(c)
            if op == "!" and type(value) is bool:
                return not value
            if op == "-" and type(value) in NUM:
                return -value
            raise EvalError(f"cannot apply {op} to {type_name(value)}")

        return unary

    def binary(self, op: str, left: Fn, right: Fn) -> Fn:
        if op in ("&&", "||"):
            stop = op == "||"  # the left value that decides without the right

            def logical(c: Ctx) -> Any:
                first = left(c)
                if type(first) is not bool:
                    raise EvalError(f"{op} needs booleans, got {type_name(first)}")
                if first is stop:
                    return stop
                second = right(c)
                if type(second) is not bool:
                    raise EvalError(f"{op} needs booleans, got {type_name(second)}")
                return second

            return logical
        apply = _BINARY[op]
        return lambda c: apply(left(c), right(c))

    def ternary(self, expr: Ternary) -> Fn:
        cond, then, other = (self.compile(e) for e in (expr.cond, expr.then, expr.other))

        def ternary(c: Ctx) -> Any:
            value = cond(c)
            if type(value) is not bool:
                raise EvalError(f"?: needs a boolean condition, got {type_name(value)}")
            return then(c) if value else other(c)

        return ternary


def allow(c: Ctx) -> bool:
    """The rule ``true``."""
    return True


def deny(c: Ctx) -> bool:
    """The rule ``false``: callers may skip building a Ctx for it."""
    return False


def _note(ctx: Ctx, where: str, reason: str) -> None:
    log.debug("rule %s denied: %s", where, reason)
    if ctx.errors is not None:
        ctx.errors.append(f"{where}: {reason}")


def compile_closures(source: object, where: str, variables: frozenset[str]) -> Rule:
    """Compile a ``.read``/``.write``/``.validate`` value (a boolean or an expression string)
    into a rule: a function of a Ctx that is True only when the expression yields ``true``.

    Evaluation errors and non-boolean results give False (and are noted in ``ctx.errors``).
    Raises RulesError naming *where* for anything that cannot be understood.
    """
    if type(source) is bool:
        return allow if source else deny
    if not isinstance(source, str):
        raise RulesError(f"{where}: expected true, false or an expression string")
    stripped = source.strip()
    if stripped in ("true", "false"):
        return compile_closures(stripped == "true", where, variables)
    fn = _Compiler(where, variables).compile(parse_expression(source, where))

    def rule(c: Ctx) -> bool:
        try:
            result = fn(c)
        except EvalError as exc:
            _note(c, where, str(exc))
            return False
        except PageFaultError:  # data on disk: the database reads it and asks again
            raise
        except Exception as exc:  # any other failure inside a rule denies too
            _note(c, where, f"{type(exc).__name__}: {exc}")
            return False
        if result is True:
            return True
        if result is not False:
            _note(c, where, f"evaluated to {type_name(result)}, not a boolean")
        return False

    return rule
