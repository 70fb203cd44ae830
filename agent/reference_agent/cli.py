"""`python -m reference_agent run …`: flags, with the environment the provision pipeline injects as
fallbacks (WORKSPACE_ID, PLATFORM_URL, MOLECULE_AUTH_TOKEN, PLATFORM_INBOUND_SECRET, PARENT_ID,
AGENT_PORT, AGENT_CONFIG_DIR, AGENT_HOST, AGENT_PUBLIC_URL, AGENT_DELIVERY_MODE; and AGENT_BEHAVIOUR,
AGENT_DELAY_SECONDS, AGENT_STATUS_CODE for the test switches; MOLECULE_SECRET_NAMES lists the
operator's secrets among the variables, by name). `send-file PATH` sends the user a file: staged on
the platform, then a notify that carries it; `delegate TARGET_ID TASK` hands a task to a peer and
waits for its result (SPEC §5.10). Both use the token the running agent keeps in its config dir
unless given. The environment is read here and nowhere else."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from molecule_core.delegations.models import DelegateAnswer, Delegation
from molecule_core.secrets.models import SECRET_NAMES_ENV
from pydantic import ValidationError

from reference_agent.config import AgentConfig
from reference_agent.credentials import CredentialStore
from reference_agent.platform import PlatformClient, PlatformError
from reference_agent.runtime import delegate_task, run_agent, send_file


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reference_agent", description="Molecule reference agent (echo).")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="register with the platform and serve until SIGTERM/SIGINT")
    run.add_argument("--platform-url", help="platform base URL [PLATFORM_URL]")
    run.add_argument("--workspace-id", help="this workspace's id [WORKSPACE_ID]")
    # Tokens are base64url and may start with "-": pass them as --token=VALUE (or in the environment).
    run.add_argument(
        "--token", help="workspace auth token, as --token=VALUE [MOLECULE_AUTH_TOKEN]; else the stored one"
    )
    run.add_argument("--config-dir", help="where credentials are kept [AGENT_CONFIG_DIR]")
    run.add_argument("--mode", choices=["push", "poll"], help="delivery mode, default push [AGENT_DELIVERY_MODE]")
    run.add_argument("--host", help="address to serve on, default 127.0.0.1 [AGENT_HOST]")
    run.add_argument("--port", type=int, help="port to serve on; 0 = any free port [AGENT_PORT]")
    run.add_argument("--public-url", help="URL to register in push mode, default http://host:port [AGENT_PUBLIC_URL]")
    run.add_argument("--name", default="reference-agent", help="agent card name")
    run.add_argument("--heartbeat-interval", type=float, default=15.0, metavar="SECONDS")
    run.add_argument("--poll-interval", type=float, default=2.0, metavar="SECONDS")
    run.add_argument("--register-attempts", type=int, default=10)
    run.add_argument("--register-backoff", type=float, default=1.0, metavar="SECONDS")
    run.add_argument(
        "--behaviour", choices=["normal", "slow", "fail", "status", "close"], help="A2A answer [AGENT_BEHAVIOUR]"
    )
    run.add_argument("--delay", type=float, metavar="SECONDS", help="for slow [AGENT_DELAY_SECONDS]")
    run.add_argument("--status-code", type=int, help="for status [AGENT_STATUS_CODE]")
    send = commands.add_parser("send-file", help="send the user a file: stage it on the platform, then notify")
    send.add_argument("path", type=Path, help="the file to send")
    send.add_argument("--message", default="", help="the notify text that carries the file")
    send.add_argument("--platform-url", help="platform base URL [PLATFORM_URL]")
    send.add_argument("--workspace-id", help="this workspace's id [WORKSPACE_ID]")
    send.add_argument("--token", help="as --token=VALUE [MOLECULE_AUTH_TOKEN]; else the one stored in the config dir")
    send.add_argument("--config-dir", help="where the running agent keeps its credentials [AGENT_CONFIG_DIR]")
    delegate = commands.add_parser("delegate", help="delegate a task to a peer workspace and wait for its result")
    delegate.add_argument("target_id", type=UUID, help="the workspace that should do the task")
    delegate.add_argument("task", help="the task, as text")
    delegate.add_argument("--idempotency-key", help="the same key again answers the same delegation")
    delegate.add_argument(
        "--wait", type=float, default=60.0, metavar="SECONDS", help="how long to wait for the result; 0: do not wait"
    )
    delegate.add_argument("--platform-url", help="platform base URL [PLATFORM_URL]")
    delegate.add_argument("--workspace-id", help="this workspace's id, the delegator [WORKSPACE_ID]")
    delegate.add_argument("--token", help="as --token=VALUE [MOLECULE_AUTH_TOKEN]; else the one in the config dir")
    delegate.add_argument("--config-dir", help="where the running agent keeps its credentials [AGENT_CONFIG_DIR]")
    return parser


def _environment(environ: Mapping[str, str]) -> Callable[[str], str | None]:
    def env(name: str) -> str | None:
        return environ.get(name, "").strip() or None

    return env


def _workspace(args: argparse.Namespace, env: Callable[[str], str | None]) -> tuple[str, str, str | Path]:
    """(workspace id, platform URL, config dir), from the flags every command shares."""
    workspace_id = args.workspace_id or env("WORKSPACE_ID")
    platform_url = args.platform_url or env("PLATFORM_URL")
    if not workspace_id or not platform_url:
        raise ValueError("--workspace-id (or WORKSPACE_ID) and --platform-url (or PLATFORM_URL) are required")
    config_dir = args.config_dir or env("AGENT_CONFIG_DIR") or Path.home() / ".molecule" / "agents" / workspace_id
    return workspace_id, platform_url, config_dir


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> AgentConfig:
    env = _environment(environ)
    workspace_id, platform_url, config_dir = _workspace(args, env)
    behaviour: dict[str, Any] = {
        "behaviour": args.behaviour or env("AGENT_BEHAVIOUR"),
        "delay": args.delay if args.delay is not None else env("AGENT_DELAY_SECONDS"),
        "status_code": args.status_code if args.status_code is not None else env("AGENT_STATUS_CODE"),
    }
    return AgentConfig.model_validate(
        {
            "platform_url": platform_url,
            "workspace_id": workspace_id,
            "config_dir": Path(config_dir).expanduser(),
            "auth_token": args.token or env("MOLECULE_AUTH_TOKEN"),
            "inbound_secret": env("PLATFORM_INBOUND_SECRET"),
            "parent_id": env("PARENT_ID"),
            "mode": args.mode or env("AGENT_DELIVERY_MODE") or "push",
            "host": args.host or env("AGENT_HOST") or "127.0.0.1",
            "port": args.port if args.port is not None else (env("AGENT_PORT") or 0),
            "public_url": args.public_url or env("AGENT_PUBLIC_URL"),
            "name": args.name,
            "heartbeat_interval": args.heartbeat_interval,
            "poll_interval": args.poll_interval,
            "register_attempts": args.register_attempts,
            "register_backoff": args.register_backoff,
            "behaviour": {key: value for key, value in behaviour.items() if value is not None},
            "secret_names": received_secret_names(environ),
        }
    )


def received_secret_names(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The secrets the platform injected, by name: those listed in MOLECULE_SECRET_NAMES that are
    really in the environment. Only names leave this function."""
    listed = (name.strip() for name in environ.get(SECRET_NAMES_ENV, "").split(","))
    return tuple(sorted(name for name in listed if name and name in environ))


