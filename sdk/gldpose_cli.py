"""The ``gldpose`` command: dispatches a subcommand to the one package that implements it.

It lives outside the SDK so that ``gldpose_sdk`` never imports training or export code; only the
module of the subcommand asked for is imported.
"""
from __future__ import annotations

import importlib
import sys

# subcommand -> ("module:function", one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "ablate": ("gldpose_train.cli:ablate_main", "train variants of a recipe and compare them"),
    "calibrate": ("gldpose_train.cli:calibrate_main",
                  "fit the predicted std's calibration and store it in the manifest"),
    "compare": ("gldpose_train.cli:compare_main",
                "a model on every runtime and precision beside the peers, on real crops"),
    "eval": ("gldpose_train.cli:eval_main", "evaluate a checkpoint on a dataset"),
    "export": ("gldpose_export.cli:main", "export a checkpoint to ONNX / OpenVINO / TensorRT"),
    "import-hopenet": ("gldpose_train.cli:import_hopenet_main", "convert a Hopenet .pkl"),
    "label-noise": ("gldpose_train.cli:label_noise_main",
                    "annotation noise from near-duplicate entries, a model's error beside it"),
    "predict": ("gldpose_sdk.cli:main", "estimate head poses in images, folders, video, camera"),
    "soup": ("gldpose_train.cli:soup_main",
             "average the weights of models fine-tuned from one start"),
    "synth": ("gldpose_train.synth.cli:main", "render synthetic heads in the 300W-LP format"),
    "train": ("gldpose_train.cli:train_main", "train a model"),
}


def _usage() -> str:
    lines = ["usage: gldpose SUBCOMMAND [options]", "", "subcommands:"]
    lines += [f"  {name:<15} {help_}" for name, (_, help_) in sorted(SUBCOMMANDS.items())]
    lines += ["", "Run `gldpose SUBCOMMAND --help` for its options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gldpose`` console script."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"gldpose: unknown subcommand {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name = SUBCOMMANDS[name][0].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
