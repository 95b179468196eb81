"""The `certconform` command line.

    certconform run   --mdm SPEC [--edition 2022|2024] [--strict] [--report-dir DIR] [pytest args...]
                                                                       run the conformance suite, write reports/
    certconform serve --port PORT [--host 127.0.0.1] [--token TOKEN | --token-file PATH] [--allow-host NAME ...]
                      [--realistic [--revocation-delay S] [--removal-delay S]]
                                                                       serve the bundled mock MDM over HTTP
    certconform serve --graph --port PORT [--token T] [--page-size N] [--throttle-every N] [--retry-after S]
                      [--pool PLATFORM=N,...] [--revocation-delay S] [--removal-delay S] [--fault NAME]
                                                                       serve a Microsoft Graph emulator over the
                                                                       realistic mock (docs/graph-wire.md)
    certconform run   --resume DIR                                    continue the interrupted run of DIR's journal
    certconform plan  --mdm SPEC [--cells N] [--unattended]              what a run would do, from capabilities()
    certconform report --journal DIR [--report-dir OUT]                  rebuild the reports from a journal
    certconform drift DOC [--json] [--against EDITION] [--overlay [PATH]]
                                                                       compare another edition of the document
    certconform requirements [--edition E] [--platform P] [--format table|json|markdown|html]
                                                                       the requirement matrix: what each cell demands
    certconform document fetch [--edition 2022|2024] [--if-missing] [--base-url URL]
                                                                       download the article into the user's cache
                                                                       (pinned commit and sha256; docs/article.md)
    certconform document where [--edition 2022|2024]                   say where each edition is found
    certconform fuzz  --mdm SPEC [--workers N] [--database URL] [--budget SECONDS] [--no-dashboard]
                                                                       a HypoFuzz campaign over a shared example
                                                                       database (docs/fuzz.md)
    certconform rehearse [--time-scale 3600] [--shards 4] [--allow-destructive] [--dry-run] ...
                                                                       the Intune campaign against the Graph
                                                                       emulator (docs/intune.md)
    certconform --version

Every problem with the command line or its inputs is one line on stderr and a non-zero exit:
4 for `run` (pytest's usage-error code; no report is written or overwritten), 2 for `serve`,
`drift`, `document`, `fuzz` and the top level (argparse's). `run` checks its own options and the
--hypothesis-profile it passes on before pytest starts; the plugin checks them again for plain
`pytest` runs and loads the implementation (import, server reachable) before any report writer
is set up.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pytest

RUN_USAGE_ERROR = 4  # pytest.ExitCode.USAGE_ERROR
USAGE_ERROR = 2  # argparse's


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the command (no usage block), and `run`'s
    exit code is pytest's usage-error code."""

    exit_code = USAGE_ERROR

    def error(self, message: str):
        self.exit(self.exit_code, f"{self.prog}: {message}\n")


class _RunUsage:
    """Passed to pytest.main by `certconform run`: pytest's own usage errors (an unrecognized
    argument, a missing option value) become one line naming `certconform run`, not
    `pytest.main()` with a usage block (public hook `pytest_cmdline_parse`, which exists for
    in-process runs)."""

    @staticmethod
    def _one_line(text: str) -> str:
        lines = [line.strip() for line in str(text).splitlines() if line.strip()]
        error = next((line.split(": error: ", 1)[1] for line in lines if ": error: " in line), None)
        return f"certconform run: {error}" if error else " ".join(lines)

    @pytest.hookimpl(wrapper=True)
    def pytest_cmdline_parse(self, pluginmanager, args):
        try:
            return (yield)
        except pytest.UsageError as exc:
            raise pytest.UsageError(self._one_line("\n".join(map(str, exc.args)))) from None


def _option_value(args: list[str], name: str) -> str | None:
    """The value of `--name VALUE` / `--name=VALUE` among pass-through pytest arguments (last wins)."""
    value = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def _run_problem(args: argparse.Namespace, extra: list[str], report_dir: Path) -> str | None:
    """The first problem with `run`'s inputs that can be seen without starting pytest."""
    from certconform.usage import document_problem, profile_problem, spec_problem, writable_dir_problem

    problem = writable_dir_problem(report_dir)
    if problem:
        return f"--report-dir {report_dir}: {problem}"
    problem = spec_problem(args.mdm)
    if problem:
        return f"--mdm {args.mdm}: {problem}"
    if args.document is not None:
        problem = document_problem(Path(args.document).resolve())
        if problem:
            return f"--document: {problem}"
    profile = _option_value(extra, "--hypothesis-profile")
    problem = profile_problem(profile)
    if problem:
        return f"--hypothesis-profile: {problem}"
    return None



