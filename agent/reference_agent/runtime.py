"""The agent's life (SPEC §6): adopt injected credentials, serve HTTP, register (retrying with
backoff while the platform is unreachable), heartbeat on an interval, follow the inbox in poll
mode — fetching the `platform:` files a message carries (SPEC §5.13) — and stop cleanly on
SIGTERM/SIGINT. `send_file` is the other direction: a file staged for the user, then a notify."""

from __future__ import annotations

import asyncio
import logging
import signal
import tempfile
from pathlib import Path
from typing import Any
from uuid import UUID

import anyio.to_thread
from molecule_core.activity.models import ActivityRow, NotifyRequest
from molecule_core.delegations.models import DelegateAnswer, DelegateRequest, Delegation
from molecule_core.files.models import FileEntry, is_staged_file_uri
from molecule_core.registry.models import RegisterRequest, RegisterResponse

from reference_agent import a2a
from reference_agent.app import create_app
from reference_agent.config import AgentConfig, FileSettings
from reference_agent.credentials import CredentialStore
from reference_agent.files import store_received_file
from reference_agent.platform import (
    CursorGone,
    PlatformClient,
    PlatformError,
    PlatformUnauthorized,
    PlatformUnavailable,
)
from reference_agent.server import AgentServer, bind_socket, listen_url, server_config
from reference_agent.state import AgentState

log = logging.getLogger("reference_agent")

# What a poll-mode agent registers as its URL: it has no inbound endpoint (SPEC §5.8).
NO_INBOUND_URL = "remote://no-inbound"
# With no cursor yet, the inbox starts with messages from this far back, so that a message sent
# while the agent was booting is still answered.
INBOX_STARTUP_WINDOW_SECONDS = 60
_MAX_REGISTER_BACKOFF = 30.0


class FatalAgentError(Exception):
    """The agent cannot go on (token refused, workspace unknown, platform gone for good)."""


async def run_agent(config: AgentConfig) -> int:
    """Run until SIGTERM/SIGINT (exit status 0) or a fatal error (1)."""
    credentials = CredentialStore(config.config_dir)
    adopt_injected_credentials(config, credentials)
    try:
        sock = bind_socket(config.host, config.port)
    except OSError as exc:
        log.error("cannot serve on %s port %d: %s", config.host, config.port, exc)
        return 1
    url = config.public_url or listen_url(sock)
    register_url = url if config.mode == "push" else NO_INBOUND_URL
    state = AgentState(name=config.name, credentials=credentials, behaviour=config.behaviour, card_url=register_url)
    server = AgentServer(server_config(create_app(state)))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    platform = PlatformClient(config.platform_url, config.workspace_id, auth_token=credentials.auth_token)
    lifecycle = AgentLifecycle(config, state, platform, register_url)
    living = asyncio.create_task(lifecycle.run())
    log.info(
        "reference agent %s%s (%s mode) serving on %s, platform %s, config %s",
        config.workspace_id,
        f" (parent {config.parent_id})" if config.parent_id else "",
        config.mode,
        listen_url(sock),
        config.platform_url,
        config.config_dir,
    )

    # Names only, never values: operators (and the e2e tests) check what reached the agent.
    log.info("secrets received: %s", ", ".join(config.secret_names) or "none")

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, living.cancel)
    try:
        await asyncio.wait({living, serving}, return_when=asyncio.FIRST_COMPLETED)
        exit_code = _exit_code(living)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        living.cancel()
        await asyncio.gather(living, return_exceptions=True)
        server.should_exit = True
        await asyncio.gather(serving, return_exceptions=True)
        await platform.aclose()
    log.info("reference agent stopped")
    return exit_code


def _exit_code(living: asyncio.Task[None]) -> int:
    if not living.done():
        log.error("HTTP server stopped unexpectedly")
        return 1
    if living.cancelled():
        log.info("stopping (signal)")
        return 0
    error = living.exception()
    if isinstance(error, FatalAgentError):
        log.error("%s", error)
        return 1
    if error is not None:
        raise error
    return 0


def adopt_injected_credentials(config: AgentConfig, credentials: CredentialStore) -> None:
    """The provision pipeline injects the token and inbound secret in the environment; keep them in
    the config dir, where a restarted agent (or the control endpoint) finds them."""
    if config.auth_token and config.auth_token != credentials.auth_token:
        credentials.save_auth_token(config.auth_token)
    if config.inbound_secret and config.inbound_secret != credentials.inbound_secret:
        credentials.save_inbound_secret(config.inbound_secret)


