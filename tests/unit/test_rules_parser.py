"""Unit tests for the rules syntax: expressions, regex literals, the rules file, load errors."""

from __future__ import annotations

import json
import re
from pathlib import Path as FsPath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_chat.core.query import Query
from desktop_chat.server.errors import ServerError
from desktop_chat.server.rules import RulesError, RuleSet
from desktop_chat.server.rules_parser import (
    ArrayLit,
    Binary,
    Call,
    Ident,
    Literal,
    Member,
    RegexLit,
    Ternary,
    Unary,
    load_json,
    parse_expression,
    strip_comments,
)
from desktop_chat.server.rules_values import translate_regex

WHERE = "/rules/conversations/$cid/.write"


def parse(text: str) -> Any:
    return parse_expression(text, WHERE)


A, B, C = Ident("auth"), Ident("data"), Ident("now")

# --- expressions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("auth || data && now", Binary("||", A, Binary("&&", B, C))),
        ("auth && data || now", Binary("||", Binary("&&", A, B), C)),
        ("auth == data && now", Binary("&&", Binary("==", A, B), C)),
        ("auth === data", Binary("==", A, B)),
        ("auth !== data", Binary("!=", A, B)),
        ("auth < data == now", Binary("==", Binary("<", A, B), C)),
        ("1 + 2 * 3", Binary("+", Literal(1), Binary("*", Literal(2), Literal(3)))),
        ("(1 + 2) * 3", Binary("*", Binary("+", Literal(1), Literal(2)), Literal(3))),
        ("1 - 2 - 3", Binary("-", Binary("-", Literal(1), Literal(2)), Literal(3))),
        ("8 / 4 % 3", Binary("%", Binary("/", Literal(8), Literal(4)), Literal(3))),
        ("!auth == data", Binary("==", Unary("!", A), B)),
        ("!!auth", Unary("!", Unary("!", A))),
        ("-now - -1", Binary("-", Unary("-", C), Unary("-", Literal(1)))),
        ("auth ? data : now", Ternary(A, B, C)),
        ("auth ? data : now ? 1 : 2", Ternary(A, B, Ternary(C, Literal(1), Literal(2)))),
        ("auth || data ? 1 : 2", Ternary(Binary("||", A, B), Literal(1), Literal(2))),
        ("auth.token.email", Member(Member(A, "token"), "email")),
        ("data.child('a').val()", Call(Call(B, "child", (Literal("a"),)), "val", ())),
        (
            "data.hasChildren(['a', \"b\"])",
            Call(B, "hasChildren", (ArrayLit((Literal("a"), Literal("b"))),)),
        ),
        ("data.hasChildren([])", Call(B, "hasChildren", (ArrayLit(()),))),
        ("$cid", Ident("$cid")),
        ("true", Literal(True)),
        ("false", Literal(False)),
        ("null", Literal(None)),
        ("  auth  ", A),
    ],
)
def test_precedence_and_shapes(text: str, tree: Any) -> None:
    assert parse(text) == tree


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12),
        ("1.5", 1.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("2E-2", 0.02),
        ("'it\\'s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'a\\nb\\tc'", "a\nb\tc"),
        ("'back\\\\slash'", "back\\slash"),
        ("'\\u00e9\\x41'", "éA"),
        ("'\\/'", "/"),
        ('"single \' inside"', "single ' inside"),
        ("'double \" inside'", 'double " inside'),
        ("''", ""),
    ],
)
def test_literals(text: str, value: object) -> None:
    assert parse(text) == Literal(value)  # type: ignore[arg-type]


