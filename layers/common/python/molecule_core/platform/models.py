"""The base of every wire model (requests, answers, rows, queue messages — each domain's
`models.py`): pydantic builds a model's validator and serializer when the model is first used, not
when its module is imported (`defer_build`). A function imports the models of every domain its
service touches and uses a few of them; building them all at import was 40–100 ms of each cold
start.

Under SnapStart a restore should find everything ready, so before the snapshot every model loaded
so far is built (`build_loaded_models`, a SnapStart step): the snapshot then holds them built, and
only an environment started without a snapshot builds a model on its first use.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict

from molecule_core.platform import snapstart
from molecule_core.platform.observability import logger


class WireModel(BaseModel):
    model_config = ConfigDict(defer_build=True)


def _loaded_models(base: type[BaseModel] = WireModel) -> Iterator[type[BaseModel]]:
    for model in base.__subclasses__():
        yield model
        yield from _loaded_models(model)


@snapstart.on_snapshot
def build_loaded_models() -> None:
    """Build every wire model loaded so far (a built one is left as it is). One that cannot be
    built now is logged and left to its first use, as without SnapStart: the snapshot's other
    steps (closing the connection) must still run."""
    for model in _loaded_models():
        if model.__pydantic_complete__:
            continue
        try:
            model.model_rebuild()
        except Exception:
            logger.warning(
                "wire model not built before the snapshot", extra={"model": model.__qualname__}, exc_info=True
            )
