# What this module knows: the options of `certconform serve --graph` -- page size, throttling,
# token, the lab's device pool, the time scale and Intune's delays, and the self-tests' faults --
# how each is checked (one line naming the option, via ServeError) and how the emulator is
# started with uvicorn.
# Kept free of Starlette imports until serving, so that building the command line stays fast.
"""Options and start-up of the Graph emulator."""
from __future__ import annotations

import argparse
import sys

from certconform.mdm.serve_options import ServeError, bare_host

from .catalogue import FAULTS, PLATFORMS
from .timing import Delays

GRAPH_ONLY = ("page_size", "throttle_every", "retry_after", "pool", "fault", "time_scale", "delay", "no_graph_limits")
MAX_POOL = 50
DELAY_NAMES = {f.removesuffix("_s"): f for f in Delays.__dataclass_fields__}


def add_graph_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--graph", action="store_true",
                        help="serve a Microsoft Graph emulator (docs/graph-wire.md) over the realistic mock instead "
                             "of the contract's HTTP binding")
    parser.add_argument("--page-size", type=int, default=None, metavar="N",
                        help="with --graph: items per page of a collection (1-999, default 100)")
    parser.add_argument("--throttle-every", type=int, default=None, metavar="N",
                        help="with --graph: answer every Nth request with 429 and Retry-After (default 0: never)")
    parser.add_argument("--retry-after", type=int, default=None, metavar="S",
                        help="with --graph: the Retry-After seconds of a 429 (0-60, default 1)")
    parser.add_argument("--pool", default=None, metavar="PLATFORM=N,...",
                        help=f"with --graph: the lab's managed devices per platform (default 4 each; "
                             f"platforms: {', '.join(PLATFORMS)})")
    parser.add_argument("--fault", default=None, metavar="NAME",
                        help=f"with --graph: a faulty Intune for self-tests ({', '.join(FAULTS)})")
    parser.add_argument("--time-scale", type=float, default=None, metavar="X",
                        help="with --graph: X seconds of Intune's time pass per real second (default 1; 3600: an "
                             "hour of Intune is a second)")
    parser.add_argument("--delay", action="append", default=None, metavar="NAME=S",
                        help="with --graph: one of Intune's delays, in Intune's seconds (names: "
                             f"{', '.join(DELAY_NAMES)}; defaults in docs/graph-wire.md); repeatable")
    parser.add_argument("--no-graph-limits", action="store_true", default=None,
                        help="with --graph: do not enforce Graph's documented per-app throttling limits")


def parse_pool(text: str) -> dict[str, int]:
    """{"windows": 4, ...} from "windows=4,ios=2"; platforms not named get 0. ServeError if bad."""
    pool: dict[str, int] = {}
    for part in text.split(","):
        name, sep, count = part.strip().partition("=")
        if not sep:
            raise ServeError(f"--pool: {part.strip()!r} is not PLATFORM=N")
        if name not in PLATFORMS:
            raise ServeError(f"--pool: unknown platform {name!r} (one of {', '.join(PLATFORMS)})")
        if name in pool:
            raise ServeError(f"--pool: platform {name!r} given twice")
        if not count.strip().isdigit() or int(count) > MAX_POOL:
            raise ServeError(f"--pool: {name}={count}: the count must be a whole number from 0 to {MAX_POOL}")
        pool[name] = int(count)
    return pool


def check_not_graph(args: argparse.Namespace) -> None:
    """Graph-only options without --graph are a mistake."""
    for name in GRAPH_ONLY:
        if getattr(args, name, None) is not None:
            raise ServeError(f"--{name.replace('_', '-')} needs --graph")


