"""Malformed requests get their Firebase error and change nothing; the paired happy paths work."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from desktop_chat.core.paths import push_id_time
from tests.support.server import OWNER, ServerProcess

SEED = {
    "users": {"alan": {"name": "Alan", "age": 41}, "grace": {"name": "Grace", "age": 85}},
    "rooms": {"r1": {"title": "Guitar", ".priority": 3}, "r2": {"title": "Piano"}},
    "counter": 5,
}
BAD_CHARS = [".", "$", "#", "[", "]", "\x01", "\x1f", "\x7f"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module (a process per test would cost a second each)."""
    process = ServerProcess(tmp_path_factory.mktemp("bad-input") / "data").start()
    assert process.request("PUT", "", SEED).status_code == 200
    yield process
    process.kill()


def snapshot(server: ServerProcess) -> Any:
    """The whole tree, priorities included."""
    response = server.request("GET", "", format="export")
    assert response.status_code == 200
    return response.json()


@contextmanager
def unchanged(server: ServerProcess) -> Iterator[None]:
    before = snapshot(server)
    yield
    assert snapshot(server) == before, "a refused request changed the tree"


def assert_error(response: requests.Response, status: int, text: str | None = None) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body, dict)
    assert list(body) == ["error"]
    assert isinstance(body["error"], str)
    assert body["error"]
    if text is not None:
        assert text in body["error"]
    return str(body["error"])


def get_with(server: ServerProcess, path: str, params: dict[str, str]) -> requests.Response:
    """A GET as the owner with arbitrary query parameters."""
    return requests.get(
        f"{server.url}/{path}.json",
        params={"ns": server.namespace, **params},
        headers=OWNER,
        timeout=30,
    )


def url_path(*keys: str) -> str:
    return "/".join(quote(key, safe="") for key in keys)


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for index in range(depth):
        value = {f"n{index}": value}
    return value


# --- keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize("char", BAD_CHARS)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "POST", "DELETE"])
def test_bad_key_in_url(srv: ServerProcess, char: str, method: str) -> None:
    body = {"x": 1} if method != "DELETE" else None
    with unchanged(srv):
        assert_error(srv.request(method, url_path("users", f"a{char}b"), body), 400)


@pytest.mark.parametrize("char", [*BAD_CHARS, "/"])
@pytest.mark.parametrize("method", ["PUT", "POST", "PATCH"])
def test_bad_key_in_body(srv: ServerProcess, char: str, method: str) -> None:
    bad = {"ok": 1, "deeper": {f"a{char}b": 1}}
    with unchanged(srv):
        assert_error(srv.request(method, "users/alan", bad), 400)
        assert_error(srv.request(method, "users/alan", {"name": "x", f"{char}": 2}), 400)


@pytest.mark.parametrize("char", [".", "$", "#", "[", "]", "\x01", "\x7f"])
def test_bad_key_as_a_patch_path(srv: ServerProcess, char: str) -> None:
    with unchanged(srv):
        assert_error(srv.request("PATCH", "users", {"alan/name": "A", f"x/a{char}b": 1}), 400)


def test_empty_patch_key(srv: ServerProcess) -> None:
    with unchanged(srv):
        assert_error(srv.request("PATCH", "users", {"": 1, "alan/age": 1}), 400)
        assert_error(srv.request("PATCH", "users", {"/": 1}), 400)


def test_key_of_769_bytes(srv: ServerProcess) -> None:
    too_long = "k" * 769
    with unchanged(srv):
        assert_error(srv.request("PUT", url_path("long", too_long), 1), 400)
        assert_error(srv.request("GET", url_path("long", too_long)), 400)
        assert_error(srv.request("PUT", "long", {too_long: 1}), 400)
        assert_error(srv.request("PATCH", "long", {too_long: 1}), 400)
        assert_error(srv.request("PUT", "long", {"é" * 385: 1}), 400)  # 385 chars, 770 bytes


