"""docs/production.md as an operator copies it: its setting names exist, its
environment file reads alike in systemd and a shell, and its nginx block runs in a
real nginx in front of two app nodes on loopback (skipped where nginx is missing)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import fields
from pathlib import Path

import httpx
import pytest
from liveserver import free_port, live_server, wait_for
from werkzeug.wrappers import Request, Response

from replik.server.auth import make_hash
from replik.settings import ENVIRONMENT_ONLY, Settings, setting_name

IN_CI = os.environ.get("CI", "").lower() == "true"

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "production.md"


def block(language: str, first_line: str = "") -> str:
    """The guide's one ```language block (that starts with ``first_line``)."""
    found = [b for b in re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), re.S)
             if b.startswith(first_line)]
    assert len(found) == 1, (language, first_line)
    return found[0]


def test_every_setting_the_guide_names_exists() -> None:
    known = {setting_name(f.name) for f in fields(Settings)} | ENVIRONMENT_ONLY | {
        "REPLIK_MODERATORS",  # the environment's list of accounts (server/auth.py)
        "REPLIK_OUTPUT_PATH",  # given to the publish hook
    }
    named = set(re.findall(r"\bREPLIK_[A-Z_]+\b", GUIDE.read_text()))
    accounts = set(re.findall(r"\bREPLIK_PASSWORD_[A-Z]+\b", GUIDE.read_text()))
    assert named - accounts - known == set()


def test_the_environment_file_reads_alike_in_systemd_and_a_shell(tmp_path: Path) -> None:
    """systemd keeps a '# …' after a value as part of it; a shell expands '$'. With a
    real password hash (it holds '$') both must read the same values."""
    text = block("ini", "# /etc/replik/env").replace("scrypt:…", make_hash("geheim"))
    systemd = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        key, _, value = line.partition("=")
        assert " #" not in value, f"systemd would keep the comment: {line}"
        if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        systemd[key] = value
    env_file = tmp_path / "env"
    env_file.write_text(text, encoding="utf-8")
    shell = subprocess.run(["bash", "-c", f'set -a; . {env_file}; set +a; env -0'],
                           capture_output=True, text=True, check=True, env={}).stdout
    read = dict(item.split("=", 1) for item in shell.split("\0") if "=" in item)
    assert {key: read.get(key) for key in systemd} == systemd
    assert systemd["REPLIK_PASSWORD_ANNA"].startswith("scrypt:") and "$" in systemd[
        "REPLIK_PASSWORD_ANNA"]


class Node:
    """An app node's stand-in: says who it is, what it got, and sends HSTS as the app does."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, environ: dict, start_response) -> Response:
        request = Request(environ)
        answer = Response(f"{self.name} {request.method} {request.path} "
                          f"{request.headers.get('X-Forwarded-Proto')}",
                          headers={"Strict-Transport-Security": "max-age=1"})
        return answer(environ, start_response)


def _substitute(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the guide's nginx block changed: {old!r}"
    return text.replace(old, new)


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """The guide's upstream and server blocks in a real nginx on a loopback port, in
    front of two nodes; yields nginx's base URL and what stops node A."""
    binary, openssl = shutil.which("nginx") or "/usr/sbin/nginx", shutil.which("openssl")
    if not Path(binary).is_file() or not openssl:
        if IN_CI:  # .ci/run installs both: the guide's block must be tried there
            pytest.fail("nginx or openssl is not installed (apt-get install nginx openssl)")
        pytest.skip("nginx or openssl is not installed")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=blog.example.org", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem")], check=True, capture_output=True)
    output = tmp_path / "output"
    (output / "moderated-comments").mkdir(parents=True)
    (output / "moderated-comments" / "index.html").write_text("eine Seite")
    (output / "404.html").write_text("Seite nicht gefunden")
    node_a = ExitStack()  # closed by the test: node A dies
    base_a, _a = node_a.enter_context(live_server(Node("A")))
    with node_a, live_server(Node("B")) as (base_b, _b):
        port = free_port()
        conf = block("nginx", "upstream replik_app")
        for old, new in (("10.0.0.11:8001", base_a.split("//")[1]),
                         ("10.0.0.12:8001", base_b.split("//")[1]),
                         ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
                         ("/etc/letsencrypt/live/blog.example.org/fullchain.pem",
                          str(tmp_path / "cert.pem")),
                         ("/etc/letsencrypt/live/blog.example.org/privkey.pem",
                          str(tmp_path / "key.pem")),
                         ("root /srv/blog/output;", f"root {output};")):
            conf = _substitute(conf, old, new)
        debian = Path("/etc/nginx/proxy_params")
        (tmp_path / "proxy_params").write_text(debian.read_text() if debian.is_file() else (
            "proxy_set_header Host $host;\nproxy_set_header X-Real-IP $remote_addr;\n"
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "proxy_set_header X-Forwarded-Proto $scheme;\n"))
        temp = " ".join(f"{kind}_temp_path {tmp_path / kind};"
                        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        user = "user root;\n" if subprocess.run(["id", "-u"], capture_output=True,
                                                text=True).stdout.strip() == "0" else ""
        (tmp_path / "nginx.conf").write_text(
            f"{user}worker_processes 1;\npid {tmp_path / 'nginx.pid'};\n"
            f"error_log {tmp_path / 'error.log'};\nevents {{}}\n"
            f"http {{\naccess_log off;\n{temp}\n{conf}\n}}\n")
        config = ["-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
        checked = subprocess.run([binary, *config, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        process = subprocess.Popen([binary, *config, "-g", "daemon off;"],
                                   stderr=subprocess.PIPE)
        try:
            base = f"https://127.0.0.1:{port}"
            wait_for(lambda: _answers(base), "nginx")
            yield base, node_a.close
        finally:
            process.terminate()
            process.wait(10)


def _answers(base: str) -> bool:
    try:
        httpx.get(base + "/404.html", verify=False, timeout=2)
    except httpx.TransportError:
        return False
    return True


def test_the_nginx_block_routes_as_the_guide_says(nginx, tmp_path: Path) -> None:
    base, kill_node_a = nginx
    with httpx.Client(base_url=base, verify=False, timeout=10) as http:
        # The built site is nginx's own, a page named like the desk included.
        page = http.get("/moderated-comments/")
        assert (page.status_code, page.text) == (200, "eine Seite")
        missing = http.get("/nirgends/")
        assert (missing.status_code, missing.text) == (404, "Seite nicht gefunden")
        # The app's paths reach a node, which learns of https (REPLIK_TRUSTED_PROXIES).
        seen = set()
        for path in ("/moderate", "/moderate/login", "/replik/comment", "/replik/comment"):
            answer = http.post(path) if path == "/replik/comment" else http.get(path)
            node, method, got, proto = answer.text.split()
            assert (answer.status_code, got, proto) == (200, path, "https"), answer.text
            seen.add(node)
            # One HSTS header: nginx's, the node's own hidden.
            assert answer.headers.get_list("Strict-Transport-Security") == ["max-age=31536000"]
        assert seen == {"A", "B"}  # both nodes take their share

        # Node A dies: nginx sends its requests, POSTs too, to B (nothing was sent to A).
        kill_node_a()
        for _ in range(4):
            answer = http.post("/replik/comment")
            assert (answer.status_code, answer.text.split()[0]) == (200, "B")
