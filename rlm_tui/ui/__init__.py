"""The Textual app: screens, widgets, styles. Loads themes from themes/."""
