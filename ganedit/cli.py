"""The ``ganedit`` command line: run, validate, plugins, components, describe, schema, convert, serve."""

from __future__ import annotations

import argparse
import json
import sys
import typing
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel

from ganedit.errors import (EXIT_BROKEN_PIPE, EXIT_FAILURE, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_ITEMS_FAILED,
                            GanEditError)

EXIT_USAGE = EXIT_INPUT


def _registry(args: argparse.Namespace):
    from ganedit.registry import load_registry

    return load_registry(strict=True if getattr(args, "strict_plugins", False) else None)


# ----------------------------------------------------------------------------- commands
def cmd_run(args: argparse.Namespace) -> int:
    from ganedit.config import load_config
    from ganedit.runner import default_output, run

    registry = _registry(args)
    # --device / --seed are overrides like --set: applied before the config's one validation.
    overrides = list(args.set) + ([f"device={args.device}"] if args.device is not None else []) + \
        ([f"seed={args.seed}"] if args.seed is not None else [])
    config = load_config(args.config, overrides=overrides, registry=registry)
    summary = run(config, output=args.output, quiet=args.quiet, registry=registry)
    out = args.output or config.output or default_output(config)
    if not args.quiet:
        print(f"done: outputs in {out}")
        print(json.dumps(summary, indent=2, default=str))
    failed = failed_items(summary)
    if failed:
        # Said even with --quiet: a batch with failures must not look like a success.
        print(f"error: {failed}; see {Path(out) / 'metrics.json'}", file=sys.stderr)
        return EXIT_ITEMS_FAILED
    return 0


def failed_items(summary: dict[str, Any]) -> str | None:
    """"2 of 4 images failed" when a task's summary reports failed items (``num_failed`` with
    ``num_images`` or ``num_items``), else ``None``."""
    failed = summary.get("num_failed")
    if not isinstance(failed, int) or failed <= 0:
        return None
    total = summary.get("num_images", summary.get("num_items"))
    noun = "images" if "num_images" in summary else "items"
    return f"{failed} of {total} {noun} failed" if isinstance(total, int) else f"{failed} {noun} failed"


def cmd_validate(args: argparse.Namespace) -> int:
    from ganedit.config import check_weights, load_config

    registry = _registry(args)
    for path in args.configs:
        cfg = load_config(path, overrides=args.set, registry=registry)
        check_weights(cfg, registry)  # NaN/inf weights in any checkpoint the config names
        print(f"{path}: ok (task {cfg.task})")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    registry = _registry(args)
    rows = [p.as_dict() for p in registry.plugins]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for p in registry.plugins:
        line = f"{p.dist} {p.version}  [{p.status}]  entry point '{p.name}'"
        print(line)
        if p.components:
            print("    components: " + ", ".join(p.components))
        if p.formats:
            print("    checkpoint formats: " + ", ".join(p.formats))
        if p.error:
            print("    error: " + p.error)
        if p.warning:
            print("    warning: " + p.warning)
    if not registry.plugins:
        print("no plugins installed")
    return 0


def cmd_components(args: argparse.Namespace) -> int:
    from ganedit.interfaces import KINDS
    from ganedit.registry import iter_components

    registry = _registry(args)
    kinds = [args.kind] if args.kind else list(KINDS)
    for kind in kinds:
        entries = list(iter_components(registry, [kind]))
        if not entries:
            continue
        print(f"{kind}:")
        names = [e.name for e in entries]
        for e in entries:
            shown = e.qualified_name if names.count(e.name) > 1 else e.name
            print(f"  {shown:<28} {e.summary}  ({e.dist})")
    return 0


def _type_name(ann: Any) -> str:
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(ann)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " | ".join(_type_name(a) for a in typing.get_args(ann))
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(ann))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(ann))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if ann is type(None):
        return "None"
    return getattr(ann, "__name__", str(ann))


def describe_params(model: type[BaseModel], indent: str = "  ") -> list[str]:
    from ganedit.config import component_slots

    slots = component_slots(model)
    lines = []
    for name, f in model.model_fields.items():
        if name in slots:
            tname = f"component ({slots[name]})" + (" list" if "list" in str(f.annotation) else "")
        else:
            tname = _type_name(f.annotation)
        if f.is_required():
            default = "required"
        else:
            dv = f.get_default(call_default_factory=True)
            default = f"default {dv!r}"
        bounds = []
        for m in f.metadata:
            for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="), ("min_length", "min len"),
                              ("max_length", "max len")):
                v = getattr(m, attr, None)
                if v is not None:
                    bounds.append(f"{sym} {v}")
        b = f"; {', '.join(bounds)}" if bounds else ""
        lines.append(f"{indent}{name}: {tname} ({default}{b})")
        if f.description:
            lines.append(f"{indent}    {f.description}")
    return lines


