"""``mmapi`` as a user runs it, in a subprocess: bad input is one line on stderr (exit 2), Ctrl-C and SIGTERM
end it quietly (130, 143) and leave no moto server behind, ``mmapi invoke`` shows the function's logs and
targets a running ``mmapi local up``. Loopback only; every run is bounded by a timeout."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from handlers import load_event

from mmcore.meta.messages import parse_send_request

ROOT = Path(__file__).resolve().parents[2]
SEEDS = str(ROOT / "events" / "send_seeds.json")


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """No AWS credentials, region or queue from the caller's machine, the instance metadata service off (no
    request leaves the loopback), and a private state folder for ``local up``'s description."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEND_QUEUE", "TABLE_NAME"))}
    return {
        **keep,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "MMAPI_STATE_DIR": str(tmp_path / "state"),
    }


def mmapi(*argv: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mmapi", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung endpoint)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def assert_one_line(done: subprocess.CompletedProcess[str], code: int, *names: str) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------- bad input: one line, exit 2


def test_bad_arguments_are_one_line_naming_the_option(env, tmp_path):
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "broken.json").write_text("{mps: 1")
    cases = [
        (["demo", "--recipients", "-5"], ["--recipients", "at least 1", "-5"]),
        (["demo", "--recipients", "many"], ["--recipients", "'many'"]),
        (["simulator", "--config", str(tmp_path / "missing.json")], ["--config", "missing.json"]),
        (["simulator", "--config", str(tmp_path / "broken.json")], ["--config", "not valid JSON"]),
        (["simulator", "--config", str(tmp_path / "list.json")], ["--config", "JSON object"]),
        (["simulator", "--port", "70000"], ["--port", "65535"]),
        (["simulator", "--fallback-ratio", "2"], ["--fallback-ratio", "between 0 and 1"]),
        (["local", "up", "--port", "-1"], ["--port"]),
        (["templates", "list", "--api-url", "localhost:3000"], ["--api-url", "http(s) URL"]),
        (["templates", "list", "--limit", "0"], ["--limit"]),
        (["invoke", "SendFunction", "-e", str(tmp_path / "nope.json")], ["--event", "nope.json"]),
        (["campaign", "send", str(tmp_path / "nope.csv"), "--campaign", "{}"], ["csv", "nope.csv"]),
        (["frobnicate"], ["invalid choice", "frobnicate"]),
    ]
    for argv, names in cases:
        assert_one_line(mmapi(*argv, env=env), 2, *names)


def test_a_simulator_knob_out_of_range_names_the_knob(env):
    assert_one_line(mmapi("simulator", "--config", '{"mps": "fast"}', env=env), 2, "mps")


def test_an_unknown_function_lists_the_templates_functions(env):
    line = assert_one_line(mmapi("invoke", "NoSuchFunction", "-e", SEEDS, env=env), 2, "NoSuchFunction")
    assert "SendFunction" in line


def test_an_unreachable_api_is_one_line_naming_the_url_and_quick(env):
    port = closed_port()
    started = time.monotonic()
    for argv, path in (
        (["templates", "list"], "/templates"),
        (["campaign", "report", "c-1"], "/campaigns/c-1"),
        (["campaign", "send", str(SEEDS), "--campaign", CAMPAIGN], "/campaigns"),
    ):
        done = mmapi(*argv, "--api-url", f"http://127.0.0.1:{port}", env=env)
        assert_one_line(done, 2, f"http://127.0.0.1:{port}{path}", "cannot reach")
    assert time.monotonic() - started < 20


def test_no_aws_credentials_is_one_line(env):
    done = mmapi(
        "campaign", "report", "c-1", "--iam", "--api-url", f"http://127.0.0.1:{closed_port()}", env=env
    )
    assert_one_line(done, 2, "no AWS credentials")


CAMPAIGN = '{"name": "x", "phone_number_id": "1", "template": {"name": "t", "language": {"code": "en_US"}}}'


