"""Cold start benchmark: each function's imports and module init in a fresh Python process vs ``import boto3``,
and the shared layer's unzipped size.

For every ``AWS::Serverless::Function`` of template.yaml (send, campaigns, webhook, optimizations) and a
baseline that only runs ``import boto3``, ``--repeats`` fresh interpreters are started, interleaved (one of
each per round, the order rotated every round) so machine noise hits all of them alike. Each child imports
the template's handler module (``Handler: app.lambda_handler`` -> ``import app``, then the attribute) and
reports the wall time of that import with ``time.perf_counter``: every import and all module-level code
(Powertools objects, route tables, models built at import). The table shows the median and minimum, the
median's ratio to the baseline's median, and PASS/MISS against the target: at most 2x ``import boto3``.

What the child sees is what Lambda gives the function (``--site lambda``, the default):

- ``sys.path``: the function's ``CodeUri`` folder, then a stand-in for ``/opt/python`` (the layer's folder
  and the installed distributions of its ``requirements.txt``, dependency closure without extras, linked
  from this venv), then a stand-in for the runtime's boto3 (boto3's own closure), then the stdlib. The
  interpreter runs with ``-I -S``: nothing else from the venv (aws-xray-sdk, rich, awscrt... which the
  layer and the runtime do not ship, and which Powertools, httpx or botocore would import when present).
  ``--site venv`` runs the children on the whole venv instead (the layer's folder first), for comparison.
- the environment: template.yaml's (Globals + the function's own, resolved by ``mmapi.stack``, with
  placeholder names for the stack's resources), Lambda's runtime variables (function name, memory size,
  region), and dummy credentials. ``socket`` is disabled in the child before the import: module init that
  reaches for the network (AWS or anything else) fails the run.

The layer's unzipped size is the apparent size (``du -sb``: every file's, directory's and link's own byte
count, hard links once; ``du -sh`` rounds up to disk blocks and shows more) of ``.aws-sam/build/SharedLayer``
if ``make build`` left one, else of a layer built the way ``sam build`` would for python3.12 on arm64 (``pip
install --platform manylinux2014_aarch64 --python-version 3.12 --only-binary=:all:`` into a temporary folder,
plus the layer's own files). Target: under 15,000,000 bytes (the runtime already has boto3, so the layer must
not ship it). Run from the repo root:

    python -m benchmarks.cold_start [--repeats 7] [--site lambda|venv] [--build-layer] [--profile send]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement

from benchmarks._common import ROOT, BenchTimeout, table, time_budget
from mmapi.stack import LocalStack

REGION = "us-east-1"
BASELINE = "import boto3"
TARGET_RATIO = 2.0
LAYER_LIMIT_BYTES = 15_000_000
BUILT_LAYER = ROOT / ".aws-sam" / "build" / "SharedLayer"
# Parameters template.yaml leaves without a default (placeholders: nothing is called).
PARAMETERS = {"PhoneNumberId": "100000000000001", "WabaId": "200000000000002"}
# The layer's runtime and architecture (template.yaml: python3.12, arm64), as pip selects wheels for it.
# AWS's managed Powertools layer (template.yaml), which Lambda unpacks into /opt beside the shared layer.
MANAGED_LAYER = ["aws-lambda-powertools", "aws-xray-sdk"]
LAYER_PLATFORM = ("--platform", "manylinux2014_aarch64", "--python-version", "3.12", "--implementation", "cp")

# The child: no network, the given sys.path, then the timed import (``boto3`` or the template's handler).
CHILD = """
import json, socket, sys, time
def _no_network(*args, **kwargs):
    raise OSError("cold_start: module init tried to use the network")
socket.getaddrinfo = socket.create_connection = socket.socket.connect = _no_network
paths, target = json.loads(sys.argv[1]), sys.argv[2]
sys.path[:0] = paths
import importlib
start = time.perf_counter()
if target == "boto3":
    import boto3
else:
    module, _, attr = target.rpartition(".")
    if not callable(getattr(importlib.import_module(module), attr)):
        raise SystemExit(f"{target} is not callable")
