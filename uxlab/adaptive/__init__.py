"""Adaptive psychophysics, framework-free: procedures that take a state and answers and choose the
next stimulus (transformed up/down staircases, QUEST+), and the session that interleaves several
of them with catch trials. The studies app stores the state and calls them when an answer is
stored (studies/actions/adaptive.py); docs/adaptive.md describes the methods and their defaults.
"""
