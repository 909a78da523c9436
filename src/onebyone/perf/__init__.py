"""onebyone.perf: what a 1x1 convolution costs in time on a real device (Chapters 5 and 6).

The layer under the chapters' arithmetic: the timing harness, the measured and datasheet
rooflines, the experiments' command line and the reading of its results. Nothing in it draws:
the figures are in :mod:`onebyone.plotting`.
"""
