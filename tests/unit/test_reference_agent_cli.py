"""The reference agent's command line: flags win over the environment the provision pipeline
injects, and a missing or invalid setting is a usage error, not a crash."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from reference_agent.cli import build_parser, config_from_args, main
from reference_agent.config import AgentConfig

WORKSPACE = str(uuid.uuid4())


def parse(*argv: str, **environ: str) -> AgentConfig:
    return config_from_args(build_parser().parse_args(["run", *argv]), environ)


def test_the_provisioned_environment_is_enough_to_run(tmp_path: Path) -> None:
    parent = str(uuid.uuid4())
    config = parse(
        WORKSPACE_ID=WORKSPACE,
        PLATFORM_URL="http://127.0.0.1:8080/",
        MOLECULE_AUTH_TOKEN="tok",
        PLATFORM_INBOUND_SECRET="sec",
        PARENT_ID=parent,
        AGENT_PORT="9123",
        AGENT_CONFIG_DIR=str(tmp_path),
        AGENT_BEHAVIOUR="slow",
        AGENT_DELAY_SECONDS="1.5",
        AGENT_DELIVERY_MODE="poll",
        AGENT_PUBLIC_URL="https://agent.example.com",
    )
    assert str(config.workspace_id) == WORKSPACE
    assert config.platform_url == "http://127.0.0.1:8080"
    assert (config.auth_token, config.inbound_secret, str(config.parent_id)) == ("tok", "sec", parent)
    assert config.port == 9123
    assert config.config_dir == tmp_path
    assert (config.behaviour.behaviour, config.behaviour.delay) == ("slow", 1.5)
    assert config.mode == "poll"
    assert config.public_url == "https://agent.example.com"


def test_flags_win_over_the_environment(tmp_path: Path) -> None:
    other = str(uuid.uuid4())
    config = parse(
        "--workspace-id", other, "--platform-url", "http://flag.test", "--token", "flag-tok", "--port", "0",
        "--config-dir", str(tmp_path), "--mode", "poll", "--behaviour", "status", "--status-code", "502",
        WORKSPACE_ID=WORKSPACE, PLATFORM_URL="http://env.test", MOLECULE_AUTH_TOKEN="env-tok", AGENT_PORT="9000",
    )  # fmt: skip
    assert str(config.workspace_id) == other
    assert config.platform_url == "http://flag.test"
    assert config.auth_token == "flag-tok"
    assert config.port == 0
    assert config.mode == "poll"
    assert (config.behaviour.behaviour, config.behaviour.status_code) == ("status", 502)


def test_defaults_are_push_on_any_free_local_port_with_one_config_dir_per_workspace() -> None:
    config = parse("--workspace-id", WORKSPACE, "--platform-url", "http://p.test")
    assert (config.mode, config.host, config.port) == ("push", "127.0.0.1", 0)
    assert config.config_dir == Path.home() / ".molecule" / "agents" / WORKSPACE


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--platform-url", "http://p.test"],  # no workspace id
        ["run", "--workspace-id", "not-a-uuid", "--platform-url", "http://p.test"],
        ["run", "--workspace-id", WORKSPACE, "--platform-url", "ftp://p.test"],
        ["run", "--workspace-id", WORKSPACE, "--platform-url", "http://p.test", "--status-code", "200"],
    ],
)
def test_a_missing_or_invalid_setting_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WORKSPACE_ID", raising=False)  # main() reads the real environment
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "error" in capsys.readouterr().err


def test_a_token_that_starts_with_a_dash_is_read_with_the_equals_form() -> None:
    # base64url tokens start with "-" one time in 64: "--token -abc" would read as another flag
    from reference_agent.cli import build_parser

    args = build_parser().parse_args(
        ["run", "--workspace-id", "w", "--platform-url", "http://p.test", "--token=-starts-with-a-dash"]
    )
    assert args.token == "-starts-with-a-dash"
