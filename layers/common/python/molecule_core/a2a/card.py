"""The agent card a workspace shows A2A clients (SPEC §5.4 step 8): the card its agent registered,
with every endpoint rewritten to the platform's proxy and the platform's bearer scheme declared —
callers never reach the agent directly, and they authenticate to the platform, not to it.

Served in the merged shape a2a-sdk 1.x serves when it also speaks 0.3: the 1.0 fields
(`supportedInterfaces`, `securitySchemes` with `httpAuthSecurityScheme`, `securityRequirements`)
plus the 0.3 ones (`url`, `preferredTransport`, `protocolVersion`, `security`, each scheme also
with `type`/`scheme`). a2a-sdk 1.x reads the 1.0 fields and ignores the rest; a2a-sdk 0.3 needs
`url`, and would refuse a 1.0-only card. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from molecule_core.a2a.versions import V03, V10, ProtocolVersion

SCHEME_NAME = "molecule"
SCHEME_DESCRIPTION = "A Molecule workspace token, org token or the admin token, as `Authorization: Bearer <token>`."
# Endpoint and security fields of the registered card: replaced, since they describe the agent's
# own address and auth. Signatures would no longer verify over the rewritten card.
REPLACED_FIELDS = frozenset(
    {
        "url",
        "preferredTransport",
        "protocolVersion",
        "additionalInterfaces",
        "supportedInterfaces",
        "securitySchemes",
        "security",
        "securityRequirements",
        "signatures",
        # the extended card is the agent's own, behind the agent's auth: not offered through the proxy
        "supportsAuthenticatedExtendedCard",
    }
)


def proxy_card(registered: Mapping[str, Any], proxy_url: str, versions: Iterable[ProtocolVersion]) -> dict[str, Any]:
    offered = [version for version in (V10, V03) if version in set(versions)]
    card = {key: value for key, value in registered.items() if key not in REPLACED_FIELDS}
    card["name"] = str(registered.get("name") or "workspace")
    card["description"] = str(registered.get("description") or "")
    card["version"] = str(registered.get("version") or "0")
    capabilities = registered.get("capabilities")
    card["capabilities"] = {
        key: value
        for key, value in (capabilities if isinstance(capabilities, Mapping) else {}).items()
        if key != "extendedAgentCard"
    }
    for modes in ("defaultInputModes", "defaultOutputModes"):
        given = registered.get(modes)
        card[modes] = given if isinstance(given, list) and given else ["text/plain"]
    card["skills"] = _skills(registered.get("skills"))
    card["supportedInterfaces"] = [
        {"url": proxy_url, "protocolBinding": "JSONRPC", "protocolVersion": version} for version in offered
    ]
    bearer: dict[str, Any] = {"httpAuthSecurityScheme": {"scheme": "Bearer", "description": SCHEME_DESCRIPTION}}
    card["securityRequirements"] = [{"schemes": {SCHEME_NAME: {}}}]
    if V03 in offered:
        bearer.update({"type": "http", "scheme": "Bearer", "description": SCHEME_DESCRIPTION})
        card.update({"url": proxy_url, "preferredTransport": "JSONRPC", "protocolVersion": V03})
        card["security"] = [{SCHEME_NAME: []}]
    card["securitySchemes"] = {SCHEME_NAME: bearer}
    return card


def _skills(skills: Any) -> list[dict[str, Any]]:
    """Skills both generations accept: an id and a name (others are dropped), a description and
    tags (0.3 requires both)."""
    if not isinstance(skills, list):
        return []
    kept = []
    for skill in skills:
        if isinstance(skill, Mapping) and isinstance(skill.get("id"), str) and isinstance(skill.get("name"), str):
            tags = skill.get("tags")
            kept.append(
                {
                    **skill,
                    "description": str(skill.get("description") or ""),
                    "tags": tags if isinstance(tags, list) else [],
                }
            )
    return kept