def test_key_of_768_bytes_is_fine(srv: ServerProcess) -> None:
    key = "é" * 384  # 768 bytes
    assert srv.request("PUT", url_path("long768", key), 1).status_code == 200
    assert srv.request("PUT", "long768b", {key: 2}).status_code == 200
    assert srv.get(url_path("long768", key)) == 1
    assert srv.get("long768b") == {key: 2}
    assert srv.request("DELETE", "long768").status_code == 200
    assert srv.request("DELETE", "long768b").status_code == 200


# --- depth ------------------------------------------------------------------------------------


def test_path_deeper_than_32(srv: ServerProcess) -> None:
    keys = [f"d{i}" for i in range(33)]
    with unchanged(srv):
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            body = {"x": 1} if method in ("PUT", "PATCH") else None
            assert_error(srv.request(method, url_path(*keys), body), 400)


def test_value_deeper_than_32(srv: ServerProcess) -> None:
    with unchanged(srv):
        assert_error(srv.request("PUT", "deep", nested(32)), 400)  # leaf at depth 33
        assert_error(srv.request("PUT", url_path(*[f"d{i}" for i in range(20)]), nested(13)), 400)
        assert_error(srv.request("POST", "deep", nested(31)), 400)  # the push id is a level
        assert_error(srv.request("PATCH", "deep", {"a": nested(32)}), 400)


def test_patch_key_making_the_path_deeper_than_32(srv: ServerProcess) -> None:
    base = url_path(*[f"d{i}" for i in range(20)])
    key = "/".join(f"k{i}" for i in range(13))  # 20 + 13 = 33 levels
    with unchanged(srv):
        assert_error(srv.request("PATCH", base, {key: 1}), 400)


def test_post_below_a_32_deep_location(srv: ServerProcess) -> None:
    with unchanged(srv):
        assert_error(srv.request("POST", url_path(*[f"d{i}" for i in range(32)]), "x"), 400)


def test_depth_32_is_fine(srv: ServerProcess) -> None:
    keys = [f"d{i}" for i in range(32)]
    assert srv.request("PUT", url_path(*keys), "leaf").status_code == 200
    assert srv.request("PUT", "deep32", nested(31)).status_code == 200
    assert srv.get(url_path(*keys)) == "leaf"
    assert srv.request("DELETE", "d0").status_code == 200
    assert srv.request("DELETE", "deep32").status_code == 200


# --- bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"{", b"", b"{'a': 1}", b'{"a": 1,}', b"\xff\xfe", b"NaN", b"1e400", b"[1, 2", b"undefined"],
)
@pytest.mark.parametrize("method", ["PUT", "POST", "PATCH"])
def test_malformed_json(srv: ServerProcess, raw: bytes, method: str) -> None:
    with unchanged(srv):
        assert_error(srv.request(method, "users", raw=raw), 400)


@pytest.mark.parametrize(
    "server_value",
    [
        "bogus",
        "Timestamp",
        {"increment": "1"},
        {"increment": True},
        {"increment": None},
        {"increment": 1, "extra": 1},
        {"decrement": 1},
        {},
        5,
        None,
    ],
)
def test_unknown_server_value(srv: ServerProcess, server_value: Any) -> None:
    with unchanged(srv):
        assert_error(srv.request("PUT", "counter", {".sv": server_value}), 400)
        assert_error(srv.request("PATCH", "users", {"alan/age": {".sv": server_value}}), 400)
        assert_error(srv.request("POST", "log", {"t": {".sv": server_value}}), 400)


def test_server_value_beside_other_keys(srv: ServerProcess) -> None:
    with unchanged(srv):
        assert_error(srv.request("PUT", "counter", {".sv": "timestamp", "x": 1}), 400)
        assert_error(srv.request("PUT", "users/alan", {"seen": {".sv": "timestamp", "a": 1}}), 400)


def test_bad_priority_and_value_forms(srv: ServerProcess) -> None:
    with unchanged(srv):
        assert_error(srv.request("PUT", "rooms/r1", {"title": "x", ".priority": True}), 400)
        assert_error(srv.request("PUT", "rooms/r1", {"title": "x", ".priority": {"a": 1}}), 400)
        assert_error(srv.request("PUT", "rooms/r1", {".value": 1, "title": "x"}), 400)