def components_markdown(registry: Any, dists: Sequence[str] | None = None) -> str:
    """Markdown reference of every component (optionally only those of ``dists``)."""
    from ganedit.interfaces import KINDS
    from ganedit.registry import iter_components

    out = ["# Component reference", "",
           "Generated by `ganedit describe --all --markdown`; do not edit by hand.", ""]
    for kind in KINDS:
        entries = [e for e in iter_components(registry, [kind]) if dists is None or e.dist in dists]
        if not entries:
            continue
        out += [f"## {kind}", ""]
        for e in entries:
            out += [f"### `{e.name}` ({e.dist})", ""]
            if e.cls.__doc__:
                out += [" ".join(e.cls.__doc__.strip().split("\n\n")[0].split()), ""]
            lines = describe_params(e.params_model, indent="")
            if not lines:
                out += ["No parameters.", ""]
                continue
            out += ["```", *lines, "```", ""]
    return "\n".join(out).rstrip() + "\n"


def cmd_describe(args: argparse.Namespace) -> int:
    from ganedit.registry import RegistryError

    registry = _registry(args)
    if args.all:
        if args.markdown:
            print(components_markdown(registry), end="")
            return 0
        entries = list(registry.entries())
    elif args.name is None:
        raise RegistryError("describe needs a component NAME (or --all)")
    else:
        entries = registry.find(args.name)
    if args.kind:
        entries = [e for e in entries if e.kind == args.kind]
    if not entries:
        import difflib

        names = sorted({e.name for e in registry.entries()})
        hint = difflib.get_close_matches(args.name, names, n=1)
        raise RegistryError(f"no component named {args.name!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""))
    for e in entries:
        print(f"{e.kind} {e.name}  ({e.qualified_name}, {e.cls.__module__}.{e.cls.__qualname__})")
        print(f"  defined at {e.location}")
        if e.cls.__doc__:
            print("  " + e.cls.__doc__.strip().splitlines()[0])
        lines = describe_params(e.params_model)
        print("  params:" if lines else "  params: none")
        for line in lines:
            print("  " + line)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from ganedit.interfaces import KINDS

    registry = _registry(args)
    out: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": {}}
    for kind in KINDS:
        for e in registry.entries(kind):
            out["components"].setdefault(kind, {})[e.qualified_name] = e.params_model.model_json_schema()
    text = json.dumps(out, indent=2, default=str)
    if args.output:
        from ganedit.io.atomic import atomic_write_text

        atomic_write_text(args.output, text + "\n")
    else:
        print(text)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from ganedit.io.checkpoint import CheckpointError, check_weights_file, is_native, read_native_config
    from ganedit.io.output import check_destination

    registry = _registry(args)
    src = Path(args.src)
    if not src.is_file():
        raise CheckpointError(f"{src}: checkpoint not found")
    check_destination(args.dst, src=src, force=args.force)
    if args.format:
        found = [f for f in registry.formats if f.name == args.format]
        if not found:
            names = ", ".join(f.name for f in registry.formats) or "none installed"
            raise CheckpointError(f"unknown checkpoint format {args.format!r}; known: {names}")
        fmt = found[0]
    else:
        fmt = registry.sniff(src)
        if fmt is None:
            check_weights_file(src, registry)  # damaged weights are named first, whatever the format
            native = read_native_config(src) if is_native(src) else None
            if native is not None:
                raise CheckpointError(f"{src}: already a ganedit native checkpoint ({native.get('kind')} "
                                      f"{native.get('type')!r}); it loads as it is, there is nothing to convert")
            names = ", ".join(f.name for f in registry.formats) or "none installed"
            raise CheckpointError(f"{src}: not a checkpoint of any installed format ({names})")
    fmt.convert(src, Path(args.dst))
    print(f"{src} ({fmt.name}) -> {args.dst}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import gradio  # noqa: F401 - only to tell whether the optional extra is installed
    except ImportError:
        print("error: ganedit serve needs the web library gradio, which is not installed; install it with "
              "`pip install -e '.[serve]'` (or `pip install -r requirements.txt`)", file=sys.stderr)
        return EXIT_USAGE
    from ganedit.serve.app import serve
    from ganedit.serve.uploads import UploadLimits

    limits = UploadLimits(max_bytes=int(args.max_upload_mb * 2**20), max_pixels=args.max_pixels)
    return serve(args.configs, overrides=args.set, output=args.output, limits=limits, host=args.host,
                 port=args.port)


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganedit", description="GAN inversion and editing with plugins.")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("--strict-plugins", action="store_true", help="fail when a plugin fails to load")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command")

    r = sub.add_parser("run", help="run a config")
    r.add_argument("config")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    r.add_argument("--output", "-o", default=None, help="output folder (default runs/<config name>)")
    r.add_argument("--device", choices=["cpu", "cuda", "auto"], default=None)
    r.add_argument("--seed", type=int, default=None)
    r.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="validate configs and check their checkpoints' weights (nothing is built)")
    v.add_argument("configs", nargs="+")
    v.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    v.set_defaults(func=cmd_validate)

    pl = sub.add_parser("plugins", help="list installed plugins and their status")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=cmd_plugins)

    c = sub.add_parser("components", help="list registered components")
    c.add_argument("--kind", default=None)
    c.set_defaults(func=cmd_components)

    d = sub.add_parser("describe", help="show a component's parameters")
    d.add_argument("name", nargs="?")
    d.add_argument("--kind", default=None)
    d.add_argument("--all", action="store_true", help="every installed component")
    d.add_argument("--markdown", action="store_true", help="with --all: the docs/components.md reference")
    d.set_defaults(func=cmd_describe)

    s = sub.add_parser("schema", help="JSON Schema of every installed component's params")
    s.add_argument("--output", "-o", default=None)
    s.set_defaults(func=cmd_schema)

    cv = sub.add_parser("convert", help="convert a checkpoint to ganedit's native format")
    cv.add_argument("src")
    cv.add_argument("dst")
    cv.add_argument("--format", default=None, help="source format (default: sniffed)")
    cv.add_argument("--force", action="store_true", help="replace DST if it exists")
    cv.set_defaults(func=cmd_convert)

    sv = sub.add_parser("serve", help="interactive editor in the browser (invert, edit, download)")
    sv.add_argument("configs", nargs="*", metavar="CONFIG",
                    help="invert / swapae_swap / tcp_stylize configs, one tab each (default: the bundled ones)")
    sv.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a value of every config")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    sv.add_argument("--port", type=int, default=7860)
    sv.add_argument("--output", "-o", default="runs/serve", help="folder of the sessions' run folders")
    sv.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload in MiB (default 20)")
    sv.add_argument("--max-pixels", type=int, default=4096 * 4096,
                    help="largest upload in pixels, width x height (default 4096 x 4096)")
    sv.set_defaults(func=cmd_serve)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """The ``ganedit`` command; returns the exit status (see docs/cli.md, "Exit codes")."""
    from ganedit.io.output import is_disk_full

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        import ganedit

        print(f"ganedit {ganedit.__version__}")
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here for buffered output
        return status
    except BrokenPipeError:
        # The reader went away (`ganedit schema | head`): one line on stderr instead of a traceback,
        # and keep the interpreter from complaining again when it flushes stdout at exit.
        _silence_stdout()
        _error_lines("stdout was closed by its reader (broken pipe); the output was cut short")
        return EXIT_BROKEN_PIPE
    except GanEditError as exc:
        if args.debug:
            raise
        _error_lines(str(exc))
        return EXIT_INPUT
    except FloatingPointError as exc:  # training divergence (NonFiniteLossError): one clear line
        if args.debug:
            raise
        _error_lines(str(exc))
        return EXIT_FAILURE
    except OSError as exc:  # full disk, I/O error while writing outputs
        if args.debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        if is_disk_full(exc):
            _error_lines(f"{where}disk full ({exc.strerror or exc}); the files written before are complete "
                         f"and the one being written was not replaced")
        else:
            _error_lines(f"{where}{exc.strerror or exc}")
        return EXIT_FAILURE
    except KeyboardInterrupt as exc:
        print(f"interrupted: {exc}" if str(exc) else "interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _error_lines(message: str) -> None:
    for line in message.splitlines() or [""]:
        print(f"error: {line}", file=sys.stderr)


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced (tests) or already closed
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
