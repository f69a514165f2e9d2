"""Pingback 1.0 (Hixie, Langridge): the XML-RPC method ``pingback.ping(sourceURI, targetURI)``.

The request is parsed here, not by ``SimpleXMLRPCDispatcher``: there is exactly
one method, ``system.multicall`` and introspection do not exist, and every
failure becomes one of the spec's fault codes (a stray exception would
otherwise leak as ``Fault(1, "<class …>")``). ``defusedxml`` replaces the
XML-RPC parser process-wide, so entity expansion and external entities are
refused by the parser itself; bodies are small and never compressed.
"""

from __future__ import annotations

import logging
import xmlrpc.client

import defusedxml.xmlrpc

from .receive import Denied, Receiver, TargetProblem
from .verify import SourceProblem, is_http_url, verify

defusedxml.xmlrpc.monkey_patch()

log = logging.getLogger(__name__)

# A pingback request is two URLs in a few hundred bytes of XML.
MAX_BODY = 16 * 1024

GENERIC = 0
SOURCE_MISSING = 0x0010
NO_LINK = 0x0011
TARGET_MISSING = 0x0020
TARGET_UNUSABLE = 0x0021
ALREADY_REGISTERED = 0x0030
ACCESS_DENIED = 0x0031
UPSTREAM_ERROR = 0x0032


def fault(code: int, message: str) -> bytes:
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), methodresponse=True).encode(
        "utf-8"
    )


def handle(receiver: Receiver, body: bytes, ip: str, user_agent: str) -> bytes:
    """Answer one XML-RPC request body; never raises."""
    try:
        return _handle(receiver, body, ip, user_agent)
    except Exception:  # noqa: BLE001 - whatever happens, the client gets a clean fault
        log.exception("replik: pingback failed")
        return fault(GENERIC, "the pingback could not be processed; please try again later")


def _handle(receiver: Receiver, body: bytes, ip: str, user_agent: str) -> bytes:
    if len(body) > MAX_BODY:
        return fault(GENERIC, f"request too large (at most {MAX_BODY} bytes)")
    try:
        params, method = xmlrpc.client.loads(body)
    except Exception as exc:  # noqa: BLE001 - malformed or hostile XML of any kind
        return fault(GENERIC, f"malformed XML-RPC request ({exc.__class__.__name__})")
    if method != "pingback.ping":
        return fault(GENERIC, f"method {method!r} is not supported; only pingback.ping is")
    if len(params) != 2 or not all(isinstance(p, str) for p in params):
        return fault(GENERIC, "pingback.ping takes two strings: sourceURI and targetURI")
    source, target = (p.strip() for p in params)
    return ping(receiver, source, target, ip, user_agent)


def ping(receiver: Receiver, source: str, target: str, ip: str, user_agent: str) -> bytes:
    if not is_http_url(target):
        return fault(TARGET_UNUSABLE, "the target URI is not an http(s) URL")
    if not is_http_url(source):
        return fault(SOURCE_MISSING, "the source URI is not an http(s) URL")
    try:
        article = receiver.article_for(target)
    except TargetProblem as exc:
        code = TARGET_UNUSABLE if exc.kind == "unusable" else TARGET_MISSING
        return fault(code, str(exc))
    if receiver.pairs.find(source, article.slug) is not None:
        return fault(ALREADY_REGISTERED, "this pingback has already been registered")
    try:
        receiver.check_policy(source, ip)
    except Denied as exc:
        return fault(ACCESS_DENIED, str(exc))
    try:
        verified = verify(source, target, receiver.settings)
    except SourceProblem as exc:
        code = {"nolink": NO_LINK, "upstream": UPSTREAM_ERROR}.get(exc.kind, SOURCE_MISSING)
        return fault(code, str(exc))
    # Two pings of one pair racing each other: the second one finds the first now.
    if receiver.pairs.find(source, article.slug) is not None:
        return fault(ALREADY_REGISTERED, "this pingback has already been registered")
    receiver.save("pingback", verified, target, article, ip=ip, user_agent=user_agent)
    message = f"Pingback from {source} to {target} registered; it awaits moderation."
    return xmlrpc.client.dumps((message,), methodresponse=True).encode("utf-8")
