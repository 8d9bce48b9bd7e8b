"""The RLM loop: prompts, reply parsing, iterations, sub-agents, budgets.

The public entry point is ``rlm_tui.engine.session.Session``.
"""
