"""Rules syntax: the rules file (JSON with comments) and expressions, parsed to an AST."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, NoReturn, TypeAlias

from desktop_chat.server.errors import ServerError

__all__ = [
    "ArrayLit",
    "Binary",
    "Call",
    "Expr",
    "Ident",
    "Literal",
    "Member",
    "RegexLit",
    "RulesError",
    "Ternary",
    "Unary",
    "load_json",
    "parse_expression",
    "strip_comments",
]


class RulesError(ServerError):
    """A rules file that cannot be understood; the message names the rule path and the reason."""


Scalar: TypeAlias = bool | int | float | str | None


@dataclass(frozen=True, slots=True)
class Literal:
    value: Scalar


@dataclass(frozen=True, slots=True)
class Ident:
    name: str  # auth, now, root, data, newData, query, or a $wildcard


@dataclass(frozen=True, slots=True)
class Member:
    obj: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Call:
    """A method call ``obj.name(args)``; rules have no free functions."""

    obj: Expr
    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "!" or "-"
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # "===" and "!==" are stored as "==" and "!=": rules equality is always strict
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Ternary:
    cond: Expr
    then: Expr
    other: Expr


@dataclass(frozen=True, slots=True)
class ArrayLit:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class RegexLit:
    """``/source/flags``; the evaluator translates and compiles it (see rules_eval)."""

    source: str
    flags: str
    pos: int


Expr: TypeAlias = Literal | Ident | Member | Call | Unary | Binary | Ternary | ArrayLit | RegexLit

_OPERATORS = (
    "===", "!==", "==", "!=", "<=", ">=", "&&", "||",
    "<", ">", "+", "-", "*", "/", "%", "!", "?", ":", "(", ")", "[", "]", ",", ".",
)  # fmt: skip
_BINDING = {
    "||": 1, "&&": 2, "==": 3, "!=": 3, "===": 3, "!==": 3,
    "<": 4, "<=": 4, ">": 4, ">=": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6,
}  # fmt: skip
_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_STRING_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
_KEYWORDS: dict[str, Scalar] = {"true": True, "false": False, "null": None}
_MAX_NESTING = 64

Token: TypeAlias = tuple[str, object, int]  # kind (num, str, name, op, regex, end), value, column


def _tokenize(text: str, fail: _Fail) -> list[Token]:
    tokens: list[Token] = []
    pos, size = 0, len(text)
    while pos < size:
        char = text[pos]
        if char.isspace():
            pos += 1
            continue
        prev = tokens[-1] if tokens else None
        operand_ended = prev is not None and (
            prev[0] in ("num", "str", "name", "regex") or prev[1] in (")", "]")
        )
        number = _NUMBER.match(text, pos) if char.isdigit() or char == "." else None
        if number and (char != "." or not operand_ended):
            raw = number.group()
            if pos + len(raw) < size and _NAME.match(text, pos + len(raw)):
                fail(f"bad number {raw}{text[pos + len(raw)]}", pos)
            value = float(raw) if any(c in raw for c in ".eE") else int(raw)
            tokens.append(("num", value, pos))
            pos += len(raw)
        elif char in "'\"":
            string, end = _scan_string(text, pos, fail)
            tokens.append(("str", string, pos))
            pos = end
        elif name := _NAME.match(text, pos):
            tokens.append(("name", name.group(), pos))
            pos = name.end()
        elif char == "/" and not operand_ended:
            source, flags, end = _scan_regex(text, pos, fail)
            tokens.append(("regex", RegexLit(source, flags, pos), pos))
            pos = end
        else:
            for op in _OPERATORS:
                if text.startswith(op, pos):
                    tokens.append(("op", op, pos))
                    pos += len(op)
                    break
            else:
                hint = " (assignment is not allowed; use ===)" if char == "=" else ""
                fail(f"unexpected character {char!r}{hint}", pos)
    tokens.append(("end", None, size))
    return tokens


def _scan_string(text: str, pos: int, fail: _Fail) -> tuple[str, int]:
    quote, start, out = text[pos], pos, list[str]()
    pos += 1
    while pos < len(text):
        char = text[pos]
        if char == quote:  # \ud83d\ude00 pairs become one character, as in JavaScript
            text16 = "".join(out).encode("utf-16-le", "surrogatepass")
            return text16.decode("utf-16-le", "surrogatepass"), pos + 1
        if char == "\\":
            pos += 1
            if pos >= len(text):
                break
            esc = text[pos]
            if esc in "ux":
                digits = 4 if esc == "u" else 2
                code = text[pos + 1 : pos + 1 + digits]
                if len(code) != digits or not all(c in "0123456789abcdefABCDEF" for c in code):
                    fail(f"bad \\{esc} escape in string", pos - 1)
                out.append(chr(int(code, 16)))
                pos += digits
            else:
                out.append(_STRING_ESCAPES.get(esc, esc))
        else:
            out.append(char)
        pos += 1
    fail("unterminated string", start)


def _scan_regex(text: str, pos: int, fail: _Fail) -> tuple[str, str, int]:
    start, pos, in_class = pos, pos + 1, False
    while pos < len(text):
        char = text[pos]
        if char == "\\":
            pos += 2
            continue
        if char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "/" and not in_class:
            flags = _NAME.match(text, pos + 1)
            end = flags.end() if flags else pos + 1
            return text[start + 1 : pos], text[pos + 1 : end], end
        elif char == "\n":
            break
        pos += 1
    fail("unterminated regular expression", start)


class _Fail:
    """Raises RulesError for the rule at *where*, quoting the position in *text*."""

    def __init__(self, where: str, text: str) -> None:
        self.where, self.text = where, text

    def __call__(self, reason: str, pos: int) -> NoReturn:
        raise RulesError(f"{self.where}: {reason} at column {pos + 1} of {self.text!r}")


class _Parser:
    def __init__(self, tokens: list[Token], fail: _Fail) -> None:
        self.tokens, self.fail, self.index, self.depth = tokens, fail, 0, 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def is_op(self, op: str) -> bool:
        kind, value, _ = self.tokens[self.index]
        return kind == "op" and value == op

    def expect(self, op: str) -> None:
        if not self.is_op(op):
            self.unexpected(f"expected {op!r}")
        self.index += 1

    def unexpected(self, reason: str = "unexpected") -> NoReturn:
        kind, value, pos = self.peek()
        shown = "end of expression" if kind == "end" else repr(value)
        self.fail(f"{reason}, found {shown}", pos)

    def expression(self) -> Expr:
        self.depth += 1
        if self.depth > _MAX_NESTING:
            self.fail("expression nested too deeply", self.peek()[2])
        cond = self.binary(1)
        if self.is_op("?"):
            self.index += 1
            then = self.expression()
            self.expect(":")
            cond = Ternary(cond, then, self.expression())
        self.depth -= 1
        return cond

    def binary(self, min_power: int) -> Expr:
        left = self.unary()
        while True:
            kind, op, _ = self.peek()
            power = _BINDING.get(op) if kind == "op" and isinstance(op, str) else None
            if power is None or power < min_power:
                return left
            self.index += 1
            right = self.binary(power + 1)
            left = Binary({"===": "==", "!==": "!="}.get(str(op), str(op)), left, right)

    def unary(self) -> Expr:
        if self.is_op("!") or self.is_op("-"):
            op = str(self.take()[1])
            self.depth += 1
            if self.depth > _MAX_NESTING:
                self.fail("expression nested too deeply", self.peek()[2])
            operand = self.unary()
            self.depth -= 1
            return Unary(op, operand)
        return self.postfix(self.primary())

    def postfix(self, expr: Expr) -> Expr:
        while True:
            if self.is_op("."):
                self.index += 1
                kind, name, pos = self.take()
                if kind != "name" or not isinstance(name, str) or name.startswith("$"):
                    self.fail("expected a property or method name after '.'", pos)
                if self.is_op("("):
                    self.index += 1
                    expr = Call(expr, name, self.arguments())
                else:
                    expr = Member(expr, name)
            elif self.is_op("("):
                self.unexpected("only methods can be called (as value.method(...))")
            elif self.is_op("["):
                self.unexpected("indexing with [] is not supported; use .child() or .name")
            else:
                return expr

    def arguments(self) -> tuple[Expr, ...]:
        args: list[Expr] = []
        while not self.is_op(")"):
            args.append(self.expression())
            if not self.is_op(")"):
                self.expect(",")
        self.index += 1
        return tuple(args)

    def primary(self) -> Expr:
        kind, value, _ = self.take()
        if kind in ("num", "str") and isinstance(value, int | float | str):
            return Literal(value)
        if kind == "regex" and isinstance(value, RegexLit):
            return value
        if kind == "name" and isinstance(value, str):
            return Literal(_KEYWORDS[value]) if value in _KEYWORDS else Ident(value)
        if kind == "op" and value == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if kind == "op" and value == "[":
            items: list[Expr] = []
            while not self.is_op("]"):
                items.append(self.expression())
                if not self.is_op("]"):
                    self.expect(",")
            self.index += 1
            return ArrayLit(tuple(items))
        self.index -= 1
        self.unexpected("expected a value")


_COMMENT_OR_STRING = re.compile(r'"(?:[^"\\]|\\[\s\S])*"|//[^\n]*|/\*[\s\S]*?(?:\*/|\Z)')


def strip_comments(text: str) -> str:
    """*text* without ``//`` and ``/* */`` comments outside JSON strings (lines kept)."""

    def blank(match: re.Match[str]) -> str:
        found = match.group()
        if found[0] == '"':
            return found
        if found.startswith("/*") and (len(found) < 4 or not found.endswith("*/")):
            line = text.count("\n", 0, match.start()) + 1
            raise RulesError(f"rules file: unterminated /* comment starting on line {line}")
        return re.sub(r"[^\n]", " ", found)

    return _COMMENT_OR_STRING.sub(blank, text)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise RulesError(f"rules file: key {key!r} appears twice in one object")
        out[key] = value
    return out


def load_json(text: str) -> Any:
    """Parse a rules file: JSON with ``//`` and ``/* */`` comments and, as Firebase allows,
    line breaks inside strings (expressions over several lines); no duplicate keys."""
    try:
        return json.loads(strip_comments(text), object_pairs_hook=_no_duplicates, strict=False)
    except json.JSONDecodeError as exc:
        raise RulesError(
            f"rules file: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def parse_expression(text: str, where: str) -> Expr:
    """Parse one rule expression; raise RulesError naming *where* (the rule's path) if invalid."""
    fail = _Fail(where, text)
    parser = _Parser(_tokenize(text, fail), fail)
    if parser.peek()[0] == "end":
        fail("empty expression", 0)
    expr = parser.expression()
    if parser.peek()[0] != "end":
        parser.unexpected("expected an operator or the end")
    return expr
