"""MLLMGuard (arXiv 2406.07594): the seven data tasks (``tasks``, registered on import) and
its ASD and PAR metrics (``scores``)."""
