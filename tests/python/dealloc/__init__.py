"""PX_DEALLOC: tp_dealloc of tracked objects a callback left alive (API.md)."""