def test_regex_literal_versus_division() -> None:
    expr = parse("data.val().matches(/^a\\/b[/]c$/i)")
    assert isinstance(expr, Call) and expr.name == "matches"
    regex = expr.args[0]
    assert isinstance(regex, RegexLit)
    assert (regex.source, regex.flags) == ("^a\\/b[/]c$", "i")
    assert parse("now / 2 / 3") == Binary("/", Binary("/", C, Literal(2)), Literal(3))
    assert parse("(now) / 2") == Binary("/", C, Literal(2))
    assert parse("data.numChildren() / 2") == Binary("/", Call(B, "numChildren", ()), Literal(2))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty expression"),
        ("   ", "empty expression"),
        ("'abc", "unterminated string"),
        ('"abc\\"', "unterminated string"),
        ("'\\u12'", "bad \\u escape"),
        ("auth = null", "assignment is not allowed"),
        ("auth & data", "unexpected character '&'"),
        ("auth | data", "unexpected character '|'"),
        ("auth #", "unexpected character '#'"),
        ("auth data", "expected an operator or the end"),
        ("(auth", "expected ')'"),
        ("auth ? data", "expected ':'"),
        ("data.child('a'", "expected ','"),
        ("data.", "expected a property or method name"),
        ("data.$x", "expected a property or method name"),
        ("foo()", "only methods can be called"),
        ("data.val()()", "only methods can be called"),
        ("auth['uid']", "indexing with [] is not supported"),
        ("1abc", "bad number"),
        ("data.val().matches(/abc", "unterminated regular expression"),
        ("auth +", "expected a value"),
        ("* 2", "expected a value"),
        ("+1", "expected a value"),
        ("(" * 80 + "1" + ")" * 80, "nested too deeply"),
        ("!" * 80 + "true", "nested too deeply"),
    ],
)
def test_syntax_errors_name_the_rule(text: str, reason: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse(text)
    message = str(caught.value)
    assert message.startswith(WHERE + ": ")
    assert reason in message
    assert isinstance(caught.value, ServerError)


def test_error_reports_the_column() -> None:
    with pytest.raises(RulesError, match="at column 6"):
        parse("auth # data")


# --- regular expressions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "flags", "text", "matches"),
    [
        ("^foo", "", "foobar", True),
        ("^foo", "", "afoo", False),
        ("a", "", "ba", True),
        ("^a", "", "ba", False),
        ("a$", "", "ab", False),
        ("a$", "", "ba", True),
        ("a$", "", "a\n", False),  # JavaScript's $ is the very end, unlike Python's
        ("^a*$", "", "", True),
        ("^a*$", "", "aaa", True),
        ("^a*$", "", "b", False),
        ("^a+$", "", "", False),
        ("^a?$", "", "aa", False),
        ("^........$", "", "Firebase", True),
        ("^.$", "", "\n", False),
        ("^(ab)*$", "", "abab", True),
        ("^(?:ab)+$", "", "abab", True),
        ("a|bc", "", "xbc", True),
        ("^[ABCDEF]$", "", "G", False),
        ("^[0-9A-F]+$", "", "1F", True),
        ("^[^0-9]+$", "", "abc", True),
        ("^[^0-9]+$", "", "a1", False),
        ("^\\d\\w\\s\\S\\W\\D$", "", "1a x-y", True),
        ("^\\d$", "", "٣", False),  # \d is ASCII digits only, as in JavaScript
        ("^[\\d-z]+$", "", "1-z", True),
        ("^[a-]+$", "", "a-", True),
        ("^a{2,3}$", "", "aaa", True),
        ("^a{2,3}$", "", "aaaa", False),
        ("^a{2}$", "", "aa", True),
        ("^{x}$", "", "{x}", True),
        ("^a+?$", "", "aa", True),
        ("^a??b$", "", "ab", True),
        ("[]", "", "anything", False),
        ("^[^]$", "", "\n", True),
        ("^\\.\\/\\[\\]$", "", "./[]", True),
        ("^[\\[\\]]+$", "", "[]", True),
        ("^[&&~~]+$", "", "&~", True),
        ("^a\\tb$", "", "a\tb", True),
        ("yes", "i", "YES", True),
        ("yes", "", "YES", False),
        ("^[A-Z0-9._%+-]+@[A-Z0-9.-]+\\.[A-Z]{2,4}$", "i", "me@example.com", True),
        ("^[A-Z0-9._%+-]+@[A-Z0-9.-]+\\.[A-Z]{2,4}$", "i", "not an email", False),
        (
            "^(19|20)[0-9][0-9][-\\/. ](0[1-9]|1[012])[-\\/. ](0[1-9]|[12][0-9]|3[01])$",
            "",
            "2024-02-29",
            True,
        ),
        (
            "^(19|20)[0-9][0-9][-\\/. ](0[1-9]|1[012])[-\\/. ](0[1-9]|[12][0-9]|3[01])$",
            "",
            "2024-13-01",
            False,
        ),
    ],
)
def test_regex_dialect(source: str, flags: str, text: str, matches: bool) -> None:
    assert (translate_regex(source, flags).search(text) is not None) is matches


