"""Real server processes for end-to-end tests: `statusgraph serve` under uvicorn."""

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import httpx

KEY_LINE = re.compile(r"^\s+(sg_live_[0-9A-Za-z]{38})\s*$")
STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """`statusgraph serve --port <free port>`, or a shell `command` that starts the
    server (the README's `make run`), given the port in STATUSGRAPH_PORT and run in
    `cwd`. A command runs in a session of its own and is stopped as a whole: SIGINT
    to `make` alone would leave the server it started running."""

    def __init__(
        self, env: dict[str, str], command: str | None = None, cwd: Path | None = None
    ) -> None:
        self.env = env
        self.command = command
        self.cwd = cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output: list[str] = []

    async def __aenter__(self) -> "Server":
        if self.command is None:
            argv = [sys.executable, "-m", "statusgraph", "serve", "--port", str(self.port)]
            env = self.env
        else:
            argv = ["bash", "-c", self.command]
            env = {**self.env, "STATUSGRAPH_PORT": str(self.port)}
        self.process = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            cwd=self.cwd,
            start_new_session=self.command is not None,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self.reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self._until_healthy(), STARTUP_SECONDS)
        return self

    async def _read(self) -> None:
        assert self.process.stdout
        async for line in self.process.stdout:
            self.output.append(line.decode())

    async def _until_healthy(self) -> None:
        async with httpx.AsyncClient() as http:
            while True:
                if self.process.returncode is not None:
                    raise AssertionError("server exited:\n" + "".join(self.output))
                try:
                    if (await http.get(self.url + "/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    await asyncio.sleep(0.05)

    def printed_keys(self) -> list[str]:
        return [m.group(1) for line in self.output if (m := KEY_LINE.match(line))]

    async def __aexit__(self, *exc: object) -> None:
        if self.command is None:
            self.process.send_signal(signal.SIGINT)
        else:
            os.killpg(self.process.pid, signal.SIGINT)
        await asyncio.wait_for(self.process.wait(), 15)
        await self.reader
