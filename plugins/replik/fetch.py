"""The one guarded fetcher: every outbound HTTP request of the project goes through here.

Why a guard: pingbacks, webmentions and trackbacks make the server fetch URLs that
strangers choose. Without care that is a server-side request forgery hole (cloud
metadata at 169.254.169.254, admin panels on loopback, the intranet). So:

- only ``http`` and ``https``; no credentials in the URL;
- the host is resolved here and *every* address is checked (loopback, private,
  link-local, unique-local, multicast, reserved, unspecified, shared, and the same
  ranges hidden in IPv4-mapped, 6to4, Teredo and NAT64 IPv6 forms); odd spellings
  such as ``127.1`` or ``2130706433`` are caught because the resolver's answer is
  checked, not the string;
- the connection goes to the checked address (the URL is rewritten to the IP, the
  Host header and TLS SNI/certificate check keep the name), so a second DNS answer
  cannot differ from the checked one (no DNS rebinding);
- redirects are followed by hand, at most ``MAX_REDIRECTS``, each hop checked again;
- connect/read timeouts plus a total deadline; at most ``max_bytes`` are read
  (a larger body is refused, never silently truncated); an allowlist of content
  types; an honest User-Agent naming the site.

``REPLIK_FETCH_ALLOW_PRIVATE`` lists host names that may resolve to private or
loopback addresses (an intranet, or a test's local source site).
"""

from __future__ import annotations

import codecs
import ipaddress
import re
import socket
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import httpx

from . import __version__
from .settings import Settings

MAX_REDIRECTS = 3
DEFAULT_ACCEPT = ("text/html", "text/plain", "application/xhtml+xml")
DEFAULT_MAX_BYTES = 1024 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges ``ipaddress`` flags as global that are still not the public Internet.
_EXTRA_BLOCKED = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # carrier-grade NAT (shared address space)
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. broadcast
        "64:ff9b:1::/48",  # local-use NAT64
        "ff00::/8",  # IPv6 multicast
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class FetchError(Exception):
    """An outbound request that was refused or failed; the message says why."""


class BlockedAddress(FetchError):
    """The URL's host is, or resolves to, an address we refuse to contact."""


class BadURL(FetchError):
    """The URL cannot be parsed, or holds characters no request may carry (CR, LF …)."""


@dataclass
class FetchResult:
    url: str  # the final URL, after redirects
    status: int
    headers: httpx.Headers
    content: bytes

    @property
    def media_type(self) -> str:
        return _media_type(self.headers.get("content-type", ""))

    @property
    def encoding(self) -> str:
        declared = _charset(self.headers.get("content-type", ""))
        if not declared and self.media_type in ("text/html", "application/xhtml+xml"):
            match = _CHARSET_RE.search(self.content[:2048])
            declared = match.group(1).decode("ascii") if match else ""
        try:
            return codecs.lookup(declared).name if declared else "utf-8"
        except LookupError:
            return "utf-8"

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding, errors="replace")


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'")
    return ""


