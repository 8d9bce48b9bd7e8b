"""SQLite store (through sqlite-utils): the append-only event log and what is derived from it.

Use ``rlm_tui.store.sessions.Store``; ``recorder.Recorder`` writes a live session's events.
"""