class AgentLifecycle:
    def __init__(self, config: AgentConfig, state: AgentState, platform: PlatformClient, register_url: str):
        self.config = config
        self.state = state
        self.platform = platform
        self.register_url = register_url
        self.credentials = state.credentials

    async def run(self) -> None:
        await self.register()
        loops = [asyncio.create_task(self.heartbeat_forever())]
        if self.config.mode == "poll":
            loops.append(asyncio.create_task(self.follow_inbox_forever()))
        try:
            done, _ = await asyncio.wait(loops, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    # --- register -------------------------------------------------------------------------------

    async def register(self) -> RegisterResponse:
        request = RegisterRequest(
            id=self.config.workspace_id,
            url=self.register_url,
            agent_card=a2a.agent_card(self.config.name, self.register_url),
            delivery_mode=self.config.mode,
        )
        backoff = self.config.register_backoff
        attempts = self.config.register_attempts
        for attempt in range(1, attempts + 1):
            try:
                response = await self.platform.register(request)
            except PlatformUnauthorized as exc:
                raise FatalAgentError(f"register refused: the token is not valid for this workspace ({exc})") from exc
            except PlatformUnavailable as exc:
                if attempt == attempts:
                    raise FatalAgentError(f"register failed {attempts} times; last: {exc}") from exc
                log.warning("register attempt %d/%d failed (%s); retrying in %.1fs", attempt, attempts, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_REGISTER_BACKOFF)
                continue
            except PlatformError as exc:
                raise FatalAgentError(f"register refused: {exc}") from exc
            self._keep_credentials(response)
            log.info(
                "registered (%s, url %s%s)",
                response.delivery_mode,
                self.register_url,
                ", new auth token" if response.auth_token else "",
            )
            return response
        raise AssertionError("unreachable")  # the loop returns or raises

    def _keep_credentials(self, response: RegisterResponse) -> None:
        if response.auth_token:
            self.credentials.save_auth_token(response.auth_token)
            self.platform.auth_token = response.auth_token
        if response.platform_inbound_secret:
            self.credentials.save_inbound_secret(response.platform_inbound_secret)

    # --- heartbeat ------------------------------------------------------------------------------

    async def heartbeat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval)
            await self.heartbeat_once()

    async def heartbeat_once(self) -> None:
        try:
            await self.platform.heartbeat(self.state.heartbeat(self.config.workspace_id))
        except PlatformUnauthorized:
            # The token was revoked (or the workspace re-created): registering again either mints a
            # new token (no live token left) or fails for good — once, not in a loop.
            log.warning("heartbeat refused (401); registering again")
            await self.register()
        except PlatformError as exc:
            log.warning("heartbeat failed: %s", exc)

    # --- poll-mode inbox (SPEC §5.6) ------------------------------------------------------------

    async def follow_inbox_forever(self) -> None:
        while True:
            try:
                rows = await self.next_inbox_rows()
            except CursorGone:
                await self.restart_inbox_cursor()
                rows = []
            except PlatformError as exc:
                log.warning("inbox read failed: %s", exc)
                rows = []
            for row in rows:
                await self.answer_inbox_row(row)
                # At most once: the cursor moves past a row even when the reply failed, so that one
                # unreachable peer cannot block the inbox.
                self.credentials.save_inbox_cursor(str(row.id))
            if not rows:
                await asyncio.sleep(self.config.poll_interval)

    async def next_inbox_rows(self) -> list[ActivityRow]:
        cursor = self.credentials.inbox_cursor
        if cursor is None:
            return await self.platform.read_inbox(since_secs=INBOX_STARTUP_WINDOW_SECONDS)
        return await self.platform.read_inbox(since_id=cursor)

    async def restart_inbox_cursor(self) -> None:
        """410: the platform no longer knows the cursor. Continue from the newest row; older ones
        can no longer be told apart from rows already answered."""
        stale = self.credentials.inbox_cursor
        try:
            newest = await self.platform.read_inbox(limit=1)
        except PlatformError as exc:
            log.warning("inbox cursor %s is gone and the newest row could not be read: %s", stale, exc)
            newest = []
        restart = str(newest[0].id) if newest else None
        log.warning("inbox cursor %s is unknown to the platform (410); continuing after %s", stale, restart)
        self.credentials.save_inbox_cursor(restart)

    async def answer_inbox_row(self, row: ActivityRow) -> None:
        if row.method != "message/send":
            return  # anything that is not a message
        # The normalised form when the platform kept one (poll-mode rows keep the verbatim body in
        # request_body, which may be in an older shape).
        message = a2a.request_message(row.request_normalized or row.request_body)
        # The same text as a push-mode echo (parts joined with a space); the platform's flattened
        # `data.text` only when the stored body has no message to read.
        text = a2a.message_text(message) if message else row.data.text
        if a2a.is_echo(text):
            log.info("inbox %s: an echo; not answered", row.id)
            return
        with self.state.track_task() as task:
            task.summary = text
            try:
                text += await self.receive_files(message)
                if row.source_id is None:
                    await self.platform.notify(NotifyRequest(message=a2a.ECHO_PREFIX + text, attachments=None))
                    log.info("inbox %s: answered the user", row.id)
                else:
                    reply = a2a.echo_request(text, message.get("contextId"), a2a.delegation_metadata(message))
                    response = await self.platform.send_a2a(row.source_id, reply)
                    log.info("inbox %s: answered %s (%d)", row.id, row.source_id, response.status_code)
            except PlatformError as exc:
                log.warning("inbox %s: reply failed: %s", row.id, exc)

    # --- files sent to the agent (SPEC §5.13) ---------------------------------------------------

    async def receive_files(self, message: dict[str, Any]) -> str:
        """Fetch every `platform:` file of a message into the chat-uploads dir, as an upload would
        land; a note for the reply saying what arrived (empty when nothing was attached)."""
        notes = []
        for file in a2a.file_parts(message):
            if not is_staged_file_uri(file["uri"]):
                continue  # a file on someone else's disk: not ours to fetch
            try:
                path, size = await self.fetch_file(file["uri"], file.get("name"))
            except (PlatformError, ValueError, OSError) as exc:
                log.warning("file %s not received: %s", file["uri"], exc)
                notes.append(f"{file.get('name')}: not received")
                continue
            log.info("received %s (%d bytes) as %s", file["uri"], size, path)
            notes.append(f"{path} ({size} bytes)")
        return f" [received {', '.join(notes)}]" if notes else ""

    async def fetch_file(self, uri: str, name: str | None) -> tuple[str, int]:
        """Download to a spool file on disk (never the whole file in memory), then keep it."""
        files = FileSettings()
        root = files.root or self.config.config_dir / "files"
        with tempfile.TemporaryFile(dir=self.config.config_dir) as spool:
            await self.platform.download_file(uri, spool)
            return await anyio.to_thread.run_sync(
                store_received_file, root, name or uri.rsplit("/", 1)[-1], spool, files.max_upload_bytes
            )