@pytest.mark.parametrize(
    ("source", "flags", "reason"),
    [
        ("a^b", "", "^ is only allowed as the first character"),
        ("a$b", "", "$ is only allowed as the last character"),
        ("(?=a)", "", "only ( ) and (?: ) groups"),
        ("(?P<x>a)", "", "only ( ) and (?: ) groups"),
        ("(?i)a", "", "only ( ) and (?: ) groups"),
        ("a**", "", "nothing to repeat"),
        ("a++", "", "nothing to repeat"),  # possessive in Python 3.11, an error in JavaScript
        ("a{2}+", "", "nothing to repeat"),
        ("*a", "", "nothing to repeat"),
        ("\\b", "", "unsupported escape"),
        ("\\1", "", "unsupported escape"),
        ("a\\", "", "lone backslash"),
        ("[abc", "", "unterminated character class"),
        ("[z-a]", "", "range out of order"),
        ("(ab", "", "missing )"),
        ("a", "g", "unsupported flags"),
        ("a", "ii", "unsupported flags"),
    ],
)
def test_regex_errors(source: str, flags: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        translate_regex(source, flags)


# --- the rules file ---------------------------------------------------------------------------


def test_comments_are_stripped_outside_strings() -> None:
    text = """{
      // a line comment
      "rules": { /* a block
      comment */ ".read": "'http://x/*y*/' === 'http://x/*y*/'", // trailing
        "a\\"//b": {".read": true}
      }
    }"""
    stripped = strip_comments(text)
    assert stripped.count("\n") == text.count("\n")
    document = load_json(text)
    assert document == {
        "rules": {".read": "'http://x/*y*/' === 'http://x/*y*/'", 'a"//b': {".read": True}}
    }


def test_expressions_may_span_lines() -> None:
    rules = RuleSet.from_json(
        '{"rules": {"messages": {".read": "query.orderByKey &&\n'
        '                               query.limitToFirst <= 100"}}}'
    )
    query = Query(order_by="$key", limit_first=100)
    assert rules.can_read(("messages",), None, None, 0, query)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"rules": {} /* open', "unterminated /* comment starting on line 1"),
        ('{"rules": {}', "not valid JSON"),
        ('{"rules": {".read": true, ".read": false}}', "appears twice"),
        ("[]", 'expected an object {"rules": {...}}'),
        ('{"rule": {}}', 'expected an object {"rules": {...}}'),
        ('{"rules": {}, "extra": 1}', "/extra: unknown top-level key"),
    ],
)
def test_bad_files(text: str, reason: str) -> None:
    with pytest.raises(RulesError, match=re.escape(reason)):
        RuleSet.from_json(text)


def test_json_error_gives_line_and_column() -> None:
    with pytest.raises(RulesError, match=r"line 3, column"):
        RuleSet.from_json('{\n "rules": {\n ".read": tru }}')


def rules_error(rules: object) -> str:
    with pytest.raises(RulesError) as caught:
        RuleSet.from_document({"rules": rules})
    return str(caught.value)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({".reed": True}, "/rules/.reed: unknown rule type .reed"),
        ({"a": {".value": True}}, "/rules/a/.value: unknown rule type"),
        ({".read": 1}, "/rules/.read: expected true, false or an expression string"),
        ({".write": None}, "/rules/.write: expected true, false or an expression string"),
        ({"a": True}, "/rules/a: expected an object of rules, got true"),
        ([], "/rules: expected an object of rules"),
        (
            {"conversations": {"$cid": {".write": "auth.uid == "}}},
            "/rules/conversations/$cid/.write: expected a value, found end of expression",
        ),
        ({"$a": {}, "$b": {}}, "/rules/$b: a second wildcard beside $a"),
        ({"$a": {"$a": {}}}, "/rules/$a/$a: wildcard $a is already bound above"),
        ({"$a-b": {}}, "/rules/$a-b: bad wildcard name"),
        ({"a#b": {}}, "/rules/a#b: Invalid key"),
        ({"a": {".read": "$uid == auth.uid"}}, "/rules/a/.read: unknown wildcard '$uid'"),
        ({"$uid": {"x": {".read": "$uid == auth.uid"}}}, None),
        ({".read": "nope"}, "/rules/.read: unknown name 'nope'"),
        ({".read": "newData.exists()"}, "/rules/.read: newData is not available in .read"),
        ({".write": "query.orderByKey"}, "/rules/.write: query is only available in .read"),
        ({".validate": "query.limitToFirst < 5"}, "/rules/.validate: query is only available"),
        ({".read": "data.size()"}, "/rules/.read: unknown method size()"),
        ({".read": "data.val(1)"}, "/rules/.read: val() takes 0 argument(s)"),
        ({".read": "data.child()"}, "/rules/.read: child() takes 1 argument(s)"),
        ({".read": "data.hasChildren('a')"}, "hasChildren() takes an array literal"),
        ({".read": "data.hasChildren([], [])"}, "hasChildren() takes 0 or 1 argument(s)"),
        ({".read": "data.val().replace('a')"}, "replace() takes 2 argument(s)"),
        ({".read": "data.val().matches('a')"}, "matches() takes a regular expression literal"),
        ({".read": "data.val().matches(/a**/)"}, "bad regular expression /a**/: nothing"),
        ({".read": "data.val().matches(/a/g)"}, "bad regular expression /a/g: unsupported"),
        ({".read": "['a'] == ['a']"}, "an array literal is only allowed as the argument"),
        ({".read": "/a/ == 1"}, "a regular expression /a/ is only allowed in matches()"),
        ({"a": {".indexOn": 5}}, "/rules/a/.indexOn: expected a string or a list of strings"),
        ({"a": {".indexOn": ["ok", 1]}}, "/rules/a/.indexOn: expected a string or a list"),
        ({"a": {".indexOn": "a.b"}}, "/rules/a/.indexOn: bad index 'a.b'"),
        ({"a": {".indexOn": ""}}, "/rules/a/.indexOn: bad index ''"),
        ({"a": {".indexOn": "/"}}, "/rules/a/.indexOn: bad index '/'"),
    ],
)
def test_load_errors_name_the_rule_path(rules: object, message: str | None) -> None:
    if message is None:
        RuleSet.from_document({"rules": rules})  # loads fine
        return
    assert message in rules_error(rules)