def test_oversized_body(server_factory: type[ServerProcess], tmp_path: Path) -> None:
    small = server_factory(tmp_path / "d", extra_args=["--max-body", "1000"]).start()
    assert small.request("PUT", "", {"keep": "me"}).status_code == 200
    big = {"blob": "x" * 1500}
    with unchanged(small):
        assert_error(small.request("PUT", "a", big), 400, "exceeds")
        assert_error(small.request("POST", "a", big), 400)
        assert_error(small.request("PATCH", "a", big), 400)
        chunked = requests.put(  # no Content-Length: the server must count as it reads
            f"{small.url}/a.json",
            params={"ns": small.namespace},
            data=iter([json.dumps(big).encode()[:700], json.dumps(big).encode()[700:]]),
            headers=OWNER,
            timeout=30,
        )
        assert_error(chunked, 400)
    fits = {"blob": "x" * 900}
    assert small.request("PUT", "a", fits).status_code == 200
    assert small.get("a") == fits


# --- multi-path PATCH -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"alan": {"name": "X"}, "alan/age": 1},
        {"alan/age": 1, "alan": None},
        {"grace/name": "G", "x/y": 1, "x/y/z": 2},
        {"a/b": 1, "a/b/": 2},
        {"a": 1, "/a": 2},
    ],
)
def test_patch_with_overlapping_paths_is_atomic(srv: ServerProcess, body: dict[str, Any]) -> None:
    with unchanged(srv):
        assert_error(srv.request("PATCH", "users", body), 400)


@pytest.mark.parametrize("body", [[1, 2], 5, "text", True, None])
def test_patch_with_a_non_object_body(srv: ServerProcess, body: Any) -> None:
    with unchanged(srv):
        assert_error(srv.request("PATCH", "users", raw=json.dumps(body).encode()), 400)


def test_patch_refused_part_way_applies_nothing(srv: ServerProcess) -> None:
    with unchanged(srv):
        body = {"alan/name": "changed", "grace/name": {".sv": "nope"}, "new": 1}
        assert_error(srv.request("PATCH", "users", body), 400)
        body = {"alan/name": "changed", "grace": {"bad.key": 1}}
        assert_error(srv.request("PATCH", "users", body), 400)


def test_multi_path_patch_happy_path(srv: ServerProcess) -> None:
    srv.put("mp", {"alan": {"nick": "a", "keep": 1}, "grace": {"nick": "g"}, "gone": 1})
    body = {"alan/nick": "X", "grace/nick": "Y", "gone": None, "new": {"deep": [1]}}
    response = srv.request("PATCH", "mp", body)
    assert response.status_code == 200
    assert response.json() == body
    assert srv.get("mp") == {
        "alan": {"nick": "X", "keep": 1},
        "grace": {"nick": "Y"},
        "new": {"deep": [1]},
    }
    assert srv.request("DELETE", "mp").status_code == 200


# --- queries and GET options ------------------------------------------------------------------


def test_get_with_if_match(srv: ServerProcess) -> None:
    tag = srv.request("GET", "users", headers={"X-Firebase-ETag": "true"}).headers["ETag"]
    assert_error(srv.request("GET", "users", headers={"if-match": tag}), 400)


def test_shallow_with_a_query(srv: ServerProcess) -> None:
    assert_error(srv.request("GET", "users", shallow="true", orderBy='"$key"'), 400)
    response = srv.request("GET", "users", shallow="true", orderBy='"$key"', limitToFirst="1")
    assert_error(response, 400)


@pytest.mark.parametrize(
    "params",
    [
        {"limitToFirst": "1"},
        {"limitToLast": "1"},
        {"startAt": '"a"'},
        {"endAt": "3"},
        {"equalTo": "1"},
        {"startAfter": "1"},
        {"endBefore": "1"},
    ],
)
def test_query_without_order_by(srv: ServerProcess, params: dict[str, str]) -> None:
    assert_error(get_with(srv, "users", params), 400)


