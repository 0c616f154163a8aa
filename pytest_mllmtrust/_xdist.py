"""Shard-aware xdist scheduling (imported only when pytest-xdist is installed).

Every shard's items must run on one worker, where the first of them generates the whole shard
in batches. xdist's own "loadgroup" mode relies on rewriting node ids, which pytest 9.2 no
longer honours, so grouping is done here through xdist's supported scheduler hook instead:
the controller and the workers derive the same shards from the same collected node ids.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadGroupScheduling

from pytest_mllmtrust.session import shard_scopes


class ShardScheduling(LoadGroupScheduling):  # type: ignore[misc]  # xdist ships no types here
    """xdist's scope scheduling with one scope per trust shard; other tests as loadgroup."""

    def __init__(self, config: Any, log: Any = None, *, shard_size: int) -> None:
        super().__init__(config, log)
        self.shard_size = shard_size
        self._scopes: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._scopes is None and self.collection is not None:
            self._scopes = shard_scopes(self.collection, self.shard_size)
        scope = (self._scopes or {}).get(nodeid)
        return scope if scope is not None else str(super()._split_scope(nodeid))
