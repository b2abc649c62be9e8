"""The lean JSON client WeCom's calls go through (kit.http.JsonHttp), against real local servers:
kept connections, a connection the server dropped, threads, failures, TLS and proxies."""

import json
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from siyu.corps.services import corp_create
from siyu.kit import http as http_module
from siyu.kit.http import HttpFailure, JsonHttp
from siyu.wecom.client import WeComClient, WeComUnavailable


class Recorder(BaseHTTPRequestHandler):
    """Answers every request with what it was sent, and the connection it came on."""

    protocol_version = "HTTP/1.1"
    drop_after_answer = False  # close the connection after each answer without saying so
    say_close = False  # say `Connection: close`
    plain = False  # answer with text, not JSON

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.connections.add(self.client_address)
        self.server.requests.append((self.command, self.path, self.headers.get("Content-Type"), body))
        parts = urlsplit(self.path)
        answer = (
            b"<html>busy</html>"
            if self.plain
            else json.dumps(
                {"errcode": 0, "path": parts.path, "query": parse_qs(parts.query), "body": json.loads(body) if body else None}, ensure_ascii=False
            ).encode()
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if self.plain else "application/json")
        self.send_header("Content-Length", str(len(answer)))
        if self.say_close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer)
        if self.drop_after_answer:
            self.close_connection = True

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def serve():
    servers = []

    def start(**behaviour) -> tuple[ThreadingHTTPServer, str]:
        handler = type("Handler", (Recorder,), behaviour)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.connections, server.requests = set(), []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server, f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_calls_share_one_kept_connection_and_carry_their_query_and_body(serve):
    server, base = serve()
    http = JsonHttp()
    for i in range(20):
        answer = http.request("POST", f"{base}/cgi-bin/externalcontact/send_welcome_msg", params={"access_token": "t k", "n": i}, json_body={"text": "欢迎 你"})
        assert answer["path"] == "/cgi-bin/externalcontact/send_welcome_msg"
        assert answer["query"] == {"access_token": ["t k"], "n": [str(i)]}
        assert answer["body"] == {"text": "欢迎 你"}
    assert http.request("GET", f"{base}/cgi-bin/gettoken?corpid=ww1", params={"corpsecret": "s"})["query"] == {"corpid": ["ww1"], "corpsecret": ["s"]}
    assert len(server.connections) == 1
    assert server.requests[0][2] == "application/json" and server.requests[-1][2] is None


def test_a_connection_the_server_dropped_or_closed_is_replaced_and_the_call_goes_through(serve):
    dropping, dropping_base = serve(drop_after_answer=True)
    closing, closing_base = serve(say_close=True)
    http = JsonHttp()
    for _ in range(5):
        assert http.request("GET", f"{dropping_base}/a")["errcode"] == 0
        time.sleep(0.05)  # the server's close reaches the client before the next call
        assert http.request("GET", f"{closing_base}/b")["errcode"] == 0
    assert len(dropping.requests) == len(closing.requests) == 5
    assert len(dropping.connections) == len(closing.connections) == 5


def test_each_thread_gets_its_own_answers(serve):
    server, base = serve()
    http = JsonHttp()
    wrong = []

    def run(thread: int) -> None:
        for i in range(40):
            answer = http.request("GET", f"{base}/t", params={"who": f"{thread}-{i}"})
            if answer["query"]["who"] != [f"{thread}-{i}"]:
                wrong.append((thread, i, answer))

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong
    assert len(server.requests) == 160 and len(server.connections) == 4


def test_no_answer_is_a_failure_within_the_timeout_and_text_is_not_json(serve):
    http = JsonHttp()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nobody listens there once it is closed
    with pytest.raises(HttpFailure, match="ConnectionRefused"):
        http.request("GET", f"http://127.0.0.1:{port}/x")
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        with pytest.raises(HttpFailure, match="timed out"):
            http.request("GET", f"http://127.0.0.1:{silent.getsockname()[1]}/x", timeout=0.3)
        assert time.monotonic() - started < 2
    _, base = serve(plain=True)
    with pytest.raises(ValueError):
        http.request("GET", f"{base}/x")