@pytest.mark.parametrize(
    "params",
    [
        {"orderBy": '"$key"', "limitToFirst": "-1"},
        {"orderBy": '"$key"', "limitToLast": "-5"},
        {"orderBy": '"$key"', "limitToFirst": "1.5"},
        {"orderBy": '"$key"', "limitToFirst": "x"},
        {"orderBy": '"$key"', "limitToFirst": "1", "limitToLast": "1"},
        {"orderBy": "$key"},  # not JSON-encoded
        {"orderBy": '"$nope"'},
        {"orderBy": '"a.b"'},
        {"orderBy": '"$key"', "startAt": "1"},  # $key bounds are strings
        {"orderBy": '"age"', "startAt": "{"},
        {"orderBy": '"age"', "startAt": '{"a": 1}'},
        {"orderBy": '"age"', "equalTo": "1", "startAt": "1"},
    ],
)
def test_bad_query_parameters(srv: ServerProcess, params: dict[str, str]) -> None:
    assert_error(get_with(srv, "users", params), 400)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "POST", "DELETE"])
def test_query_parameters_on_writes(srv: ServerProcess, method: str) -> None:
    body = {"a": 1} if method != "DELETE" else None
    with unchanged(srv):
        assert_error(srv.request(method, "users", body, orderBy='"$key"'), 400)
        assert_error(srv.request(method, "users", body, shallow="true"), 400)


def test_query_happy_path(srv: ServerProcess) -> None:
    response = srv.request("GET", "users", orderBy='"age"', limitToLast="1")
    assert response.status_code == 200
    assert response.json() == {"grace": {"name": "Grace", "age": 85}}
    response = srv.request("GET", "users", orderBy='"$key"', startAt='"b"')
    assert response.json() == {"grace": {"name": "Grace", "age": 85}}


# --- conditional requests ---------------------------------------------------------------------


def test_stale_if_match_put(srv: ServerProcess) -> None:
    srv.put("cond", {"v": 1})
    first = srv.request("GET", "cond", headers={"X-Firebase-ETag": "true"}).headers["ETag"]
    srv.put("cond", {"v": 2})
    current = srv.request("GET", "cond", headers={"X-Firebase-ETag": "true"}).headers["ETag"]
    assert current != first
    with unchanged(srv):
        response = srv.request("PUT", "cond", {"v": 3}, headers={"if-match": first})
        assert response.status_code == 412
        assert response.json() == {"v": 2}
        assert response.headers["ETag"] == current
        response = srv.request("DELETE", "cond", headers={"if-match": first})
        assert response.status_code == 412
        assert response.json() == {"v": 2}
        assert response.headers["ETag"] == current
        assert_error(srv.request("PATCH", "cond", {"v": 3}, headers={"if-match": current}), 400)
    response = srv.request("PUT", "cond", {"v": 3}, headers={"if-match": current})
    assert response.status_code == 200
    assert response.json() == {"v": 3}
    assert srv.request("DELETE", "cond").status_code == 200


def test_null_etag_on_an_empty_location(srv: ServerProcess) -> None:
    response = srv.request("GET", "nothing/here", headers={"X-Firebase-ETag": "true"})
    assert response.status_code == 200
    assert response.json() is None
    assert response.headers["ETag"] == "null_etag"
    response = srv.request("PUT", "nothing/here", "x", headers={"if-match": "null_etag"})
    assert response.status_code == 200
    with unchanged(srv):
        response = srv.request("PUT", "nothing/here", "y", headers={"if-match": "null_etag"})
        assert response.status_code == 412
        assert response.json() == "x"
        assert response.headers["ETag"] != "null_etag"
    response = srv.request("DELETE", "nothing", headers={"if-match": response.headers["ETag"]})
    assert response.status_code == 412  # the ETag was of nothing/here, not of nothing
    assert srv.request("DELETE", "nothing").status_code == 200


