"""The delimiter GLOBAL memories are read back in (SPEC §5.11, the original's #767/#807).

A GLOBAL memory is written by one root workspace and read by every agent of the fleet, straight
into its model's context. Wrapping it as `[MEMORY id=<id> scope=GLOBAL from=<workspace_id>]: …`
tells the reader where the text came from and that it is data, not an instruction. Content that
itself contains `[MEMORY ` could fake a second, nested delimiter (a forged author), so that
literal is escaped to `[_MEMORY ` when a memory is written — in every scope, since a TEAM memory
is read into the same context windows. Pure.
"""

from __future__ import annotations

import re
from uuid import UUID

DELIMITER_PREFIX = "[MEMORY "
_FORGED_DELIMITER = re.compile(r"\[(?=MEMORY\s)", re.I)


def escape_delimiter(content: str) -> str:
    return _FORGED_DELIMITER.sub("[_", content)


def wrap_global(memory_id: UUID, workspace_id: UUID, content: str) -> str:
    return f"{DELIMITER_PREFIX}id={memory_id} scope=GLOBAL from={workspace_id}]: {content}"
