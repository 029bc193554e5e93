"""Lesson text that several tests write: the question a step stop asks about a gate's reading,
whose three choices are fixed by the format (app/lessons: closed, partly open, open)."""

READING_QUESTION = """\
question: How does it read?
choice: closed
choice: partly open
choice: open
answer: reading f[t,u]
"""
