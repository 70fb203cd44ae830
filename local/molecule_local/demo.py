"""`make demo`: the whole system on one laptop in one command. Against a running `make run` (or a
stack it starts itself), it creates a push-mode workspace (the platform starts its reference agent)
and a poll-mode one (an agent on "a laptop", started here, with no inbound URL), sends messages
both ways, uploads a file to an agent and downloads it back, and prints the activity feed."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from molecule_local.template import REPO_ROOT


def _say(text: str = "") -> None:
    print(text, flush=True)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    pace = threading.Event()
    while time.monotonic() < deadline:
        if condition():
            return
        pace.wait(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


def _message(text: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": f"demo-{time.monotonic_ns()}",
        "method": "message/send",
        "params": {"message": {"role": "user", "parts": [{"kind": "text", "text": text}]}},
    }


def _text(answer: dict[str, Any]) -> str:
    parts = (answer.get("result") or {}).get("parts") or []
    return " ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))


class Demo:
    def __init__(self, base_url: str, client: httpx.Client) -> None:
        self.base = base_url.rstrip("/")
        self.http = client
        self.agents: list[subprocess.Popen[bytes]] = []
        self.workspaces: list[str] = []
        self.workdir = Path(tempfile.mkdtemp(prefix="molecule-demo-"))

    def status(self, workspace_id: str) -> str:
        return str(self.http.get(f"/workspaces/{workspace_id}").json()["status"])

    def run(self) -> None:
        _say(f"Molecule demo against {self.base}")
        # 1. a platform-managed workspace: the provisioner starts the reference agent (push mode)
        pusher = self.http.post("/workspaces", json={"name": "demo pusher", "runtime": "langgraph"}).json()
        self.workspaces.append(pusher["id"])
        _say(f"\n[1] created managed workspace 'demo pusher' {pusher['id']} → {pusher['status']}")
        _wait(lambda: self.status(pusher["id"]) == "online", 60, "the managed agent to register")
        pusher = self.http.get(f"/workspaces/{pusher['id']}").json()
        _say(f"    its agent registered: {pusher['status']}, delivery {pusher['delivery_mode']}, url {pusher['url']}")

        # 2. an external workspace on "a laptop": no inbound URL, it polls its inbox
        laptop = self.http.post("/workspaces", json={"name": "demo laptop", "external": True}).json()
        self.workspaces.append(laptop["id"])
        token = laptop["connection"]["auth_token"]
        _say(f"\n[2] created external workspace 'demo laptop' {laptop['id']} → {laptop['status']}")
        self.agents.append(
            subprocess.Popen(  # noqa: S603 - our own reference agent
                [sys.executable, "-m", "reference_agent", "run", "--platform-url", self.base,
                 "--workspace-id", laptop["id"], f"--token={token}", "--mode", "poll",
                 "--config-dir", str(self.workdir / "laptop"), "--heartbeat-interval", "2", "--poll-interval", "0.3"],
                cwd=REPO_ROOT, stdout=(self.workdir / "laptop.log").open("wb"), stderr=subprocess.STDOUT,
                env={k: v for k, v in os.environ.items() if not k.startswith(("MOLECULE_", "WORKSPACE_"))},
            )
        )  # fmt: skip
        _wait(lambda: self.status(laptop["id"]) == "online", 60, "the laptop agent to register")
        _say("    its agent registered in poll mode (remote://no-inbound)")

        # 3. a user talks to the push agent
        answer = self.http.post(f"/workspaces/{pusher['id']}/a2a", json=_message("hello from the canvas"), timeout=30)
        _say(f"\n[3] user → pusher: 'hello from the canvas'  ⇒  {answer.status_code} '{_text(answer.json())}'")

        # 4. laptop → pusher (the proxy pushes it; the answer comes straight back)
        answer = self.http.post(
            f"/workspaces/{pusher['id']}/a2a",
            json=_message("hi pusher, laptop here"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        _say(f"[4] laptop → pusher: 'hi pusher, laptop here'  ⇒  {answer.status_code} '{_text(answer.json())}'")

        # 5. pusher → laptop (poll mode: it waits in the laptop's inbox; the laptop agent answers)
        pusher_token = self.http.get(f"/admin/workspaces/{pusher['id']}/test-token").json()["auth_token"]
        queued = self.http.post(
            f"/workspaces/{laptop['id']}/a2a",
            json=_message("laptop, are you there?"),
            headers={"Authorization": f"Bearer {pusher_token}"},
        )
        _say(f"[5] pusher → laptop: 'laptop, are you there?'  ⇒  {queued.status_code} {queued.json()}")

        def laptop_replied() -> bool:
            rows = self.http.get(f"/workspaces/{pusher['id']}/activity", params={"type": "a2a_receive"}).json()
            return any(
                r["data"]["peer_id"] == laptop["id"] and r["data"]["text"] == "echo: laptop, are you there?"
                for r in rows
            )

        _wait(laptop_replied, 60, "the laptop agent's reply")
        _say("    the laptop agent polled its inbox and replied through the proxy")

        # 6. a file goes to the pusher's agent and comes back byte for byte
        content = "Molecule demo file ✓\n".encode() + bytes(range(256))
        upload = self.http.post(
            f"/workspaces/{pusher['id']}/chat/uploads",
            files={"files": ("demo report.bin", content, "application/octet-stream")},
            timeout=30,
        )
        uploaded = upload.json()["files"][0]
        download = self.http.get(f"/workspaces/{pusher['id']}/chat/download", params={"path": uploaded["uri"]})
        same = "identical" if download.content == content else "DIFFERENT"
        _say(f"\n[6] uploaded {uploaded['name']} ({uploaded['size']} bytes) to {uploaded['uri']}")
        _say(f"    downloaded it back: {download.status_code}, {len(download.content)} bytes, {same}")
        if download.content != content:
            raise RuntimeError("the downloaded file differs from the uploaded one")

        # 7. the activity feed
        for workspace_id, name in ((pusher["id"], "pusher"), (laptop["id"], "laptop")):
            _say(f"\n[7] activity of {name} (oldest first):")
            for row in self.http.get(f"/workspaces/{workspace_id}/activity", params={"order": "asc"}).json():
                peer = row["data"]["peer_name"] or "user"
                _say(f"    {row['created_at'][11:19]}  {row['activity_type']:<12} {row['method'] or '':<13} "
                     f"from {peer:<12} {row['status'] or '':<7} {row['data']['text'][:50]!r}")  # fmt: skip

    def close(self) -> None:
        for agent in self.agents:
            agent.terminate()
            try:
                agent.wait(timeout=15)
            except subprocess.TimeoutExpired:
                agent.kill()
        for workspace_id in self.workspaces:
            self.http.delete(f"/workspaces/{workspace_id}", timeout=30)
        _say(f"\ncleaned up (workspaces removed, agents stopped; logs in {self.workdir})")


def run_demo(base_url: str) -> int:
    with httpx.Client(base_url=base_url, timeout=15) as client:
        demo = Demo(base_url, client)
        try:
            demo.run()
        finally:
            demo.close()
    return 0


def stack_is_up(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