def test_deep_rules_are_refused() -> None:
    rules: dict[str, Any] = {".read": True}
    for _ in range(40):
        rules = {"a": rules}
    assert "rules nested deeper than paths can go" in rules_error(rules)


def test_every_rule_expression_is_parsed_at_load() -> None:
    good = {"a": {"$b": {".read": "true", ".write": "auth != null", ".validate": "true"}}}
    RuleSet.from_document({"rules": good})
    bad = json.loads(json.dumps(good))
    bad["a"]["$b"][".validate"] = "newData.val() <"
    assert rules_error(bad).startswith("/rules/a/$b/.validate: ")


def test_from_file(tmp_path: FsPath) -> None:
    path = tmp_path / "database.rules.json"
    path.write_text('{"rules": {".read": true} // all may read\n}', encoding="utf-8")
    assert RuleSet.from_file(path).can_read(("x",), None, None, 0)
    with pytest.raises(RulesError, match="cannot read the rules file"):
        RuleSet.from_file(tmp_path / "missing.json")
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(RulesError, match="cannot read the rules file"):
        RuleSet.from_file(path)


# --- robustness -------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    ["auth", "data", "now", ".", "(", ")", "[", "]", ",", "'a'", '"b', "1", ".5", "/", "/x/i",
     "&&", "||", "!", "?", ":", "==", "===", "<", "+", "-", "*", "%", "val", "child", "\\", " "]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join) | st.text(max_size=20))
def test_any_text_parses_or_raises_rules_error(text: str) -> None:
    try:
        parse(text)
    except RulesError as exc:
        assert str(exc).startswith(WHERE + ": ")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(list("ab^$.*+?()[]{}|\\-dwsDWS0129,:=!&~/ ")), max_size=10).map(
        "".join
    ),
    st.sampled_from(["", "i"]),
)
def test_any_regex_translates_or_raises_value_error(source: str, flags: str) -> None:
    try:
        pattern = translate_regex(source, flags)  # warnings are errors here: none may escape
    except ValueError:
        return
    pattern.search("ab-12 x")