elapsed = time.perf_counter() - start
sys.stdout.write(json.dumps({"seconds": elapsed, "modules": len(sys.modules), "boto3": "boto3" in sys.modules}))
"""


def log(message: str) -> None:
    print(f"[cold_start] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------- targets


@dataclass
class Target:
    name: str  # "boto3" or the function's folder name (send, campaigns...)
    handler: str  # "boto3" or template Handler, e.g. app.lambda_handler
    paths: list[str]
    env: dict[str, str]
    seconds: list[float] = field(default_factory=list)
    process: list[float] = field(default_factory=list)
    modules: int = 0
    imports_boto3: bool = False


def template_stack() -> LocalStack:
    """template.yaml through ``mmapi.stack``, every resource given a placeholder physical name."""
    stack = LocalStack(stack_name="coldstart", region=REGION, parameters=PARAMETERS)
    for logical, res in stack.template["Resources"].items():
        service = res["Type"].split("::")[1].lower()
        name = f"{stack.stack_name}-{logical}"
        arn = f"arn:aws:{service}:{REGION}:{stack.account}:{name}"
        url = f"https://sqs.{REGION}.amazonaws.com/{stack.account}/{name}"
        ref = {"sqs": url, "secretsmanager": arn, "serverless": arn}.get(service, name)
        stack.physical[logical] = {"Ref": ref, "Arn": arn, "Name": name, "QueueName": name, "QueueUrl": url}
    return stack


def closure(requirements: list[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions of ``requirements`` and of everything they require (no extras)."""
    seen: dict[str, importlib.metadata.Distribution] = {}
    todo = list(requirements)
    while todo:
        req = Requirement(todo.pop())
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            dist = importlib.metadata.distribution(req.name)
        except importlib.metadata.PackageNotFoundError:
            raise RuntimeError(f"{req.name} is not installed here: pip install -e '.[dev]'") from None
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key not in seen:
            seen[key] = dist
            todo.extend(dist.requires or [])
    return list(seen.values())


def link_distributions(dists: list[importlib.metadata.Distribution], into: Path) -> None:
    """Symlink each distribution's top-level modules, packages and metadata folder into ``into``."""
    for dist in dists:
        for file in dist.files or []:
            top = file.parts[0]
            if top in ("..", "__pycache__") or (into / top).exists():
                continue
            (into / top).symlink_to(Path(str(dist.locate_file(top))))


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def lambda_site(stack: LocalStack, root: Path) -> tuple[Path, Path]:
    """Stand-ins for /opt/python (the layer) and the runtime's boto3, as folders of symlinks."""
    opt, runtime = root / "opt-python", root / "runtime"
    opt.mkdir()
    runtime.mkdir()
    for layer in stack.layer_dirs():
        for entry in layer.iterdir():
            if entry.name != "__pycache__" and not (opt / entry.name).exists():
                (opt / entry.name).symlink_to(entry)
        if (layer / "requirements.txt").exists():
            link_distributions(closure(requirement_lines(layer / "requirements.txt")), opt)
    link_distributions(closure(MANAGED_LAYER), opt)
    link_distributions(closure(["boto3"]), runtime)
    return opt, runtime


