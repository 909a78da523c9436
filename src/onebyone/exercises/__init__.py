"""Automatic checks for the exercises at the end of each chapter.

``checks`` holds the generic comparisons; ``chapterN`` holds one check function per exercise of
Chapter N. A check prints a short confirmation (and returns nothing) when the answer is right and
raises :class:`~onebyone.exercises.checks.ExerciseFailed`, an ``AssertionError`` with a hint,
when it is wrong, so a notebook cell that calls it fails visibly and a grader counts the checks
that did not raise.

Grading a submitted notebook uses four more: ``grader`` runs each notebook alone
(``runner``) and checks its answers, carried as data (``answers``), in processes that never ran
it (``checker``); ``grading`` calls a check with the grader's hidden seed, and loads checks
fresh for Otter's in-kernel tests (the Gradescope zip).
"""