def _token(args: argparse.Namespace, env: Callable[[str], str | None], config_dir: str | Path) -> str | None:
    """The flag, the environment, else the token the running agent keeps in its config dir."""
    return args.token or env("MOLECULE_AUTH_TOKEN") or CredentialStore(Path(config_dir).expanduser()).auth_token


def send_file_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    env = _environment(environ)
    workspace_id, platform_url, config_dir = _workspace(args, env)
    if not args.path.is_file():
        raise ValueError(f"{args.path}: not a file")
    token = _token(args, env, config_dir)
    try:
        entry = asyncio.run(send_file(platform_url.rstrip("/"), UUID(workspace_id), token, args.path, args.message))
    except PlatformError as exc:
        print(f"send-file failed: {exc}", file=sys.stderr)
        return 1
    print(entry.model_dump_json())
    return 0


def delegate_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Prints the delegation as last read (or the platform's answer with --wait 0) as JSON; exit
    status 0 once completed (or handed over, without waiting), 1 when it failed or is still open."""
    env = _environment(environ)
    workspace_id, platform_url, config_dir = _workspace(args, env)
    platform = PlatformClient(platform_url.rstrip("/"), UUID(workspace_id), auth_token=_token(args, env, config_dir))

    async def run() -> DelegateAnswer | Delegation:
        try:
            return await delegate_task(
                platform, args.target_id, args.task, idempotency_key=args.idempotency_key, wait_seconds=args.wait
            )
        finally:
            await platform.aclose()

    try:
        outcome = asyncio.run(run())
    except PlatformError as exc:
        print(f"delegate failed: {exc}", file=sys.stderr)
        return 1
    print(outcome.model_dump_json())
    return 0 if isinstance(outcome, DelegateAnswer) or outcome.status == "completed" else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"send-file": send_file_from_args, "delegate": delegate_from_args}
    if args.command in commands:
        try:
            return commands[args.command](args, os.environ)
        except ValueError as exc:
            parser.error(str(exc))
    try:
        config = config_from_args(args, os.environ)
    except (ValueError, ValidationError) as exc:  # pydantic's ValidationError is a ValueError too
        parser.error(str(exc))
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request is noise here
    return asyncio.run(run_agent(config))
