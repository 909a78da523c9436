"""onebyone: the helper package of the course book *One by One* on 1x1 (pointwise) convolutions.

Each module holds one idea and is imported by the chapter that teaches it:

- ``onebyone.runtime``: seeding and device choice, so every chapter runs on CPU and on CUDA.
- ``onebyone.pointwise``: the 1x1 convolution as a per-pixel fully connected layer (Chapter 1).
- ``onebyone.cost``: parameters and multiply-accumulates (MACs) of layers and models (Chapters 1-2).
- ``onebyone.exercises``: the automatic checks behind every chapter's exercises.

Importing the package has no side effects: it seeds nothing, touches no device and reads no file.
"""

__version__ = "0.1.0"
