"""Shared benchmark plumbing: uvicorn servers in subprocesses, wrk as the load generator.

Each server runs pinned to CPU 0 and wrk to CPU 1 (when `taskset` exists), so the two
do not fight over one core. Server CPU time per request comes from /proc/<pid>/stat:
on shared machines it is steadier than requests per second.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pinned(cpu: int, command: list[str]) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(cpu), *command]
    return command


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


class UvicornServer:
    """`uvicorn <factory> --factory` on a free port, one worker, until stopped; under
    `wrapper` (a command prefix such as valgrind's) when one is given; with `tls`, a
    (certificate, key) pair, over HTTPS."""

    def __init__(
        self,
        factory: str,
        env: dict[str, str] | None = None,
        *,
        wrapper: list[str] | None = None,
        start_seconds: float = 30,
        tls: tuple[Path, Path] | None = None,
        cpu: int = 0,
    ) -> None:
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            factory,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
            *(["--ssl-certfile", str(tls[0]), "--ssl-keyfile", str(tls[1])] if tls else []),
        ]
        self.process = subprocess.Popen(
            pinned(cpu, [*(wrapper or []), *command]),
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
        self.wait_until_up(start_seconds, factory)

    def wait_until_up(self, start_seconds: float, what: str) -> None:
        deadline = time.monotonic() + start_seconds
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/", timeout=1, verify=False)  # noqa: S501 (our own server)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{what} did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def __enter__(self) -> "UvicornServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ShippedServe(UvicornServer):
    """`statusgraph serve --port N` as installed (`python -m statusgraph`, the console
    script's own entry point): uvloop, httptools, no access log, background jobs on. The
    whole process, its threads included, is pinned to CPU 0 at launch; under `wrapper`
    (valgrind's) when one is given."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        wrapper: list[str] | None = None,
        start_seconds: float = 30,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "statusgraph", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            pinned(0, [*(wrapper or []), *command]),
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
        )
        self.wait_until_up(start_seconds, "statusgraph serve")


@dataclass
class Result:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float
    requests: int
    non_2xx: int


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk_command(connections: int, script: Path | None) -> list[str]:
    """wrk on one thread at `connections`, with the latency distribution, and `script`."""
    return ["wrk", "-t1", f"-c{connections}", "--latency", *(["-s", str(script)] if script else [])]


def run_wrk(command: list[str], url: str, seconds: float) -> str:
    """wrk's report of one run of `seconds` (at least 1) from the load generator's core."""
    return subprocess.run(
        pinned(1, [*command, f"-d{max(int(seconds), 1)}s", url]),
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def requests_in(report: str) -> int:
    return int(re.search(r"(\d+) requests in", report).group(1))  # type: ignore[union-attr]


def wrk(
    name: str,
    server: UvicornServer,
    path: str,
    *,
    connections: int,
    seconds: float,
    script: Path | None = None,
    warmup: float = 2.0,
) -> Result:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    base = wrk_command(connections, script)
    run_wrk(base, server.url + path, warmup)
    before = cpu_seconds(server.process.pid)
    output = run_wrk(base, server.url + path, seconds)
    used = cpu_seconds(server.process.pid) - before
    total = requests_in(output)
    non_2xx_match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Result(
        name=name,
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE).group(1)),  # type: ignore[union-attr]
        p99_ms=_ms(re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1)),  # type: ignore[union-attr]
        cpu_us_per_request=used / max(total, 1) * 1e6,
        requests=total,
        non_2xx=int(non_2xx_match.group(1)) if non_2xx_match else 0,
    )


CALLGRIND = ["valgrind", "--quiet", "--tool=callgrind", "--dump-instr=no"]


def callgrind_server(
    factory: str, out_dir: Path, env: dict[str, str] | None = None
) -> UvicornServer:
    """A server whose instructions callgrind counts (valgrind runs it ~50x slower, so it
    is given minutes to start)."""
    wrapper = [*CALLGRIND, f"--callgrind-out-file={out_dir}/callgrind.%p"]
    return UvicornServer(factory, env, wrapper=wrapper, start_seconds=600)


def callgrind_serve(out_dir: Path, env: dict[str, str]) -> ShippedServe:
    """`statusgraph serve` as shipped, under callgrind."""
    wrapper = [*CALLGRIND, f"--callgrind-out-file={out_dir}/callgrind.%p"]
    return ShippedServe(env, wrapper=wrapper, start_seconds=600)


def instructions_per_request(
    server: UvicornServer,
    out_dir: Path,
    path: str,
    *,
    connections: int,
    seconds: float,
    script: Path | None = None,
) -> tuple[int, float]:
    """(requests answered, instructions executed per request) over one wrk run, counted
    by callgrind: user-space instructions of every thread of the server. Unlike seconds,
    they do not depend on what else the machine is doing (within ~2 % from run to run of
    the same code, as timing still shapes the ping batcher's groups)."""
    if shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind is needed for --instructions: apt-get install valgrind")
    base = wrk_command(connections, script)
    pid = str(server.process.pid)
    run_wrk(base, server.url + path, 5)
    subprocess.run(["callgrind_control", "-z", pid], capture_output=True, check=True)
    output = run_wrk(base, server.url + path, seconds)
    subprocess.run(["callgrind_control", "-d", pid], capture_output=True, check=True)
    total = requests_in(output)
    dumps = sorted(out_dir.glob(f"callgrind.{pid}.*"), key=lambda f: f.stat().st_mtime)
    summary = re.search(r"^summary: (\d+)", dumps[-1].read_text(), re.MULTILINE)
    return total, int(summary.group(1)) / max(total, 1)  # type: ignore[union-attr]


def median_of(runs: list[Result]) -> Result:
    """The run with the median CPU per request: one noisy round on a shared machine
    should not decide the table."""
    ordered = sorted(runs, key=lambda run: run.cpu_us_per_request)
    return ordered[len(ordered) // 2]


def print_table(results: list[Result], baseline: Result) -> None:
    print(
        f"{'target':<34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/req':>11} {'vs ' + baseline.name:>14} {'non-2xx':>8}"
    )
    for result in results:
        ratio = result.requests_per_second / baseline.requests_per_second
        print(
            f"{result.name:<34} {result.requests_per_second:>9.0f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f} "
            f"{result.cpu_us_per_request:>11.1f} {ratio:>13.2f}x {result.non_2xx:>8}"
        )