# -- the address guard ------------------------------------------------------


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in an IPv4-mapped, 6to4, Teredo or NAT64 address."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    # NAT64, or IPv4-compatible (deprecated) ::a.b.c.d: the last 32 bits.
    if addr in _NAT64 or (int(addr) >> 32 == 0 and int(addr) > 1):
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def blocked_reason(addr: IPAddress) -> str:
    """Why ``addr`` must not be contacted ("" if it is a public unicast address)."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.scope_id:
            return "a scoped (link-local) IPv6 address"
        inner = _embedded_ipv4(addr)
        if inner is not None:
            reason = blocked_reason(inner)
            return f"{reason} inside an IPv6 address" if reason else ""
    checks = (
        ("is_unspecified", "the unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    )
    for attr, reason in checks:
        if getattr(addr, attr):
            return reason
    for net in _EXTRA_BLOCKED:
        if addr.version == net.version and addr in net:
            return "a special-purpose address"
    if not addr.is_global:
        return "not a public address"
    return ""


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (tests patch this to fake DNS answers)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve host {host!r}: {exc}") from None
    found: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        text = str(sockaddr[0])
        addr = ipaddress.ip_address(text.split("%", 1)[0])
        if isinstance(addr, ipaddress.IPv6Address) and len(sockaddr) >= 4 and sockaddr[3]:
            addr = ipaddress.IPv6Address(f"{addr}%{sockaddr[3]}")
        if addr not in found:
            found.append(addr)
    if not found:
        raise FetchError(f"host {host!r} has no address")
    return found


@dataclass
class _Target:
    scheme: str
    host: str  # as written in the URL (lower case, IDNA-encoded, no brackets)
    port: int
    addresses: list[IPAddress]


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def parse_url(url: str) -> SplitResult:
    """``url`` split into its parts, if both urllib and httpx can read it; else BadURL.

    urllib silently drops tabs and line breaks (``http://a/\\r\\nb`` is ``http://a/b``
    to it) where httpx refuses them, so control characters are refused here first.
    """
    if _CONTROL_RE.search(url):
        raise BadURL(f"not a valid URL: {url!r} (it holds a control character)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise BadURL(f"not a valid URL: {url!r} ({exc})") from None
    return parts


def check_url(url: str, settings: Settings) -> _Target:
    """Parse ``url``, resolve its host and check every address; raise if refused."""
    parts = parse_url(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BlockedAddress(f"only http and https URLs are fetched, not {scheme or 'no'!r} scheme")
    if parts.username is not None or parts.password is not None:
        raise BlockedAddress("URLs with credentials are not fetched")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BadURL(f"URL has no host: {url!r}")
    try:
        host = host.encode("idna").decode("ascii").lower() if not host.isascii() else host.lower()
    except UnicodeError:
        raise BadURL(f"host name {host!r} is not valid") from None
    port = parts.port or (443 if scheme == "https" else 80)
    addresses = resolve(host, port)
    # REPLIK_FETCH_ALLOW_PRIVATE: hosts that may resolve to private addresses.
    if host not in {str(name).lower().rstrip(".") for name in settings.fetch_allow_private}:
        for addr in addresses:
            reason = blocked_reason(addr)
            if reason:
                raise BlockedAddress(f"{host} resolves to {addr}, {reason}: refused")
    return _Target(scheme, host, port, addresses)


# -- the request --------------------------------------------------------------


def user_agent(settings: Settings) -> str:
    site = settings.siteurl.strip()
    return f"Replik/{__version__} (+{site})" if site else f"Replik/{__version__}"


def _accepts(media_type: str, accept_types: Iterable[str] | None) -> bool:
    return accept_types is None or any(
        allowed in (media_type, "*/*")
        or (allowed.endswith("/*") and media_type.startswith(allowed[:-1]))
        for allowed in (value.lower() for value in accept_types))


def _decoded(chunks: Iterator[bytes], encoding: str, limit: int) -> Iterator[bytes]:
    """Undo gzip/deflate a server sent unasked, never expanding past ``limit`` + 1."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        yield from chunks
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise FetchError(f"response uses content encoding {encoding!r}, which is not supported")
    decompressor = zlib.decompressobj(47)  # 32 + 15: accept zlib and gzip headers
    try:
        for chunk in chunks:
            data = chunk
            while data:
                yield decompressor.decompress(data, limit + 1)
                data = decompressor.unconsumed_tail
        yield decompressor.flush()
    except zlib.error as exc:
        raise FetchError(f"response body is not valid {encoding}: {exc}") from None


def _read_body(response: httpx.Response, max_bytes: int, deadline: float, url: str) -> bytes:
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise FetchError(
            f"{url} is {int(length)} bytes, more than the limit of {max_bytes} bytes: refused"
        )
    body = bytearray()
    raw = response.iter_raw()  # no chunk_size: httpx would buffer up to it
    for chunk in _decoded(raw, response.headers.get("content-encoding", ""), max_bytes):
        body += chunk
        if len(body) > max_bytes:
            raise FetchError(f"{url} sends more than the limit of {max_bytes} bytes: refused")
        if time.monotonic() > deadline:
            raise FetchError(f"{url} is too slow: no complete answer within the time limit")
    return bytes(body)