def test_campaign_send_to_an_unreachable_aws_endpoint_names_it(env, tmp_path):
    csv = tmp_path / "audience.csv"
    csv.write_text("to\n919876543210\n")
    url = f"http://127.0.0.1:{closed_port()}"
    env = {**env, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    argv = ["--direct", "--queue-url", f"{url}/q", "--endpoint-url", url, "--api-url", url]
    argv += ["--region", "us-east-1"]
    assert_one_line(mmapi("campaign", "send", str(csv), "--campaign", CAMPAIGN, *argv, env=env), 2, url)


def test_campaign_send_without_aws_credentials_says_how_to_give_them(env, tmp_path):
    csv = tmp_path / "audience.csv"
    csv.write_text("to\n919876543210\n")
    argv = ["--direct", "--queue-url", "https://sqs.us-east-1.amazonaws.com/123456789012/q"]
    argv += ["--region", "us-east-1"]
    done = mmapi("campaign", "send", str(csv), "--campaign", CAMPAIGN, *argv, env=env)
    assert_one_line(done, 2, "no AWS credentials", "--endpoint-url")


def test_campaign_send_without_a_queue_says_which_option(env, tmp_path):
    csv = tmp_path / "audience.csv"
    csv.write_text("to\n919876543210\n")
    done = mmapi("campaign", "send", str(csv), "--campaign", '{"name": "x"}', "--direct", env=env)
    assert_one_line(done, 2, "--queue-url", "SEND_QUEUE_URL")


def test_a_running_stack_that_is_not_there_is_one_line(env):
    done = mmapi("invoke", "SendFunction", "-e", SEEDS, "--stack", env=env)
    assert_one_line(done, 2, "no running `mmapi local up`")


# ---------------------------------------------------------------- local up: ports, signals, no orphan


def moto_of(pid: int) -> int | None:
    """The pid of the moto server that ``pid`` started (its ``--parent-pid``), if one is running."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            at = argv.index(b"--parent-pid") if b"--parent-pid" in argv else -1
            if b"mmapi.motoserver" in argv and at >= 0 and argv[at + 1] == str(pid).encode():
                return int(entry.name)
    return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


class LocalUp:
    """``mmapi local up`` in a subprocess, with Ctrl-C deliverable (a shell's background job ignores it)."""

    def __init__(self, env: dict[str, str], port: int = 0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mmapi", "local", "up", "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.info = self._first_line(timeout=60)
        self.moto = moto_of(self.proc.pid)

    def _first_line(self, timeout: float) -> dict:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not lines or not lines[0]:
            self.proc.kill()
            raise AssertionError(f"local up did not start: {self.proc.communicate(timeout=10)[1][-2000:]}")
        return json.loads(lines[0])

    def stop(self, signum: int) -> tuple[int, str]:
        self.proc.send_signal(signum)
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_local_up_quietly_and_reaps_its_moto_server(env, signum, code):
    stack = LocalUp(env)
    state = Path(env["MMAPI_STATE_DIR"]) / "local-up.json"
    assert stack.moto and alive(stack.moto) and state.exists()
    returncode, err = stack.stop(signum)
    assert returncode == code, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("mmapi local up: ")
    assert wait_gone(stack.moto, timeout=5), f"moto server {stack.moto} outlived local up"
    assert not state.exists()


def test_moto_server_stops_by_itself_when_local_up_is_killed(env):
    stack = LocalUp(env)
    stack.proc.kill()
    stack.proc.communicate(timeout=10)
    assert wait_gone(stack.moto, timeout=10), f"moto server {stack.moto} outlived a SIGKILLed local up"


def test_a_taken_port_is_one_line_naming_it_and_starts_nothing(env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "mmapi", "local", "up", "--port", str(port)],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        _, err = proc.communicate(timeout=60)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, "", err)
    assert_one_line(done, 2, f"port {port}", "already in use")
    assert moto_of(proc.pid) is None


def test_invoke_runs_a_sample_send_on_the_running_stack_and_shows_its_logs(env):
    stack = LocalUp(env)
    try:
        for run, how in enumerate((["--stack"], ["--stack-url", stack.info["api_url"]])):
            done = mmapi("invoke", "SendFunction", "-e", SEEDS, *how, env=env, timeout=90)
            assert done.returncode == 0, done.stderr
            answer = json.loads(done.stdout)
            assert set(answer) == {"batchItemFailures"}
            logs = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
            batch = next(entry for entry in logs if entry["message"] == "batch done")
            assert batch["function_name"] == "SendFunction"
            # the sample sends are stamped fresh: none expired; the first run sends them (or retries one that
            # meets the pair limit), the second finds them in the running stack's ledger and sends none again
            counts = batch["counts"]
            assert "expired" not in counts, counts
            assert counts.get("duplicate" if run else "accepted", 0) >= 1, counts
    finally:
        stack.stop(signal.SIGTERM)
    assert wait_gone(stack.moto, timeout=5)


# ---------------------------------------------------------------- Ctrl-C anywhere: no traceback, exit 130


def interrupt_after(argv: list[str], env: dict[str, str], seconds: float) -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mmapi", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_ctrl_c_ends_the_simulator_with_130(env):
    code, err = interrupt_after(["simulator"], env, 3)
    assert code == 130 and "Traceback" not in err, err


def test_ctrl_c_ends_a_campaign_send_waiting_on_a_hung_endpoint(env, tmp_path, silent_port):
    csv = tmp_path / "audience.csv"
    csv.write_text("to\n919876543210\n")
    url = f"http://127.0.0.1:{silent_port}"
    env = {**env, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    argv = ["campaign", "send", str(csv), "--campaign", CAMPAIGN, "--direct"]
    argv += ["--queue-url", f"{url}/q", "--endpoint-url", url, "--api-url", url, "--region", "us-east-1"]
    code, err = interrupt_after(argv, env, 3)
    assert code == 130, err
    assert err.strip().splitlines()[-1] == "mmapi campaign send: interrupted"


def test_ctrl_c_ends_the_demo_and_reaps_its_moto_server(env):
    proc = subprocess.Popen(
        [sys.executable, "-m", "mmapi", "demo", "--recipients", "200", "--reports", ""],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline, moto = time.monotonic() + 60, None
    while moto is None and time.monotonic() < deadline and proc.poll() is None:
        moto = moto_of(proc.pid)
        time.sleep(0.2)
    assert moto, "the demo started no moto server"
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert wait_gone(moto, timeout=5)


# ---------------------------------------------------------------- the sample events are stamped fresh


def test_the_sample_sends_are_stamped_fresh_and_accepted_not_expired(send_env):
    raw = json.loads(Path(SEEDS).read_text())
    assert int(raw["Records"][0]["attributes"]["SentTimestamp"]) < (time.time() - 86400) * 1000  # aged
    send_env.sim.config.pair_interval_seconds = None
    event = load_event("send_seeds.json")  # what tests and `mmapi invoke` send: stamped now
    assert all(abs(int(r["attributes"]["SentTimestamp"]) / 1000 - time.time()) < 60 for r in event["Records"])
    assert send_env.invoke(event) == {"batchItemFailures": []}
    flash = next(r for r in event["Records"] if "flash_sale" in r["body"])  # the one with a 12 h time to live
    item = send_env.message(parse_send_request(json.loads(flash["body"])).identity())
    assert item["state"] == "accepted", item
