"""Theme files shipped with rlm-tui (installed as the package rlm_tui.themes)."""