def fetch(
    url: str,
    settings: Settings,
    *,
    method: str = "GET",
    data: Any = None,
    json: Any = None,
    headers: dict[str, str] | None = None,
    accept_types: Iterable[str] | None = DEFAULT_ACCEPT,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> FetchResult:
    """Fetch ``url`` through the guard; see the module docstring for the rules.

    Returns the final response whatever its status (callers decide what a 404
    means). ``accept_types=None`` accepts any content type (e.g. the body of a
    webmention endpoint's answer). Raises ``BlockedAddress`` for refused
    addresses and ``FetchError`` for every other failure.
    """
    timeout = settings.fetch_timeout
    deadline = time.monotonic() + timeout
    accept_list = tuple(accept_types) if accept_types is not None else None
    base_headers = {
        "User-Agent": user_agent(settings),
        "Accept": ", ".join(accept_list) + ", */*;q=0.1" if accept_list else "*/*",
        # Asking for identity keeps decompression bombs out; see _decoded for the rest.
        "Accept-Encoding": "identity",
        **(headers or {}),
    }
    method = method.upper()
    current = url
    # trust_env=False: a proxy from the environment would defeat the address pinning.
    with httpx.Client(
        transport=httpx.HTTPTransport(retries=0),
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(timeout),
    ) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            target = check_url(current, settings)
            raw = isinstance(data, bytes | str)
            # Built for the checked host name: the Host header and the TLS name are
            # that name; _send_one then points the request at the checked addresses.
            request = client.build_request(
                method, httpx.URL(current).copy_with(host=target.host), headers=base_headers,
                content=data if raw else None, data=None if raw else data, json=json,
                extensions={"sni_hostname": target.host} if target.scheme == "https" else {})
            result = _send_one(client, request, current, target, accept_list, max_bytes,
                               deadline)
            if isinstance(result, FetchResult):
                return result
            status, location = result
            current = urljoin(current, location)
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, data, json = "GET", None, None
    raise FetchError(f"{url} redirects more than {MAX_REDIRECTS} times: refused")


def _send_one(client: httpx.Client, request: httpx.Request, url: str, target: _Target,
              accept_types: tuple[str, ...] | None, max_bytes: int, deadline: float
              ) -> FetchResult | tuple[int, str]:
    """``request`` (for ``url``) to the checked addresses in turn, until one answers; a
    redirect comes back as (status, Location)."""
    last_error: Exception | None = None
    for addr in target.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        request.url = request.url.copy_with(host=str(addr).split("%", 1)[0], port=target.port)
        request.extensions["timeout"] = httpx.Timeout(
            min(remaining, client.timeout.read or remaining)).as_dict()
        try:
            response = client.send(request, stream=True)
        except httpx.ConnectError as exc:
            last_error = exc
            continue  # try the host's next (already checked) address
        except httpx.TimeoutException:
            raise FetchError(f"{url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{url} cannot be fetched: {exc}") from None
        try:
            if response.status_code in _REDIRECTS:
                location = response.headers.get("location", "")
                if not location:
                    raise FetchError(f"{url} redirects without a Location header")
                return response.status_code, location
            media = _media_type(response.headers.get("content-type", ""))
            # Only a successful answer's body is used as content; error pages of any
            # type are fine (callers look at the status), and a body-less answer
            # may omit the type.
            if 200 <= response.status_code < 300 and not _accepts(media, accept_types):
                if media or response.headers.get("content-length", "") != "0":
                    raise FetchError(
                        f"{url} answers with content type {media or 'none'!r}, "
                        f"expected one of {', '.join(accept_types or ())}"
                    )
            try:
                content = _read_body(response, max_bytes, deadline, url)
            except httpx.TimeoutException:
                raise FetchError(f"{url} is too slow: no complete answer in time") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"{url} broke off while sending: {exc}") from None
            return FetchResult(url=url, status=response.status_code,
                               headers=response.headers, content=content)
        finally:
            response.close()
    if last_error is not None:
        raise FetchError(f"cannot connect to {url}: {last_error}")
    raise FetchError(f"{url} did not answer in time")
