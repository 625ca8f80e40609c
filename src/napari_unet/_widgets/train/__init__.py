"""The Train dock: its widget, settings, checks, live mode and what it reads from the layers."""
