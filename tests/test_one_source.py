"""Every example has one source: what the experiments time is what the chapters teach.

Inception (3a), the 192 -> 16 -> 32 bottleneck and the kernels of the measured roof are defined
once in the package; these tests fail if a copy typed out elsewhere drifts from its source.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest
import torch
from torch import nn

import onebyone
from onebyone import bottleneck, googlenet
from onebyone.perf import peak, suite, workloads
from onebyone.perf.roofline import Workload


def conv_layers(module: nn.Module) -> list[tuple[int, int, tuple[int, ...], tuple[int, ...], bool]]:
    """``(C_in, C_out, kernel, padding, has bias)`` of every ``Conv2d``, in order."""
    return [
        (m.in_channels, m.out_channels, m.kernel_size, m.padding, m.bias is not None)
        for m in module.modules()
        if isinstance(m, nn.Conv2d)
    ]


def stage_inputs() -> dict[str, tuple[int, ...]]:
    """The input shape of every stage of GoogLeNet, from a forward pass on the meta device."""
    network = googlenet.GoogLeNet().to("meta")
    shapes = {}
    for name in googlenet.INCEPTION_CHANNELS:
        getattr(network, name).register_forward_pre_hook(
            lambda module, args, name=name: shapes.update({name: tuple(args[0].shape)})
        )
    network(torch.empty(1, 3, 224, 224, device="meta"))
    return shapes


def test_the_timed_inception_module_is_googlenets_3a():
    timed = workloads.inception_modules()["reduced"]
    assert conv_layers(timed) == conv_layers(googlenet.GoogLeNet().inception3a)
    shape = stage_inputs()["inception3a"]
    assert shape == (1, workloads.INCEPTION_3A["in_channels"], workloads.IMAGE_SIZE,
                     workloads.IMAGE_SIZE)


def test_the_input_sizes_of_the_inception_modules_are_googlenets():
    for name, shape in stage_inputs().items():
        assert shape[1] == googlenet.INCEPTION_CHANNELS[name][0], name
        assert shape[2] == shape[3] == googlenet.INCEPTION_INPUT_SIZE[name], name
    assert set(googlenet.INCEPTION_INPUT_SIZE) == set(googlenet.INCEPTION_CHANNELS)


def test_inception_arguments_name_the_columns_of_table_1():
    arguments = googlenet.inception_arguments("inception3a")
    assert list(arguments) == list(googlenet.INCEPTION_ARGUMENTS)
    assert tuple(arguments.values()) == googlenet.INCEPTION_CHANNELS["inception3a"]
    with pytest.raises(ValueError, match="unknown stage"):
        googlenet.inception_arguments("inception9z")


def test_the_timed_bottleneck_is_the_package_builders_and_3a_s_5x5_branch():
    timed = workloads.bottleneck_modules()
    spec = workloads.BOTTLENECK
    built = bottleneck.bottleneck_path(spec["in_channels"], spec["out_channels"],
                                       spec["kernel_size"], spec["reduced_channels"],
                                       bias=False, relu=False)
    assert conv_layers(timed["reduced"]) == conv_layers(built)
    assert not any(isinstance(m, nn.ReLU) for m in timed["reduced"].modules())
    assert conv_layers(timed["direct"]) == conv_layers(
        bottleneck.same_conv(spec["in_channels"], spec["out_channels"], spec["kernel_size"],
                             bias=False))
    # the same channels as inception (3a)'s 5x5 branch (which has biases and a ReLU)
    branch = [layer[:4] for layer in conv_layers(googlenet.GoogLeNet().inception3a.branch3)]
    assert [layer[:4] for layer in conv_layers(built)] == branch


def test_bottleneck_path_is_what_compare_bottleneck_counts():
    from onebyone.cost import count_parameters, model_macs

    path = bottleneck.bottleneck_path(192, 32, 5, 16)
    counted = bottleneck.compare_bottleneck(192, 32, 5, 28, 28, reduced_channels=16)
    assert model_macs(path, (1, 192, 28, 28)) == counted.bottleneck.macs
    assert count_parameters(path) == counted.bottleneck.parameters
    assert sum(isinstance(m, nn.ReLU) for m in path) == 1
    strategies = bottleneck.reduction_strategies(192, 32, 5, 16, 384)
    assert conv_layers(strategies["1x1 reduction first"]) == conv_layers(path)


def test_experiment_0_times_the_kernels_of_the_measured_roof(monkeypatch):
    fake = peak.PeakKernel(lambda x: x, (2, 3), Workload(flops=6, bytes_moved=10), "fake")
    monkeypatch.setattr(peak, "matmul_kernel", lambda *args, **kwargs: fake)
    monkeypatch.setattr(peak, "copy_kernel", lambda *args, **kwargs: fake)
    timed = []

    def measure(settings, function, input_shape, *args, **kwargs):
        timed.append((function, input_shape))
        return "timing", ""

    monkeypatch.setattr(suite, "_measure", measure)
    settings = suite.Settings(device=torch.device("cpu"), size="small", num_threads=1)
    runs = (lambda: suite._peak_matmul(settings, "float32"), lambda: suite._peak_copy(settings))
    for run in runs:
        timing, row = run()
        assert timing == "timing" and timed.pop() == (fake.function, fake.input_shape)
        assert (row["flops"], row["bytes"]) == (6, 10)


def test_the_peak_kernels_count_their_work():
    matmul = peak.matmul_kernel(8, dtype=torch.bfloat16)
    assert matmul.workload == Workload(flops=2 * 8**3, bytes_moved=3 * 8 * 8 * 2)
    copy = peak.copy_kernel(4)
    assert copy.workload == Workload(flops=0, bytes_moved=2 * 4 * 10**6)
    x = torch.randn(copy.input_shape)
    copy.function(x)
    with pytest.raises(ValueError, match="megabytes must be a positive integer"):
        peak.copy_kernel(0)


def _modules(prefix_filter) -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(onebyone.__path__, "onebyone.")
        if prefix_filter(info.name)
    )


def test_no_compute_module_imports_matplotlib():
    """Import every module outside ``onebyone.plotting`` in a fresh interpreter, one after the
    other, and name the first one after which matplotlib is loaded."""
    modules = _modules(lambda name: not name.startswith("onebyone.plotting"))
    assert "onebyone.perf.roofline" in modules and "onebyone.bottleneck" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    if 'matplotlib' in sys.modules:\n"
        "        print(name)\n"
        "        break\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "", f"{result.stdout.strip()} imports matplotlib"


def test_the_plotting_package_does_import_matplotlib():
    """The check above can fail: the same script flags the plotting package."""
    script = "import sys, onebyone.plotting; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "True"


def test_the_datasheet_table_needs_no_timing_harness():
    script = ("import sys, onebyone.perf.gpu_specs\n"
              "print(sorted(m for m in sys.modules if m in ('onebyone.perf.timing', "
              "'torch.utils.benchmark', 'matplotlib')))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_the_readme_describes_every_module_of_the_package(root):
    """The README's table of the package names every module and subpackage that exists."""
    readme = (root / "README.md").read_text(encoding="utf-8")
    table = readme.split("### The package `onebyone`", 1)[1].split("\n## ", 1)[0]
    named = {name.strip() for cell in table.split("|") for name in cell.split(",")}
    named = {name.strip("` ").removesuffix("/") for name in named}
    package = root / "src" / "onebyone"
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).with_suffix("").as_posix()
        if relative == "__init__" or relative.startswith("exercises/"):
            continue
        if relative.endswith("/__init__"):  # a subpackage: named through its modules
            relative = relative.removesuffix("/__init__")
            assert any(name.startswith(relative + "/") for name in named), relative
            continue
        assert relative in named, f"README.md's package table does not name {relative}"
    assert "exercises" in named


def _imported_modules(code: str) -> set[str]:
    """Every module an ``import`` statement of ``code`` names (``from a import b``: a and a.b)."""
    import ast

    code = "\n".join(line for line in code.splitlines() if not line.startswith("%"))
    modules = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return modules


def test_no_chapter_imports_the_command_line_module(notebooks_tool):
    """Chapters import what they time (perf.workloads) and the suite, never the command line."""
    import jupytext

    assert "onebyone.perf.experiments" in _imported_modules(
        "from onebyone.perf import experiments")
    for chapter in notebooks_tool.chapters():
        notebook = jupytext.read(chapter, fmt="md:myst")
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert "onebyone.perf.experiments" not in _imported_modules(cell.source), (
                    chapter.name)