def graph_service(args: argparse.Namespace, token: str | None):
    """(tenant, settings) for `serve --graph`; ServeError naming the first bad option."""
    from .app import DEFAULT_TOKEN, GraphSettings
    from .tenant import Tenant

    page_size = 100 if args.page_size is None else args.page_size
    if not 1 <= page_size <= 999:
        raise ServeError(f"--page-size must be from 1 to 999, got {page_size}")
    throttle = 0 if args.throttle_every is None else args.throttle_every
    if throttle < 0 or throttle == 1:
        raise ServeError(f"--throttle-every must be 0 (off) or 2 or more, got {throttle} "
                         "(1 would refuse every request)")
    retry_after = 1 if args.retry_after is None else args.retry_after
    if not 0 <= retry_after <= 60:
        raise ServeError(f"--retry-after must be from 0 to 60 seconds, got {retry_after}")
    pool = None if args.pool is None else parse_pool(args.pool)
    if args.fault is not None and args.fault not in FAULTS:
        raise ServeError(f"--fault: unknown fault {args.fault!r} (one of {', '.join(FAULTS)})")
    for name in ("revocation_delay", "removal_delay"):
        if getattr(args, name, None) is not None:
            raise ServeError(f"--{name.replace('_', '-')} is for --realistic; with --graph use --delay "
                             f"{'revocation' if name == 'revocation_delay' else 'notify'}=S (Intune's seconds)")
    scale = 1.0 if args.time_scale is None else args.time_scale
    if not 0 < scale <= 10_000_000:
        raise ServeError(f"--time-scale must be above 0 and at most 10000000, got {scale:g}")
    delays = parse_delays(args.delay or [])
    tenant = Tenant(pool=pool, fault=args.fault, delays=delays, time_scale=scale)
    settings = GraphSettings(token=token or DEFAULT_TOKEN, page_size=page_size, throttle_every=throttle,
                             retry_after=retry_after)
    if args.no_graph_limits:
        settings.throttle_limits = None
    return tenant, settings


def parse_delays(items: list[str]) -> Delays:
    """Delays from ["notify=300", ...] (Intune's seconds); ServeError naming the first bad one."""
    changes: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in DELAY_NAMES:
            raise ServeError(f"--delay {item!r}: want NAME=SECONDS, NAME one of {', '.join(DELAY_NAMES)}")
        try:
            seconds = float(value)
        except ValueError:
            raise ServeError(f"--delay {item!r}: {value!r} is not a number of seconds") from None
        if not 0 <= seconds <= 30 * 86400 or (name.strip() == "token_lifetime" and seconds <= 0):
            raise ServeError(f"--delay {item!r}: want 0 to 2592000 seconds (token_lifetime above 0)")
        changes[DELAY_NAMES[name.strip()]] = seconds
    return Delays().with_(**changes)


def serve_graph(host: str, port: int, tenant, settings, allow_hosts=()) -> None:
    import uvicorn

    from certconform.mdm.server import HostPolicy
    from certconform.mdm.serve_options import is_loopback

    from .app import DEFAULT_TOKEN, build_app

    settings.hosts = HostPolicy(host, port, allow_hosts)
    app = build_app(tenant, settings)
    shown = f"[{bare_host(host)}]" if ":" in host else host
    pool = {p: sum(1 for d in tenant.devices.values() if d.platform == p) for p in PLATFORMS}
    print(f"certconform Graph emulator on http://{shown}:{port} (v1.0 and beta; bearer token required); "
          f"page size {settings.page_size}, throttle every {settings.throttle_every or 'never'}, Graph's limits "
          f"{'on' if settings.throttle_limits else 'off'}, time scale {tenant.clock.scale:g}, "
          f"pool {', '.join(f'{p}={n}' for p, n in pool.items() if n)}; accepted Host names: "
          f"{settings.hosts.describe()}", file=sys.stderr, flush=True)
    if settings.token == DEFAULT_TOKEN and not is_loopback(host):
        print(f"certconform serve: warning: serving on {host} with the default token {DEFAULT_TOKEN!r}: anyone who "
              "can reach this address can use the emulator (use --token-file PATH)", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, http="auto",
                proxy_headers=False)