async def send_file(
    platform_url: str, workspace_id: UUID, auth_token: str | None, path: Path, message: str
) -> FileEntry:
    """Stage `path` for this workspace's user and tell them with a notify that carries it."""
    platform = PlatformClient(platform_url, workspace_id, auth_token=auth_token)
    try:
        entry = await platform.upload_file(path)
        await platform.notify(NotifyRequest(message=message, attachments=[entry.model_dump()]))
        return entry
    finally:
        await platform.aclose()


async def delegate_task(
    platform: PlatformClient,
    target_id: UUID,
    task: str,
    *,
    idempotency_key: str | None = None,
    wait_seconds: float = 60.0,
    poll_interval: float = 0.5,
) -> DelegateAnswer | Delegation:
    """Delegate `task` to `target_id` (SPEC §5.10): the platform answers at once and delivers the
    task on its own time. With `wait_seconds`, follow the delegation until it is completed or
    failed (or the wait ends): the delegation as last read; else the platform's answer."""
    request = DelegateRequest(target_id=str(target_id), task=task, idempotency_key=idempotency_key)
    answer = await platform.delegate(request)
    if wait_seconds <= 0:
        return answer
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        delegation = await platform.delegation(answer.delegation_id)
        if delegation.status in ("completed", "failed") or loop.time() >= deadline:
            return delegation
        await asyncio.sleep(poll_interval)
