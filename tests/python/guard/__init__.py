"""Guard suite: MutationError for writes to main-owned objects, CloneError, ContextMemoryError."""
