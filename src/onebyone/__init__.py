"""onebyone: the helper package of the course book *One by One* on 1x1 (pointwise) convolutions.

Each module holds one idea and is imported by the chapter that teaches it. The tree has three
layers: what a 1x1 convolution *computes and counts* (the top-level modules, Chapters 1-4 and
the arithmetic of 6), what it *costs in time* on a device (:mod:`onebyone.perf`, Chapters 5-6),
and how it is *drawn* (:mod:`onebyone.plotting`). Only ``plotting`` imports matplotlib.

Layers, counting and models (Chapters 1-4, 6):

- ``runtime``: seeding and device choice, so every chapter runs on CPU and on CUDA.
- ``validation``: the argument checks every public function and layer parses its input with.
- ``layers``: small layers shared by several models (a convolution with its ReLU, He
  initialisation).
- ``cost``: parameters and multiply-accumulates (MACs) of layers and models.
- ``pointwise``: the 1x1 convolution as a per-pixel fully connected layer (Chapter 1).
- ``bottleneck``: what a 1x1 reduction before a larger convolution saves, and the bottleneck
  path itself (Chapter 2).
- ``composition``, ``synthetic``: stacked 1x1 convolutions collapse without activations; the
  synthetic data that shows it (Chapter 3).
- ``nin``, ``digits``, ``training``, ``multiseed``: Network in Network, the digits, the training
  loop, and comparisons over several seeds (Chapters 3-4).
- ``inception``, ``googlenet``, ``table1``, ``small_inception``: Inception modules, GoogLeNet
  (the one source of its Table 1 channels and input sizes) and its Table 1 recounted (Chapter 4).
- ``separable``, ``mobilenet``, ``mobilenet_table2``, ``resnet_bottleneck``,
  ``squeeze_excitation``, ``feed_forward``, ``batchnorm_fold``, ``backward_cost``: the 1x1
  convolution in later networks (Chapter 6).

Time on a device, ``perf`` (Chapters 5-6):

- ``perf.precision``, ``perf.machine``: the number formats (``precision.PRECISIONS``) and what
  the machine is.
- ``perf.timing``, ``perf.gpu_timing``, ``perf.kernels``, ``perf.intervals``: the timing
  harness, CUDA events and graphs, the profiler's kernel names, paired-round intervals.
- ``perf.gpu_referee``, ``perf.timer_checks``: the GPU timer's referee (CUPTI kernel durations
  through ``torch.profiler``) and its acceptance criteria, pure functions of recorded samples.
- ``perf.roofline``, ``perf.peak``, ``perf.gpu_specs``: the roofline model, the two kernels
  that measure a device's roof, and datasheet roofs (a CSV loader, without the harness).
- ``perf.workloads``, ``perf.suite``, ``perf.experiments``, ``perf.results``: what Chapter 5
  times, the suite that times it, its command line (``python -m onebyone.perf.experiments``),
  and reading its CSV back.
- ``perf.event_vs_graph``: pairing a recording timed with CUDA events with one timed by graph
  replay, to see where the host's launch time was counted.
- ``perf.separable_timing``: Chapter 6's timing of a depthwise-separable layer.

Figures, ``plotting``: every figure of the book, drawn in one style with one layout rule
(``plotting.style.book_style``); ``plotting.networks`` for Chapters 1-4, ``plotting.perf`` for
Chapter 5.

And: ``atomic`` writes every results and grades file so that it is replaced whole or not at
all, and ``recording`` is what the commands that write results share (options checked before
measuring, what was measured kept when a run is stopped); ``records`` reads every recorded CSV
file (results, data tables) strictly, refusing a cut, mistyped or foreign one with an error
naming its file, line and column; ``glue`` hands the numbers a chapter computes to its prose
(the book build, or nothing); ``exercises`` holds the automatic checks behind every chapter's
exercises.

Importing the package has no side effects: it seeds nothing, touches no device and reads no file.
"""

__version__ = "0.1.0"
