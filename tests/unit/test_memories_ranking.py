"""When a vector search walks the GLOBAL index (migration 018) and when it ranks exactly
(`memories.store.ranked_by_index`): only a GLOBAL search with nothing else to filter by, of the
index's dimension, asking for no more rows than the index returns."""

from __future__ import annotations

from typing import Any

import pytest
from molecule_core.memories.models import MemorySearch
from molecule_core.memories.store import INDEX_MAX_LIMIT, ranked_by_index


def search(**changes: Any) -> MemorySearch:
    fields: dict[str, Any] = {"scope": "GLOBAL", "namespace": None, "text": None, "embedding": [1.0], "limit": 10}
    return MemorySearch(**{**fields, **changes})


def test_a_plain_global_search_of_the_index_dimension_walks_the_index() -> None:
    assert ranked_by_index(search(), dimensions=1536, index_dimensions=1536)
    assert ranked_by_index(search(limit=INDEX_MAX_LIMIT), dimensions=1536, index_dimensions=1536)


@pytest.mark.parametrize(
    ("changes", "dimensions", "index_dimensions", "why"),
    [
        ({"scope": "TEAM"}, 1536, 1536, "a team's memories are ranked exactly"),
        ({"scope": "LOCAL"}, 1536, 1536, "own LOCAL memories are ranked exactly"),
        ({"scope": None}, 1536, 1536, "own memories are ranked exactly"),
        ({"namespace": "general"}, 1536, 1536, "the index knows no namespace"),
        ({"text": "deploy"}, 1536, 1536, "full text narrows first"),
        ({"text": "d"}, 1536, 1536, "a substring narrows first"),
        ({"limit": INDEX_MAX_LIMIT + 1}, 1536, 1536, "the index returns at most ef_search rows"),
        ({}, 768, 1536, "vectors of another dimension are not in the index"),
        ({}, 1536, None, "no index (no pgvector HNSW, or dropped)"),
    ],
)
def test_anything_else_is_ranked_exactly(
    changes: dict[str, Any], dimensions: int, index_dimensions: int | None, why: str
) -> None:
    assert not ranked_by_index(search(**changes), dimensions=dimensions, index_dimensions=index_dimensions), why