def test_if_none_match(srv: ServerProcess) -> None:
    tag = srv.request("GET", "users", headers={"X-Firebase-ETag": "true"}).headers["ETag"]
    response = srv.request("GET", "users", headers={"if-none-match": tag})
    assert response.status_code == 304
    assert response.content == b""
    response = srv.request("GET", "users", headers={"if-none-match": "stale"})
    assert response.status_code == 200
    assert response.headers["ETag"] == tag
    assert response.json() == SEED["users"]


def test_etag_on_writes(srv: ServerProcess) -> None:
    response = srv.request("PUT", "tagged", {"a": 1}, headers={"X-Firebase-ETag": "true"})
    assert response.status_code == 200
    tag = srv.request("GET", "tagged", headers={"X-Firebase-ETag": "true"}).headers["ETag"]
    assert response.headers["ETag"] == tag
    assert srv.request("DELETE", "tagged").status_code == 200


# --- namespace, credentials, paths ------------------------------------------------------------


def test_wrong_namespace(srv: ServerProcess) -> None:
    with unchanged(srv):
        for method in ("GET", "PUT", "DELETE"):
            response = requests.request(
                method,
                f"{srv.url}/users.json",
                params={"ns": "someone-else"},
                data=b"1" if method == "PUT" else None,
                headers=OWNER,
                timeout=30,
            )
            assert_error(response, 404)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer "}, {"Authorization": "x"}],
)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "POST", "DELETE"])
def test_no_credentials(srv: ServerProcess, headers: dict[str, str], method: str) -> None:
    with unchanged(srv):
        response = requests.request(
            method,
            f"{srv.url}/users.json",
            params={"ns": srv.namespace},
            data=b'{"a": 1}' if method in ("PUT", "PATCH", "POST") else None,
            headers=headers,
            timeout=30,
        )
        assert response.status_code == 401
        # A token that is not a valid ID token is refused as such; no token is nobody's.
        expected = "Could not parse auth token." if "wrong" in str(headers) else "Permission denied"
        assert response.json() == {"error": expected}


def test_wrong_token_in_the_query(srv: ServerProcess) -> None:
    with unchanged(srv):
        for param in ("auth", "access_token"):
            response = requests.put(
                f"{srv.url}/users.json",
                params={"ns": srv.namespace, param: "not-a-token"},
                data=b"1",
                timeout=30,
            )
            assert response.status_code == 401
            assert response.json() == {"error": "Could not parse auth token."}


@pytest.mark.parametrize("path", ["users", "users.js", "users.json/x", "", "users/.json/x"])
def test_non_json_path(srv: ServerProcess, path: str) -> None:
    with unchanged(srv):
        for method in ("GET", "PUT"):
            response = requests.request(
                method,
                f"{srv.url}/{path}",
                params={"ns": srv.namespace},
                data=b"1" if method == "PUT" else None,
                headers=OWNER,
                timeout=30,
            )
            assert_error(response, 404)


def test_unknown_method_override(srv: ServerProcess) -> None:
    with unchanged(srv):
        response = srv.request("POST", "users", {"a": 1}, headers={"X-HTTP-Method-Override": "FOO"})
        assert response.status_code in (400, 405)
        assert "error" in response.json()


# --- happy paths ------------------------------------------------------------------------------


def test_print_silent(srv: ServerProcess) -> None:
    for method, body in (("PUT", {"a": 1}), ("PATCH", {"b": 2}), ("POST", "pushed")):
        response = srv.request(method, "silent", body, print="silent")
        assert response.status_code == 204
        assert response.content == b""
    response = srv.request("GET", "silent", print="silent")
    assert response.status_code == 204
    assert response.content == b""
    stored = srv.get("silent")
    assert stored["a"] == 1
    assert stored["b"] == 2
    assert list(stored.values()).count("pushed") == 1
    assert srv.request("DELETE", "silent").status_code == 200


def test_print_pretty(srv: ServerProcess) -> None:
    response = srv.request("GET", "users", print="pretty")
    assert response.status_code == 200
    assert "\n" in response.text
    assert response.json() == SEED["users"]


