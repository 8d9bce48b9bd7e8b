"""The application layer: the one way the front ends (the CLI commands and the TUI) reach the
engine, the sandbox, the model clients and the store.

- ``runtime``   a Config turned into working parts: engine settings, the model router, model checks
- ``catalog``   recorded sessions: find, show, search, fork, rename, export, delete (with folders)
- ``opening``   a session opened for work, new or resumed, wired to the recorder
- ``workspace`` the app's live session: send, cancel, attach, switch models, open and close
"""
