"""One definition of every user-visible name: ids the engine accepts and the labels people read.

The CLI, the JSON the engine writes, the app and the benchmarks all import from here, so a method
or a measure is called the same everywhere. Ids are stable (they are saved in run folders);
labels may be reworded freely.
"""

from __future__ import annotations

# --------------------------------------------------------------------------------------------
# phase 2-3 methods (ids saved in methods.json; order = display order)
# --------------------------------------------------------------------------------------------
METHODS: tuple[str, ...] = ("none", "crt", "ros", "smote", "bsmote", "adasyn", "eos", "eos_published")

# Short names for tables and legends.
METHOD_NAMES: dict[str, str] = {
    "none": "phase-1 head",
    "crt": "cRT",
    "ros": "ROS",
    "smote": "SMOTE",
    "bsmote": "Borderline-SMOTE",
    "adasyn": "ADASYN",
    "eos": "EOS",
    "eos_published": "EOS (as published)",
}

# One-line descriptions for pickers and help texts.
METHOD_LABELS: dict[str, str] = {
    "none": "phase-1 head (the CNN's own classifier, not re-trained)",
    "crt": "cRT: re-trained head, no oversampling (the control)",
    "ros": "ROS: random over-sampling (copies)",
    "smote": "SMOTE: interpolation within a class",
    "bsmote": "Borderline-SMOTE: SMOTE from borderline points",
    "adasyn": "ADASYN: SMOTE weighted toward hard points",
    "eos": "EOS: interpolation toward the nearest enemies (as in the paper)",
    "eos_published": "EOS as published: the reference code's partner choice",
}

# The control every re-trained method is compared with (same phase 1, same head recipe and seed).
CONTROL_METHOD = "crt"
# A head's headline scores on the test set (keys of eos_core.evaluation.classification_report_dict), in
# display order: what every table, comparison and verdict reports.
HEADLINE: tuple[str, ...] = ("balanced_accuracy", "g_mean", "macro_f1")

METHOD_COLORS: dict[str, str] = {
    "none": "#8c8c8c",
    "crt": "#4d4d4d",
    "ros": "#b07aa1",
    "smote": "#4e79a7",
    "bsmote": "#76b7b2",
    "adasyn": "#edc948",
    "eos": "#e15759",
    "eos_published": "#f28e2b",
}

# --------------------------------------------------------------------------------------------
# phase 1
# --------------------------------------------------------------------------------------------
LOSSES: tuple[str, ...] = ("ce", "focal", "ldam_drw", "cb")
LOSS_LABELS: dict[str, str] = {
    "ce": "cross-entropy",
    "focal": "focal loss",
    "ldam_drw": "LDAM with deferred re-weighting",
    "cb": "class-balanced cross-entropy",
}
MODELS: tuple[str, ...] = ("auto", "small_cnn", "resnet32")
MODEL_LABELS: dict[str, str] = {
    "auto": "auto (on a GPU ResNet-32 for colour images of 32 px or more; on a CPU always the small CNN)",
    "small_cnn": "small CNN",
    "resnet32": "ResNet-32",
}
PROFILES: tuple[str, ...] = ("exp", "step", "as_is")
PROFILE_LABELS: dict[str, str] = {
    "exp": "exponential (long-tailed)",
    "step": "step (half the classes are minorities)",
    "as_is": "as is (the dataset's own class counts; ρ is ignored)",
}

# Dataset ids load_dataset accepts (eos_core.data), in display order.
DATASETS: tuple[str, ...] = ("digits", "mnist", "fashion-mnist", "cifar10", "svhn", "folder")
DATASET_LABELS: dict[str, str] = {
    "digits": "digits (8×8, bundled — works offline)",
    "mnist": "MNIST",
    "fashion-mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "svhn": "SVHN",
    "folder": "my images (a folder or .zip upload)",
}
# Short names for figure titles and tables; an image folder is shown as "<folder name> (folder)"
# (eos_core.data.dataset_display_name), so a re-encoded copy is never taken for the original set.
DATASET_NAMES: dict[str, str] = {
    "digits": "digits",
    "mnist": "MNIST",
    "fashion-mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "svhn": "SVHN",
    "folder": "image folder",
}


def method_name(method: str) -> str:
    """Short display name of a method id (the id itself when unknown)."""
    return METHOD_NAMES.get(method, method)


# --------------------------------------------------------------------------------------------
# generalization gap in embedding space (eos_core.gap._report): keys saved in gap.json / history.json
# --------------------------------------------------------------------------------------------
# Each measure compares a test point and a training point of one class against the SAME number of
# reference points (the class's other n-1 training points), so it reads "no gap" on average when
# train and test come from one distribution, whatever the class size.
GAP_MEASURES: tuple[str, ...] = ("centroid_ratio", "nn_ratio", "nn1_recall_gap")
GAP_NAMES: dict[str, str] = {
    "centroid_ratio": "centre-distance ratio",
    "nn_ratio": "nearest-neighbour ratio",
    "nn1_recall_gap": "1-NN recall gap",
}
# One sentence a student understands; used as the label in the CLI, the app and the docstrings.
GAP_LABELS: dict[str, str] = {
    "centroid_ratio": "how many times farther a test point is than a training point from the centre of "
                      "the class's other training points (1 = no gap)",
    "nn_ratio": "how many times farther a test point is than a training point from its nearest other "
                "training point of the class (1 = no gap)",
    "nn1_recall_gap": "share of training points minus share of test points whose nearest other training "
                      "point has their class (0 = no gap)",
}
# The value each measure has, on average, when there is no gap.
GAP_NO_EFFECT: dict[str, float] = {"centroid_ratio": 1.0, "nn_ratio": 1.0, "nn1_recall_gap": 0.0}

# How synthetic points change the gap (eos_core.gap._closure): keys saved per method in methods.json.
CLOSURE_LABELS: dict[str, str] = {
    "nn_gap_closed": "share of the class's nearest-neighbour gap the synthetic points close "
                     "(0 = none, 1 = all)",
    "nn1_recall_change": "change in the share of test points whose nearest training point (real or "
                         "synthetic) has their class, against no oversampling",
}