def _run(args: argparse.Namespace, extra: list[str]) -> int:
    if args.resume is not None:
        return _resume(args, extra)
    report_dir = Path(args.report_dir).resolve()
    problem = _run_problem(args, extra, report_dir)
    if problem:
        print(f"certconform run: {problem}", file=sys.stderr)
        return RUN_USAGE_ERROR
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
        "-p", "no:anyio",  # not used by the suite; importing anyio cost ~0.1 s a run
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
    return int(pytest.main(pytest_args, plugins=[_RunUsage()]))


def _resume(args: argparse.Namespace, extra: list[str]) -> int:
    """`certconform run --resume DIR`: the interrupted run of DIR's journal, continued with its own
    arguments (finished cells are replayed from the journal, cells in flight start again once their
    objects are cleaned up); any further arguments are added to the interrupted run's."""
    from certconform import journal

    path = journal.path_of(Path(args.resume).resolve())
    try:
        run = journal.first_run(journal.read(path))
    except OSError as exc:
        print(f"certconform run: --resume {args.resume}: {exc.strerror or exc}", file=sys.stderr)
        return RUN_USAGE_ERROR
    if run is None or not isinstance(run.get("argv"), list):
        print(f"certconform run: --resume {args.resume}: {path} is not a certconform journal", file=sys.stderr)
        return RUN_USAGE_ERROR
    argv = [a for a in run["argv"] if not a.startswith("--journal-resume")]
    os.chdir(run.get("cwd") or os.getcwd())
    return int(pytest.main([*argv, f"--journal-resume={path}", *extra], plugins=[_RunUsage()]))


def _plan(args: argparse.Namespace, extra: list[str]) -> int:
    """`certconform plan --mdm SPEC`: what a run would do, from capabilities() alone."""
    from certconform import package_dir
    from certconform.usage import spec_problem

    problem = spec_problem(args.mdm)
    if problem:
        print(f"certconform plan: --mdm {args.mdm}: {problem}", file=sys.stderr)
        return RUN_USAGE_ERROR
    suite = package_dir("conformance")
    code = pytest.main([str(suite), f"--rootdir={suite.parent}", "-p", "no:cacheprovider", "-p", "no:anyio",
                        "-W", "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning",
                        "-q", "--no-header", "--certconform-plan", f"--mdm={args.mdm}", f"--edition={args.edition}",
                        *([f"--mdm-token={args.mdm_token}"] if args.mdm_token else []),
                        *([f"--cells={args.cells}"] if args.cells else []),
                        *(["--unattended"] if args.unattended else []), *extra], plugins=[_RunUsage()])
    return 0 if code in (0, 5) else int(code)  # (5: no test ran, which is what a plan is)


def _report(args: argparse.Namespace, extra: list[str]) -> int:
    """`certconform report --journal DIR`: rebuild the reports from the journal alone."""
    from certconform import journal

    try:
        print(journal.rebuild(Path(args.journal).resolve(), args.report_dir))
    except (OSError, ValueError, KeyError) as exc:
        print(f"certconform report: --journal {args.journal}: {exc}", file=sys.stderr)
        return USAGE_ERROR
    return 0


def _serve(args: argparse.Namespace, extra: list[str]) -> int:
    from certconform.mdm.serve_options import serve_from_args

    return serve_from_args(args, "certconform serve")


def _drift(args: argparse.Namespace, extra: list[str]) -> int:
    from certconform.drift import main as drift_main

    return drift_main(args.document_file, as_json=args.json, against=args.against, overlay=args.overlay)


def _document(args: argparse.Namespace, extra: list[str]) -> int:
    from certconform.article import main as document_main

    return document_main(args)


def _fuzz(args: argparse.Namespace, extra: list[str]) -> int:
    from certconform.fuzz import main as fuzz_main

    return fuzz_main(args)


def _editions() -> list[str]:
    from certconform.model.behaviour import editions

    return list(editions())


