"""Fakes for end-to-end tests: real sockets and real wire formats, scripted answers."""