def test_shallow(srv: ServerProcess) -> None:
    response = srv.request("GET", "", shallow="true")
    assert response.status_code == 200
    assert set(response.json()) >= {"users", "rooms", "counter"}
    assert all(value is True for value in response.json().values())
    assert srv.request("GET", "users", shallow="true").json() == {"alan": True, "grace": True}
    assert srv.request("GET", "counter", shallow="true").json() == 5
    assert srv.request("GET", "no/such", shallow="true").json() is None


def test_format_export(srv: ServerProcess) -> None:
    srv.put(
        "prio",
        {"a": {".value": 1, ".priority": 2}, "b": {"c": 3, ".priority": "p"}, ".priority": 1.5},
    )
    response = srv.request("GET", "prio", format="export")
    assert response.json() == {
        "a": {".value": 1, ".priority": 2},
        "b": {"c": 3, ".priority": "p"},
        ".priority": 1.5,
    }
    assert srv.get("prio") == {"a": 1, "b": {"c": 3}}
    assert srv.request("GET", "prio/a", format="export").json() == {".value": 1, ".priority": 2}
    assert srv.request("DELETE", "prio").status_code == 200


@pytest.mark.parametrize("how", ["header", "query"])
def test_method_override(srv: ServerProcess, how: str) -> None:
    def post(method: str, body: Any) -> requests.Response:
        if how == "header":
            return srv.request("POST", "ovr", body, headers={"X-HTTP-Method-Override": method})
        return requests.post(
            f"{srv.url}/ovr.json",
            params={"ns": srv.namespace, "x-http-method-override": method},
            data=None if body is None else json.dumps(body).encode(),
            headers=OWNER,
            timeout=30,
        )

    response = post("PUT", {"a": 1, "b": 2})
    assert response.status_code == 200
    assert response.json() == {"a": 1, "b": 2}
    assert srv.get("ovr") == {"a": 1, "b": 2}
    response = post("PATCH", {"b": 3, "c": 4})
    assert response.status_code == 200
    assert srv.get("ovr") == {"a": 1, "b": 3, "c": 4}
    response = post("DELETE", None)
    assert response.status_code == 200
    assert response.json() is None
    assert srv.get("ovr") is None


def test_post_push_ids(srv: ServerProcess) -> None:
    names = []
    for index in range(30):
        response = srv.request("POST", "pushes", {"n": index})
        assert response.status_code == 200
        body = response.json()
        assert list(body) == ["name"]
        names.append(body["name"])
    assert all(len(name) == 20 for name in names)
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    times = [push_id_time(name) for name in names]
    assert times == sorted(times)
    stored = srv.get("pushes")
    assert [stored[name]["n"] for name in sorted(stored)] == list(range(30))
    assert srv.request("DELETE", "pushes").status_code == 200


def test_increment_past_64_bits_is_stored_as_a_double(srv: ServerProcess) -> None:
    """Integers are not unbounded: an increment past the 64-bit range becomes a double."""
    srv.put("big", 18446744073709551615)  # 2**64 - 1
    response = srv.request("PUT", "big", {".sv": {"increment": 1}})
    assert response.status_code == 200, response.text
    assert response.json() == pytest.approx(2.0**64)
    assert srv.get("big") == pytest.approx(2.0**64)
    srv.put("big", -9223372036854775808)  # -2**63
    response = srv.request("PATCH", "", {"big": {".sv": {"increment": -1}}})
    assert response.status_code == 200, response.text
    assert srv.get("big") == pytest.approx(-(2.0**63))
    assert srv.request("DELETE", "big").status_code == 200


def test_the_server_still_works_after_all_that(srv: ServerProcess) -> None:
    assert srv.put("after", {"ok": True}) == {"ok": True}
    assert srv.get("after") == {"ok": True}
    assert srv.get("users") == SEED["users"]
    srv.restart()
    tree = snapshot(srv)
    assert tree["users"] == SEED["users"]
    assert tree["rooms"] == SEED["rooms"]
    assert tree["after"] == {"ok": True}
