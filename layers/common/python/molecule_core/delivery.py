"""Effective delivery mode (SPEC §5.2): payload value → the row's stored value → `poll` when the
runtime is external or there is no http(s) URL to push to → `push`. Register echoes it, and every
other reader (the A2A proxy) resolves it the same way."""

from __future__ import annotations

from molecule_core.models import EXTERNAL_RUNTIME, DeliveryMode


def is_http_url(url: str | None) -> bool:
    return bool(url) and str(url).lower().startswith(("http://", "https://"))


def resolve_delivery_mode(
    requested: DeliveryMode | None, stored: str | None, runtime: str, url: str | None
) -> DeliveryMode:
    if requested is not None:
        return requested
    if stored in ("push", "poll"):
        return "push" if stored == "push" else "poll"
    if runtime == EXTERNAL_RUNTIME or not is_http_url(url):
        return "poll"
    return "push"