def lambda_env(stack: LocalStack, logical: str | None) -> dict[str, str]:
    """The environment Lambda gives the function: template.yaml's, the runtime's variables, dummy credentials."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "cold-start",
        "AWS_SECRET_ACCESS_KEY": "cold-start",
        "AWS_SESSION_TOKEN": "cold-start",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    }
    if logical is None:
        return env
    props = stack.functions()[logical]["Properties"]
    glob = stack.template.get("Globals", {}).get("Function", {})
    return {
        **env,
        "AWS_LAMBDA_FUNCTION_NAME": f"{stack.stack_name}-{logical}",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(props.get("MemorySize", glob.get("MemorySize", 128))),
        "LAMBDA_TASK_ROOT": str(stack.code_dir(logical)),
        "_HANDLER": stack.handler(logical),
        **stack.environment(logical),
    }


def targets(stack: LocalStack, site: str, tmp: Path, only: list[str] | None) -> list[Target]:
    opt, runtime = lambda_site(stack, tmp) if site == "lambda" else (None, None)
    layers = [str(opt)] if opt else [str(p) for p in stack.layer_dirs()]
    base = [str(runtime)] if runtime else []
    out = [Target("boto3", "boto3", base, lambda_env(stack, None))]
    for logical in stack.functions():
        code = stack.code_dir(logical)
        if only and code.name not in only:
            continue
        paths = [str(code), *layers, *base]
        out.append(Target(code.name, stack.handler(logical), paths, lambda_env(stack, logical)))
    return out


# ---------------------------------------------------------------------------------------- running


def child_command(site: str, target: Target, *flags: str) -> list[str]:
    isolation = ["-I", "-S"] if site == "lambda" else ["-I"]
    return [sys.executable, *isolation, *flags, "-c", CHILD, json.dumps(target.paths), target.handler]


def run_once(site: str, target: Target, timeout: float) -> None:
    started = time.perf_counter()
    done = subprocess.run(
        child_command(site, target),
        env=target.env,
        cwd=target.paths[0] if target.paths else ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{target.name}: child exited {done.returncode}:\n{done.stderr[-3000:]}")
    answer = json.loads(done.stdout)
    target.seconds.append(answer["seconds"])
    target.process.append(wall)
    target.modules = answer["modules"]
    target.imports_boto3 = answer["boto3"]


def measure(args: argparse.Namespace, all_targets: list[Target], deadline: float) -> None:
    rounds = args.warmup + args.repeats
    for r in range(rounds):
        if time.monotonic() > deadline:
            raise BenchTimeout(f"over the {args.timeout:g} s budget after {r} rounds")
        order = all_targets[r % len(all_targets) :] + all_targets[: r % len(all_targets)]
        for target in order:
            run_once(args.site, target, args.child_timeout)
        if r < args.warmup:  # first reads of every file from disk: not counted
            for target in all_targets:
                target.seconds.clear()
                target.process.clear()
        log(f"round {r + 1}/{rounds} done" + (" (warm-up)" if r < args.warmup else ""))


def profile(args: argparse.Namespace, target: Target) -> str:
    """One ``-X importtime`` child: the top modules by cumulative import time."""
    done = subprocess.run(
        child_command(args.site, target, "-X", "importtime"),
        env=target.env,
        capture_output=True,
        text=True,
        timeout=args.child_timeout,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            own, cumulative, name = line.removeprefix("import time:").split("|", 2)
            rows.append((int(cumulative), int(own), name.rstrip()))
    rows.sort(reverse=True)
    head = [["module (by cumulative import time)", "cumulative ms", "self ms"]]
    body = [[name, f"{cum / 1000:.1f}", f"{own / 1000:.1f}"] for cum, own, name in rows[: args.profile_top]]
    return table(head + body)


# ---------------------------------------------------------------------------------------- layer size


def apparent_size(path: Path) -> int:
    """``du -sb``: the apparent size of every file, directory and symlink under ``path``, hard links once."""
    total, seen = path.lstat().st_size, set()
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_nlink > 1 and not os.path.isdir(os.path.join(dirpath, name)):
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def build_layer(stack: LocalStack, into: Path, timeout: float) -> Path:
    """The layer as ``sam build`` (BuildMethod python3.12, arm64) makes it: requirements + the layer's files."""
    python = into / "SharedLayer" / "python"
    python.mkdir(parents=True)
    for layer in stack.layer_dirs():
        shutil.copytree(layer, python, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        if (layer / "requirements.txt").exists():
            log(f"pip install -r {layer / 'requirements.txt'} for python3.12 arm64 (manylinux2014_aarch64)")
            pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            requirements = ["-r", str(layer / "requirements.txt"), "-t", str(python), "--no-compile"]
            wheels = [*LAYER_PLATFORM, "--only-binary=:all:"]
            subprocess.run([*pip, *requirements, *wheels], check=True, timeout=timeout)
    return python.parent


def built_layer_state(stack: LocalStack) -> str | None:
    """Why ``make build``'s layer cannot be used (None: it can), and whether it is older than the sources."""
    if not BUILT_LAYER.is_dir():
        return "no .aws-sam/build/SharedLayer (make build)"
    for layer in stack.layer_dirs():
        wanted, built = layer / "requirements.txt", BUILT_LAYER / "python" / "requirements.txt"
        if wanted.exists() and (not built.exists() or built.read_text() != wanted.read_text()):
            return f"{BUILT_LAYER.relative_to(ROOT)} was built from another requirements.txt"
    return None


def layer_report(stack: LocalStack, args: argparse.Namespace, tmp: Path) -> tuple[bool, str]:
    unusable = "--build-layer" if args.build_layer else built_layer_state(stack)
    if unusable is None:
        layer, source = BUILT_LAYER, f"{BUILT_LAYER.relative_to(ROOT)} (make build)"
        sources = (p for d in stack.layer_dirs() for p in d.rglob("*") if "__pycache__" not in p.parts)
        if BUILT_LAYER.stat().st_mtime < max(p.stat().st_mtime for p in sources if p.is_file()):
            source += "; layers/shared changed since (its own files only: the dependencies are the same)"
    else:
        layer = build_layer(stack, tmp, args.pip_timeout)
        source = f"built here with pip for python3.12 arm64 ({unusable})"
    size = apparent_size(layer)
    python = layer / "python" if (layer / "python").is_dir() else layer
    groups: dict[str, int] = {}
    for entry in python.iterdir():
        key = "*.dist-info, *.data" if entry.suffix in (".dist-info", ".data") else entry.name
        groups[key] = groups.get(key, 0) + apparent_size(entry)
    passed = size < LAYER_LIMIT_BYTES
    lines = [
        f"layer: {source}",
        f"  unzipped (apparent size, du -sb): {size:,} bytes = {size / 1e6:.2f} MB ({size / 2**20:.2f} MiB)"
        f"  target < {LAYER_LIMIT_BYTES:,}  {'PASS' if passed else 'MISS'}",
        f"  top entries of {python.relative_to(layer.parent)}:",
    ]
    for name, nbytes in sorted(groups.items(), key=lambda kv: -kv[1])[: args.layer_top]:
        lines.append(f"    {name:<32} {nbytes:>12,}  {nbytes / size:6.1%}")
    return passed, "\n".join(lines)


# ---------------------------------------------------------------------------------------- report


def report(all_targets: list[Target], args: argparse.Namespace) -> tuple[bool, str]:
    base = statistics.median(all_targets[0].seconds)
    rows = [
        ["import", "median s", "min s", "vs boto3", "process s", "modules", "boto3", f"<= {TARGET_RATIO:g}x"]
    ]
    passed = True
    for t in all_targets:
        median = statistics.median(t.seconds)
        ratio = median / base
        ok = ratio <= TARGET_RATIO
        if t.name != "boto3":
            passed &= ok
        rows.append(
            [
                BASELINE if t.name == "boto3" else f"functions/{t.name} ({t.handler})",
                f"{median:.3f}",
                f"{min(t.seconds):.3f}",
                f"{ratio:.2f}x",
                f"{statistics.median(t.process):.3f}",
                str(t.modules),
                "yes" if t.imports_boto3 else "no",
                "" if t.name == "boto3" else ("PASS" if ok else "MISS"),
            ]
        )
    head = (
        f"cold start: import + module init in a fresh interpreter, median of {args.repeats} interleaved runs "
        f"(sys.path: {'Lambda-like, layer + runtime boto3 only' if args.site == 'lambda' else 'the whole venv'}; "
        f"python {sys.version.split()[0]})"
    )
    return passed, f"{head}\n{table(rows)}"


# ---------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cold_start", description=__doc__.splitlines()[0]
    )
    parser.add_argument("-r", "--repeats", type=int, default=7, help="measured runs per import (default: 7)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first (default: 1)")
    parser.add_argument(
        "--site",
        choices=("lambda", "venv"),
        default="lambda",
        help="children see only the layer and boto3 (lambda, default) or the whole venv",
    )
    parser.add_argument(
        "--function", action="append", metavar="NAME", help="only this function folder (repeatable)"
    )
    parser.add_argument("--profile", metavar="NAME", help="also print -X importtime's top modules of NAME")
    parser.add_argument("--profile-top", type=int, default=25, help="rows of --profile (default: 25)")
    parser.add_argument("--no-layer", action="store_true", help="skip the layer size")
    parser.add_argument(
        "--build-layer", action="store_true", help="build the layer with pip even if .aws-sam has one"
    )
    parser.add_argument("--layer-top", type=int, default=10, help="largest layer entries shown (default: 10)")
    parser.add_argument("--child-timeout", type=float, default=60.0, help="seconds per child process")
    parser.add_argument(
        "--pip-timeout", type=float, default=600.0, help="seconds for the layer's pip install"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="whole-run budget in seconds")
    parser.add_argument(
        "--strict", action="store_true", help="exit 2 when a target is missed (default: only errors fail)"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be positive, --warmup not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    deadline = time.monotonic() + args.timeout

    time_budget(args.timeout)
    stack = template_stack()
    try:
        with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
            all_targets = targets(stack, args.site, Path(tmp), args.function)
            known = {t.name for t in all_targets}
            if args.function and (missing := set(args.function) - known):
                log(f"no such function folder: {', '.join(sorted(missing))}")
                return 1
            log(f"{len(all_targets)} imports x ({args.warmup} warm-up + {args.repeats}) fresh processes")
            measure(args, all_targets, deadline)
            imports_ok, text = report(all_targets, args)
            print(text, flush=True)
            if args.profile:
                chosen = next((t for t in all_targets if t.name == args.profile), None)
                if chosen is None:
                    log(f"--profile: no such import {args.profile!r} (have: {', '.join(sorted(known))})")
                    return 1
                print(f"\n-X importtime of {chosen.name}:\n{profile(args, chosen)}", flush=True)
            layer_ok = True
            if not args.no_layer:
                layer_ok, text = layer_report(stack, args, Path(tmp))
                print(f"\n{text}", flush=True)
    except (BenchTimeout, KeyboardInterrupt) as exc:
        print(
            f"cold_start: {'timeout: ' if isinstance(exc, BenchTimeout) else 'interrupted'}{exc}",
            file=sys.stderr,
        )
        return 3 if isinstance(exc, BenchTimeout) else 130
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        print(f"cold_start: error: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
    return 2 if args.strict and not (imports_ok and layer_ok) else 0


if __name__ == "__main__":
    raise SystemExit(main())
