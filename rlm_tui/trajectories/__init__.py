"""Trajectory logs of other RLM implementations (fast-rlm, the official rlm): reading them,
replaying their cells in our worker, and turning them into our events for the viewer."""