def test_https_is_verified_against_trusted_roots(serve, tmp_path):
    """A server whose certificate no trusted root signed is refused, not talked to."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True,
        capture_output=True,
    )
    server, _ = serve()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with pytest.raises(HttpFailure, match="CERTIFICATE_VERIFY_FAILED"):
        JsonHttp().request("GET", f"https://127.0.0.1:{server.server_port}/x")
    assert not server.requests


def test_wecom_calls_go_through_the_lean_client_unless_a_proxy_is_named(db, serve, monkeypatch):
    server, base = serve()
    corp = corp_create(corp_id="wwlean", name="lean", secret="s", api_base=f"{base}/cgi-bin/")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("_shared", "_own", "_json"):
        monkeypatch.setattr(http_module, name, None)
    client = WeComClient(corp)
    assert client.call("GET", "gettoken", params={"corpid": "wwlean"}, authenticated=False)["query"] == {"corpid": ["wwlean"]}
    assert http_module._json is not None and http_module._shared is None  # httpx was not even built

    # Behind a proxy (named by the environment, as httpx and curl read it) the call goes through it.
    proxy, proxy_base = serve()
    monkeypatch.setenv("HTTP_PROXY", proxy_base)
    monkeypatch.setattr(http_module, "_json", None)
    answer = WeComClient(corp).call("GET", "gettoken", params={"corpid": "wwlean"}, authenticated=False)
    assert answer["errcode"] == 0
    assert [path for _, path, _, _ in proxy.requests] == [f"{base}/cgi-bin/gettoken?corpid=wwlean"]  # the proxy got the absolute URL
    assert len(server.requests) == 1

    # Unreachable: after the client's bounded retries, WeCom is unavailable (not an exception of the transport's).
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.setattr(http_module, "_json", None)
    down = corp_create(corp_id="wwleandown", name="down", secret="s", api_base="http://127.0.0.1:9/cgi-bin/")
    with pytest.raises(WeComUnavailable):
        WeComClient(down, sleep=lambda s: None).call("GET", "gettoken", authenticated=False)


@pytest.fixture
def canned():
    """A server that answers each request on a connection with the next of its canned answers
    (raw bytes), then closes the connection when they run out."""
    listeners = []

    def start(*answers: bytes) -> tuple[str, list]:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listeners.append(listener)
        received = []

        def serve_one(conn: socket.socket) -> None:
            with conn, conn.makefile("rb") as fp:
                for answer in answers:
                    head = b"".join(iter(lambda: fp.readline(), b"\r\n"))
                    length = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
                    received.append(head + b"\r\n" + (fp.read(length[0]) if length else b""))
                    conn.sendall(answer)

        def accept() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}", received

    yield start
    for listener in listeners:
        listener.close()


def test_answers_are_read_whole_whatever_their_framing(canned):
    """WeCom's answers may come chunked, after an interim 100, or (HTTP/1.0) ending with the
    connection; each is read whole, and the connection kept only when the server keeps it."""
    body = json.dumps({"errcode": 0, "name": "张三"}, ensure_ascii=False).encode()
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
    chunked += b"".join(b"%x;ext=1\r\n%s\r\n" % (len(body[i : i + 7]), body[i : i + 7]) for i in range(0, len(body), 7)) + b"0\r\nX-Trailer: t\r\n\r\n"
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    base, received = canned(chunked, interim, b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
    http = JsonHttp()
    for _ in range(3):
        assert http.request("POST", f"{base}/cgi-bin/x", params={"access_token": "t"}, json_body={"文": 1}) == {"errcode": 0, "name": "张三"}
    assert len(received) == 3  # one connection carried all three
    assert received[0].startswith(b"POST /cgi-bin/x?access_token=t HTTP/1.1\r\nHost: 127.0.0.1:") and received[0].endswith('{"文":1}'.encode())

    # HTTP/1.0 without a length: the body is what comes until the server closes.
    old, _ = canned(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + body)
    assert http.request("GET", f"{old}/y") == {"errcode": 0, "name": "张三"}
    assert http.request("GET", f"{old}/y") == {"errcode": 0, "name": "张三"}  # on a new connection: the old one ended


def test_a_cut_or_garbled_answer_is_a_failure_and_its_connection_is_not_reused(canned):
    http = JsonHttp()
    short, _ = canned(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"errcode": 0}')
    with pytest.raises(HttpFailure, match="IncompleteRead"):
        http.request("GET", f"{short}/x")
    garbled, _ = canned(b"SMTP ready\r\n\r\n")
    with pytest.raises(HttpFailure, match="BadStatusLine"):
        http.request("GET", f"{garbled}/x")
    bad_chunk, _ = canned(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    with pytest.raises(HttpFailure, match="ValueError"):
        http.request("GET", f"{bad_chunk}/x")
    silent, _ = canned()  # accepts, closes without an answer (a reset, if the request was unread)
    with pytest.raises(HttpFailure, match="RemoteDisconnected|ConnectionReset"):
        http.request("GET", f"{silent}/x")
    assert http._local.pool == {}
