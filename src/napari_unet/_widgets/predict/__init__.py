"""The Predict dock: its widget, the objects panel and folder runs."""
