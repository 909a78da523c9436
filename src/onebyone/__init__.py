"""onebyone: the helper package of the course book *One by One* on 1x1 (pointwise) convolutions.

Each module holds one idea and is imported by the chapter that teaches it:

- ``runtime``: seeding and device choice, so every chapter runs on CPU and on CUDA.
- ``pointwise``: the 1x1 convolution as a per-pixel fully connected layer (Chapter 1).
- ``cost``: parameters and multiply-accumulates (MACs) of layers and models (Chapters 1-5).
- ``plotting``: figures shared by several chapters.
- ``bottleneck``: what a 1x1 reduction before a larger convolution saves (Chapter 2).
- ``composition``: stacked 1x1 convolutions without activations collapse to one (Chapter 3).
- ``nin``, ``digits``, ``training``: Network in Network, the digits, the training loop (Chapter 3).
- ``inception``, ``inception_plots``, ``googlenet``, ``table1``, ``small_inception``: Inception
  modules, GoogLeNet and its Table 1 recounted (Chapter 4).
- ``timing``, ``precision``, ``roofline``, ``gpu_specs``, ``experiments``, ``results``: the
  timing harness, the measured roofline, datasheet predictions and the GPU experiments (Chapter 5).
- ``glue``: hands the numbers a chapter computes to its prose (the book build, or nothing).
- ``layers``: layer helpers several networks share (``conv_relu``, ``init_he_normal``).
- ``validation``: the argument checks every public function and layer parses its input with.
- ``exercises``: the automatic checks behind every chapter's exercises.

Importing the package has no side effects: it seeds nothing, touches no device and reads no file.
"""

__version__ = "0.1.0"
