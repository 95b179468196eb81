"""The `certconform` command line.

    certconform run   --mdm SPEC [--edition 2022|2024] [--strict] [--report-dir DIR] [pytest args...]
                                                                       run the conformance suite, write reports/
    certconform serve --port PORT [--host 127.0.0.1] [--token TOKEN | --token-file PATH] [--allow-host NAME ...]
                                                                       serve the bundled mock MDM over HTTP
    certconform drift DOC [--json] [--against EDITION] [--overlay [PATH]]
                                                                       compare another edition of the document

Every problem with the command line or its inputs is one line on stderr and a non-zero exit.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path



def _run(args: argparse.Namespace, extra: list[str]) -> int:
    import pytest

    report_dir = Path(args.report_dir).resolve()
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        probe = report_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        print(f"certconform: cannot write reports to {report_dir}: {exc.strerror or exc}", file=sys.stderr)
        return 4
    from certconform import package_dir

    # The suite runs from wherever certconform is installed, but in the user's directory: a
    # `--mdm module:attr` is imported from there and relative paths mean what the user meant.
    # "--opt=value" (one token) so pytest never mistakes a value for a path when it picks the
    # rootdir before the plugin's options are known.
    suite = package_dir("conformance")
    pytest_args = [
        str(suite),
        f"--rootdir={suite.parent}",
        "-p", "no:cacheprovider",
        # the CLI itself imported certconform before pytest could mark the plugin for rewriting
        "-W", "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning",
        f"--mdm={args.mdm}",
        f"--report-dir={report_dir}",
        f"--junitxml={report_dir / 'junit.xml'}",
        f"--cucumberjson={report_dir / 'cucumber.json'}",
        *([f"--mdm-token={args.mdm_token}"] if args.mdm_token else []),
        *(["--strict-readings"] if args.strict else []),
        *([f"--document={Path(args.document).resolve()}"] if args.document else []),
        f"--edition={args.edition}",
        *extra,
    ]
    return int(pytest.main(pytest_args))


def _serve(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        print(f"certconform serve: unexpected arguments: {' '.join(extra)}", file=sys.stderr)
        return 2
    from certconform.mdm.serve_options import serve_from_args

    return serve_from_args(args, "certconform serve")


def _drift(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        print(f"certconform drift: unexpected arguments: {' '.join(extra)}", file=sys.stderr)
        return 2
    from certconform.drift import main as drift_main

    return drift_main(args.document_file, as_json=args.json, against=args.against, overlay=args.overlay)


def _editions() -> list[str]:
    from certconform.model.behaviour import editions

    return list(editions())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="certconform", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the conformance suite and write reports/ (other arguments go to pytest)")
    run.add_argument("--mdm", default=os.environ.get("CERTCONFORM_MDM", "mock"),
                     help="reference, mock (default), http://HOST:PORT or package.module:attr")
    run.add_argument("--mdm-token", default=None, help="bearer token for http:// (default: env MDM_TOKEN)")
    run.add_argument("--report-dir", default="reports", help="where reports are written (default: ./reports)")
    run.add_argument("--document", default=None, help="the specification document (default: ../shared/spec-source/...)")
    run.add_argument("--strict", action="store_true",
                     help="also fail on departures from our readings (verdict 'deviates'), not only from the document")
    run.add_argument("--edition", choices=_editions(), default=os.environ.get("CERTCONFORM_EDITION") or "2022",
                     help="edition of the document to judge by (default 2022, the one the suite was built on)")
    run.set_defaults(func=_run)
    serve = sub.add_parser("serve", help="serve the bundled mock MDM over the contract's HTTP binding")
    from certconform.mdm.serve_options import add_serve_options

    add_serve_options(serve, port_required=True)
    serve.set_defaults(func=_serve)
    drift = sub.add_parser("drift", help="compare another edition of the document with model/behaviour.yaml")
    drift.add_argument("document_file")
    drift.add_argument("--json", action="store_true")
    drift.add_argument("--against", choices=_editions(), default=None,
                       help="the shipped edition to compare with (default: 2022, the baseline)")
    drift.add_argument("--overlay", nargs="?", const="-", default=None, metavar="PATH",
                       help="write the new edition's overlay skeleton to PATH (never overwrites; "
                            "without PATH: print it instead of the report)")
    drift.set_defaults(func=_drift)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command != "run" and extra:
        print(f"certconform {args.command}: unrecognized arguments: {' '.join(extra)}", file=sys.stderr)
        return 2
    return args.func(args, extra)


if __name__ == "__main__":
    sys.exit(main())
