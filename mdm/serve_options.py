# What this module knows: the options of the mock's HTTP server (`certconform serve`,
# `python -m mdm.server`): where the token comes from, which names are loopback, when to warn.
# Kept free of FastAPI so that building the command line stays fast.
"""Serve options of the mock MDM's HTTP server: token sources, host names, the exposure warning."""
from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from typing import Mapping

TOKEN_ENV = "CERTCONFORM_TOKEN"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


# -- host names -------------------------------------------------------------
def split_host(value: str) -> tuple[str, int | None]:
    """("name", port or None) of a Host header value or an --allow-host NAME[:PORT]; IPv6
    literals come back bracketed ("[::1]"), names lowercased. ValueError if malformed."""
    text = value.strip().lower()
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"unclosed '[' in {value!r}")
        name, rest = text[:close + 1], text[close + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError(f"unexpected {rest!r} after the address in {value!r}")
        port_text = rest[1:] if rest else None
    elif text.count(":") > 1:  # a bare IPv6 literal (--host ::1)
        name, port_text = f"[{text}]", None
    else:
        name, _, port_text = text.partition(":")
        port_text = port_text if ":" in text else None
    if not name or any(ch in name for ch in " /\\@?#") or name == "[]":
        raise ValueError(f"not a host name: {value!r}")
    if port_text is None:
        return name, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad port in {value!r}")
    return name, int(port_text)


def bare_host(name: str) -> str:
    return name[1:-1] if name.startswith("[") else name


def is_loopback(host: str) -> bool:
    """Whether binding `host` exposes the server to this machine only."""
    name = bare_host(host.strip().lower())
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(bare_host(host.strip())).is_unspecified
    except ValueError:
        return False


class ServeError(ValueError):
    """A bad serve option (token source, --allow-host): one line, exit 2."""


def resolve_token(token: str | None = None, token_file: str | None = None,
                  environ: Mapping[str, str] | None = None) -> str | None:
    """The bearer token to require: --token, else the first line of --token-file (stripped), else
    env CERTCONFORM_TOKEN (an empty variable counts as unset); None for no token."""
    if token is not None:
        if not token.strip():
            raise ServeError("--token is empty (omit it to serve without a token)")
        return token.strip()
    if token_file is not None:
        try:
            with open(token_file, encoding="utf-8") as handle:
                first = handle.readline().strip()
        except OSError as exc:
            raise ServeError(f"--token-file {token_file}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ServeError(f"--token-file {token_file}: not UTF-8 text") from None
        if not first:
            raise ServeError(f"--token-file {token_file}: the first line is empty (want the token there)")
        return first
    value = (os.environ if environ is None else environ).get(TOKEN_ENV, "").strip()
    return value or None


def exposure_warning(host: str, token: str | None) -> str | None:
    """The warning for binding a non-loopback address without a token, or None."""
    if token or is_loopback(host):
        return None
    return (f"warning: serving on {host} without a token: anyone who can reach this address can reset "
            f"the mock and post events (use --token-file PATH or env {TOKEN_ENV})")


def add_serve_options(parser: argparse.ArgumentParser, port_required: bool = False) -> None:
    """The options of `certconform serve` and `python -m mdm.server`."""
    parser.add_argument("--port", type=int, required=port_required, default=None if port_required else 8000)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; a non-loopback address without a token warns)")
    parser.add_argument("--token", default=None,
                        help="require 'Authorization: Bearer TOKEN' (visible in ps: prefer --token-file or "
                             f"env {TOKEN_ENV})")
    parser.add_argument("--token-file", default=None, metavar="PATH",
                        help="read the token from the first line of PATH")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="also accept requests whose Host/Origin is NAME (or NAME:PORT); repeatable")
    parser.add_argument("--realistic", action="store_true",
                        help="serve the mock in its realistic mode (spec mock-realistic): delayed revocations and "
                             "removals, a device pool per platform, no deletion by hand")
    parser.add_argument("--revocation-delay", type=float, default=None, metavar="S",
                        help="with --realistic: seconds until a revocation lands (default 0.05)")
    parser.add_argument("--removal-delay", type=float, default=None, metavar="S",
                        help="with --realistic: seconds until a removal lands, unless the device checks "
                             "in first (default 0.05)")
    parser.add_argument("--delivery-delay", type=float, default=None, metavar="S",
                        help="with --realistic: seconds until the certificates of a check-in land on the device "
                             "(default 0)")
    from certconform.mdm.graph_emulator.serve import add_graph_options

    add_graph_options(parser)


def serve_from_args(args: argparse.Namespace, prog: str) -> int:
    """Resolve the token and host options, then serve; a bad option is one line on stderr, exit 2."""
    try:
        token = resolve_token(args.token, args.token_file)
        for name in args.allow_host:
            try:
                split_host(name)
            except ValueError as bad:
                raise ServeError(f"--allow-host: {bad}") from None
        if getattr(args, "graph", False):
            from certconform.mdm.graph_emulator.serve import graph_service, serve_graph

            if getattr(args, "delivery_delay", None) is not None:
                raise ServeError("--delivery-delay needs --realistic (not --graph)")

            tenant, settings = graph_service(args, token)
        else:
            from certconform.mdm.graph_emulator.serve import check_not_graph

            check_not_graph(args)
            service = realistic_service(args)
    except ServeError as bad:
        print(f"{prog}: {bad}", file=sys.stderr)
        return 2
    if getattr(args, "graph", False):
        try:
            serve_graph(args.host, args.port, tenant, settings, args.allow_host)
        except KeyboardInterrupt:
            pass
        return 0
    from certconform.mdm.server import serve

    try:
        serve(args.host, args.port, token, args.allow_host, service=service)
    except KeyboardInterrupt:
        pass
    return 0


def realistic_service(args: argparse.Namespace):
    """The MockMDM that --realistic asks for (None: the default mock); ServeError on bad delays."""
    delays = {"revocation_delay": getattr(args, "revocation_delay", None),
              "removal_delay": getattr(args, "removal_delay", None),
              "delivery_delay": getattr(args, "delivery_delay", None)}
    if not getattr(args, "realistic", False):
        given = [k for k, v in delays.items() if v is not None]
        if given:
            raise ServeError(f"--{given[0].replace('_', '-')} needs --realistic")
        return None
    from certconform.mdm.mock import MockMDM

    try:
        return MockMDM(realistic=True, **{k: v for k, v in delays.items() if v is not None})
    except ValueError as exc:
        raise ServeError(f"--{str(exc).replace('_', '-')}") from None
