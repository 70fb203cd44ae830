"""The card a workspace shows A2A clients (a2a/card.py): the registered card, endpoints pointing at
the proxy, the platform's bearer scheme, in the merged 0.3 + 1.0 shape."""

from __future__ import annotations

from molecule_core.a2a.card import proxy_card

PROXY = "https://platform.example/workspaces/w1/a2a"
REGISTERED_03 = {
    "name": "reference",
    "description": "echo",
    "url": "http://10.0.0.5:8000/",
    "version": "0.1.0",
    "protocolVersion": "0.3.0",
    "capabilities": {"streaming": False, "extendedAgentCard": True},
    "skills": [{"id": "echo", "name": "Echo"}, {"name": "no id"}, "junk"],
    "securitySchemes": {"agent": {"type": "apiKey", "in": "header", "name": "X-Key"}},
    "security": [{"agent": []}],
    "signatures": [{"protected": "x", "signature": "y"}],
    "supportsAuthenticatedExtendedCard": True,
    "provider": {"organization": "acme", "url": "https://acme.example"},
}


def test_the_merged_card_points_both_versions_at_the_proxy_with_the_platforms_bearer() -> None:
    card = proxy_card(REGISTERED_03, PROXY, ["0.3", "1.0"])
    assert card["supportedInterfaces"] == [
        {"url": PROXY, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
        {"url": PROXY, "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
    ]
    assert (card["url"], card["protocolVersion"], card["preferredTransport"]) == (PROXY, "0.3", "JSONRPC")
    scheme = card["securitySchemes"]["molecule"]
    assert scheme["httpAuthSecurityScheme"]["scheme"] == "Bearer"
    assert (scheme["type"], scheme["scheme"]) == ("http", "Bearer")
    assert card["securityRequirements"] == [{"schemes": {"molecule": {}}}]
    assert card["security"] == [{"molecule": []}]


def test_the_agents_own_endpoint_auth_and_signatures_are_gone() -> None:
    card = proxy_card(REGISTERED_03, PROXY, ["0.3", "1.0"])
    assert "agent" not in card["securitySchemes"]
    assert "http://10.0.0.5:8000/" not in str(card)
    assert "signatures" not in card and "supportsAuthenticatedExtendedCard" not in card
    assert card["capabilities"] == {"streaming": False}
    assert card["provider"] == REGISTERED_03["provider"]


def test_skills_get_what_both_generations_require() -> None:
    card = proxy_card(REGISTERED_03, PROXY, ["1.0"])
    assert card["skills"] == [{"id": "echo", "name": "Echo", "description": "", "tags": []}]


def test_a_1_0_only_card_has_no_0_3_fields() -> None:
    card = proxy_card({"name": "n"}, PROXY, ["1.0"])
    assert [i["protocolVersion"] for i in card["supportedInterfaces"]] == ["1.0"]
    assert "url" not in card and "security" not in card
    assert set(card["securitySchemes"]["molecule"]) == {"httpAuthSecurityScheme"}
    assert (card["defaultInputModes"], card["defaultOutputModes"], card["version"]) == (
        ["text/plain"],
        ["text/plain"],
        "0",
    )
