"""Automatic checks for the exercises at the end of each chapter.

``checks`` holds the generic comparisons; ``chapterN`` holds one check function per exercise of
Chapter N. A check returns ``True`` (and prints a short confirmation) when the answer is right and
raises :class:`~onebyone.exercises.checks.ExerciseFailed`, an ``AssertionError`` with a hint,
when it is wrong, so a notebook cell that calls it fails visibly and a grader can count passes.
"""