def build_parser() -> argparse.ArgumentParser:
    from certconform import __version__

    parser = OneLineParser(prog="certconform", description=__doc__.split("\n\n")[0])
    parser.add_argument("-V", "--version", action="version", version=f"certconform {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    run = sub.add_parser("run", help="run the conformance suite and write reports/ (other arguments go to pytest)")
    run.exit_code = RUN_USAGE_ERROR
    run.add_argument("--mdm", default=os.environ.get("CERTCONFORM_MDM", "mock"),
                     help="reference, mock (default), http://HOST:PORT or package.module:attr")
    run.add_argument("--mdm-token", default=None, help="bearer token for http:// (default: env MDM_TOKEN)")
    run.add_argument("--report-dir", default="reports", help="where reports are written (default: ./reports)")
    run.add_argument("--document", default=None,
                     help="the article's file for --edition (default: env CERTCONFORM_DOCUMENT, the cache of "
                          "`certconform document fetch`, ../shared/spec-source)")
    run.add_argument("--strict", action="store_true",
                     help="also fail on departures from our readings (verdict 'deviates'), not only from the document")
    run.add_argument("--edition", choices=_editions(), default=os.environ.get("CERTCONFORM_EDITION") or "2022",
                     help="edition of the document to judge by (default 2022, the one the suite was built on)")
    run.add_argument("--resume", default=None, metavar="DIR",
                     help="continue the interrupted run whose reports (and journal.jsonl) are in DIR")
    run.set_defaults(func=_run)
    plan = sub.add_parser("plan", help="print what a run would do (cells, events, destructive actions, people, "
                                       "requests, expected wall time) from capabilities() alone")
    plan.exit_code = RUN_USAGE_ERROR
    plan.add_argument("--mdm", default=os.environ.get("CERTCONFORM_MDM", "mock"))
    plan.add_argument("--mdm-token", default=None)
    plan.add_argument("--cells", type=int, default=None, help="cells in flight at most (as for run)")
    plan.add_argument("--unattended", action="store_true", help="plan a run without a person at hand")
    plan.add_argument("--edition", choices=_editions(), default=os.environ.get("CERTCONFORM_EDITION") or "2022")
    plan.set_defaults(func=_plan)
    report = sub.add_parser("report", help="rebuild the reports from a run's journal")
    report.add_argument("--journal", required=True, metavar="DIR", help="the report directory holding journal.jsonl (or its path)")
    report.add_argument("--report-dir", default=None, help="where to write them (default: the journal's directory)")
    report.set_defaults(func=_report)
    serve = sub.add_parser("serve", help="serve the bundled mock MDM over the contract's HTTP binding (or, with --graph, as Microsoft Graph)")
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
    req = sub.add_parser("requirements", help="print the requirement matrix: what the suite demands of each "
                                              "platform x kind x situation x CA, and why")
    from certconform.model.behaviour import ALL_PLATFORMS
    from certconform.requirements import FORMATS

    req.add_argument("--edition", choices=_editions(), default=None,
                     help="edition of the document (default: the one in force, 2022 unless CERTCONFORM_EDITION)")
    req.add_argument("--platform", choices=ALL_PLATFORMS, default=None, help="only this platform's cells")
    req.add_argument("--format", choices=FORMATS, default="table", help="table (default), json, markdown or html")
    req.set_defaults(func=_requirements)
    document = sub.add_parser("document", help="get the article (the specification) onto this machine")
    actions = document.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    fetch = actions.add_parser("fetch", help="download an edition into the user's cache (pinned commit, checked sha256)")
    fetch.add_argument("--edition", choices=_editions(), default=None, help="one edition (default: every edition)")
    fetch.add_argument("--if-missing", action="store_true",
                       help="only editions that no place of the lookup order has (--document aside)")
    fetch.add_argument("--base-url", default=None, metavar="URL",
                       help="a stand-in for the public repository: URL/COMMIT/PATH is fetched "
                            "(default: env CERTCONFORM_ARTICLE_BASE_URL, else raw.githubusercontent.com/MicrosoftDocs/memdocs)")
    where = actions.add_parser("where", help="where the lookup order finds each edition")
    where.add_argument("--edition", choices=_editions(), default=None, help="one edition (default: every edition)")
    document.set_defaults(func=_document)
    fuzz = sub.add_parser("fuzz", help="a long HypoFuzz exploration campaign over a shared example database")
    from certconform.fuzz import add_arguments as add_fuzz_arguments

    add_fuzz_arguments(fuzz)
    fuzz.set_defaults(func=_fuzz)
    # parsed by certconform.rehearse itself (main() hands it every argument); listed here for --help
    sub.add_parser("rehearse", add_help=False,
                   help="rehearse the Intune campaign against the Graph emulator (certconform rehearse --help)")
    return parser


def _requirements(args: argparse.Namespace, extra: list[str]) -> int:
    from certconform.requirements import requirements_main

    return requirements_main(args.edition, args.platform, args.format)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["rehearse"]:
        from certconform.rehearse import main as rehearse_main

        return rehearse_main(argv[1:])
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command not in ("run", "plan") and extra:
        print(f"certconform {args.command}: unrecognized arguments: {' '.join(extra)}", file=sys.stderr)
        return USAGE_ERROR
    return args.func(args, extra)


if __name__ == "__main__":
    sys.exit(main())
