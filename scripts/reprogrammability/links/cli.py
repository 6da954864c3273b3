"""``repro links``: check every URL, relative link and anchor in the data and the docs.

Exit codes: 0 nothing dead (redirects and bot walls are warnings), 1 something is dead, failed
after retries, or points at a private address, 2 usage error (bad flag, config, revision, path).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import (
    DEFAULT_CONFIG,
    ConfigError,
    compile_excludes,
    load_config,
    parse_allow_entry,
    parse_codes,
    parse_duration,
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Check every URL in data/papers.yaml and the rendered markdown (absolute links, relative "
        "links, #anchors), concurrently, with retries and a cache of recent successes."
    )
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="FILE",
        help="files to check (.yaml = papers database, else markdown); default: the papers "
        "database and the markdown globs in links.toml",
    )
    parser.add_argument("--root", default=".", help="repository root (default: .)")
    parser.add_argument(
        "--config", help=f"configuration file (default: ROOT/{DEFAULT_CONFIG} if present)"
    )

    what = parser.add_argument_group("what to check")
    what.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="REGEX",
        help="skip URLs matching REGEX (added to the config's; repeatable)",
    )
    what.add_argument(
        "--accept",
        metavar="CODES",
        help="accepted status codes, replacing the config's (e.g. '200..=299,403')",
    )
    what.add_argument(
        "--changed-only",
        action="store_true",
        help="check only remote URLs added since --base (local links are always checked)",
    )
    what.add_argument("--base", metavar="REV", help="git revision --changed-only compares against")
    what.add_argument(
        "--offline", action="store_true", help="check relative links and anchors only; no network"
    )
    what.add_argument(
        "--no-arxiv-api",
        dest="arxiv_api",
        action="store_false",
        default=None,
        help="check arXiv links over plain HTTP instead of the arXiv API",
    )
    what.add_argument(
        "--allow-private",
        action="store_true",
        default=None,
        help="allow every private/loopback/link-local target (tests and local servers)",
    )
    what.add_argument(
        "--allow-private-host",
        action="append",
        default=[],
        metavar="HOST|ADDRESS|CIDR",
        help="allow this one non-public host name, address or network (e.g. a local mirror: "
        "mirror.lan, 10.0.0.5, 10.0.0.0/8), added to links.toml's allow_private_hosts; "
        "repeatable",
    )

    how = parser.add_argument_group("how hard to try")
    how.add_argument("--concurrency", type=int, metavar="N", help="requests in flight at once")
    how.add_argument("--per-host", type=int, metavar="N", help="requests in flight per host")
    how.add_argument(
        "--timeout",
        metavar="SECONDS",
        help="the most one request may take, from connecting to the last byte read "
        "(sets --connect-timeout and --read-timeout)",
    )
    how.add_argument("--connect-timeout", metavar="SECONDS", help="the most a connect may take")
    how.add_argument(
        "--read-timeout",
        metavar="SECONDS",
        help="the most one request may take in all: a deadline over connect, headers and "
        "body, not a limit per read (a longer --connect-timeout extends it)",
    )
    how.add_argument("--retries", type=int, metavar="N", help="retries after the first attempt")
    how.add_argument(
        "--backoff-base", metavar="SECONDS", help="first retry wait (doubles each time)"
    )
    how.add_argument(
        "--max-wait", metavar="SECONDS", help="cap on any single retry wait, Retry-After included"
    )
    how.add_argument("--max-redirects", type=int, metavar="N")

    cache = parser.add_argument_group("cache")
    cache.add_argument(
        "--cache", metavar="PATH", help="cache file (default from config: .cache/links.json)"
    )
    cache.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    cache.add_argument("--max-cache-age", metavar="AGE", help="e.g. 3600, 12h, 1d")

    out = parser.add_argument_group("output")
    out.add_argument("--json", metavar="PATH", help="write the full results as JSON")
    out.add_argument("--markdown", metavar="PATH", help="write a markdown report (for an issue)")
    out.add_argument(
        "-v", "--verbose", action="store_true", help="list every link, not just problems"
    )
    out.add_argument("-q", "--quiet", action="store_true", help="list failures only")
    out.add_argument(
        "--github",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="emit GitHub annotations (default: when GITHUB_ACTIONS=true)",
    )


def _usage(message: str) -> int:
    print(f"repro links: error: {message}", file=sys.stderr)
    return 2


def _overrides(args: argparse.Namespace) -> dict:
    """CLI flags as Config changes (None = keep). Raises ConfigError on a bad value."""

    def positive(name: str, value: int | None, low: int = 1) -> int | None:
        if value is not None and value < low:
            raise ConfigError(f"--{name.replace('_', '-')}: must be at least {low}")
        return value

    def seconds(flag: str, value: str | None) -> float | None:
        return None if value is None else parse_duration(value, flag)

    def timeout_of(flag: str, value: str | None) -> float | None:
        parsed = seconds(flag, value)
        if parsed is not None and parsed <= 0:
            raise ConfigError(f"{flag}: must be more than 0 seconds")
        return parsed

    timeout = timeout_of("--timeout", args.timeout)
    changes = {
        "concurrency": positive("concurrency", args.concurrency),
        "per_host": positive("per_host", args.per_host),
        "retries": positive("retries", args.retries, 0),
        "max_redirects": positive("max_redirects", args.max_redirects, 0),
        "connect_timeout": timeout_of("--connect-timeout", args.connect_timeout) or timeout,
        "read_timeout": timeout_of("--read-timeout", args.read_timeout) or timeout,
        "backoff_base": seconds("--backoff-base", args.backoff_base),
        "backoff_max": seconds("--max-wait", args.max_wait),
        "max_cache_age": seconds("--max-cache-age", args.max_cache_age),
        "allow_private": args.allow_private,
        "arxiv_api": args.arxiv_api,
        "cache_path": args.cache,
    }
    if args.accept is not None:
        changes["accept"] = parse_codes(args.accept, "--accept")
    for entry in args.allow_private_host:
        parse_allow_entry(entry, "--allow-private-host")
    if args.no_cache:
        changes["cache"] = False
    return changes


def run(args: argparse.Namespace) -> int:
    from . import report
    from .cache import LinkCache
    from .extract import ExtractError, default_inputs, extract_file, relpath_of
    from .runner import GitError, added_urls, check_links

    root = Path(args.root).resolve()
    if not root.is_dir():
        return _usage(f"--root {args.root}: not a directory")
    if args.changed_only and not args.base:
        return _usage("--changed-only needs --base REV (e.g. --base origin/main)")
    if args.base and not args.changed_only:
        return _usage("--base only makes sense with --changed-only")
    if args.verbose and args.quiet:
        return _usage("--verbose and --quiet contradict each other")

    config_path = Path(args.config) if args.config else root / DEFAULT_CONFIG
    try:
        cfg = load_config(config_path if (args.config or config_path.is_file()) else None)
        changes = _overrides(args)
        if args.exclude:
            compile_excludes(args.exclude, "--exclude")
            changes["exclude"] = (*cfg.exclude, *args.exclude)
        if args.allow_private_host:
            changes["allow_private_hosts"] = (*cfg.allow_private_hosts, *args.allow_private_host)
        cfg = cfg.with_overrides(**changes)
    except ConfigError as exc:
        return _usage(str(exc))

    if args.inputs:
        inputs = [Path(p) for p in args.inputs]
        missing = [str(p) for p in inputs if not p.is_file()]
        if missing:
            return _usage(f"no such file: {', '.join(missing)}")
    else:
        inputs = default_inputs(root, cfg.papers, cfg.markdown)
        if not inputs:
            return _usage(
                f"nothing to check under {root} ({cfg.papers}, {', '.join(cfg.markdown)})"
            )
    rels = [relpath_of(p, root) for p in inputs]

    links = []
    try:
        for path in inputs:
            links.extend(extract_file(path, root))
    except ExtractError as exc:
        print(f"repro links: {exc}", file=sys.stderr)
        return 1

    only = None
    if args.changed_only:
        try:
            only = added_urls(root, args.base, rels, links)
        except GitError as exc:
            return _usage(str(exc))
        print(f"repro links: {len(only)} URL(s) added since {args.base}", file=sys.stderr)

    cache = None
    if cfg.cache and not args.offline:
        cache_file = Path(cfg.cache_path)
        cache = LinkCache.load(
            cache_file if cache_file.is_absolute() else root / cache_file, cfg.max_cache_age
        )

    checked, warnings = check_links(
        links, cfg, root, cache=cache, offline=args.offline, only_urls=only
    )
    if cache is not None:
        try:
            cache.save()
        except OSError as exc:
            warnings.append(f"cannot write the link cache {cache.path}: {exc.strerror}")

    report.print_console(
        checked,
        warnings,
        sys.stdout,
        verbose=args.verbose,
        quiet=args.quiet,
        github=args.github,
        files=len(inputs),
    )
    from ..atomic import write_text_atomic

    try:
        if args.json:
            write_text_atomic(args.json, report.to_json(checked, warnings, inputs=rels))
        if args.markdown:
            write_text_atomic(args.markdown, report.to_markdown(checked, warnings, inputs=rels))
    except OSError as exc:
        return _usage(f"cannot write report: {exc}")
    return report.exit_code(checked)
