"""The run configuration's sections: one dataclass per concern, each field declared once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segcompress.config.fields import (
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    POSITIVE_NUMBER,
    POSITIVE_SIZE,
    PROBABILITY,
    Check,
    flag,
    setting,
)

__all__ = [
    "DATASET_KEYS",
    "FORMAT_NAMES",
    "KD_TERMS",
    "LOGIT_TERMS",
    "MASK_KINDS",
    "AugmentConfig",
    "DataConfig",
    "DistillConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
]


# The DataConfig fields that say where a dataset is and how to read it (not how to batch it):
# what a prepared cache is named by, and what the commands' shared dataset flags set.
DATASET_KEYS = (
    "root",
    "format",
    "level",
    "void_as_class",
    "classes",
    "images",
    "masks",
    "image_suffix",
    "mask_suffix",
    "holdout",
    "mask_kind",
)
FORMAT_NAMES = ("idd-kaggle", "idd", "idd-lite", "folder")
MASK_KINDS = ("index", "rgb")


@dataclass
class DataConfig:
    """Where the dataset is, how to read it and how to batch it.

    The data layer reads it as ``DataSpec`` (the same class; only :data:`DATASET_KEYS` matter
    there), so a config's ``data:`` section opens its dataset as it stands.
    """

    root: str | None = setting(
        "--data", "--root_path", "--root", default=None, metavar="ROOT", help="dataset root folder"
    )
    format: str | None = setting(
        "--format",
        default=None,
        choices=FORMAT_NAMES,
        help="dataset layout (detected when omitted)",
    )
    level: int = setting(
        "--level", default=3, choices=(1, 2, 3), help="IDD label level (format idd; default 3)"
    )
    void_as_class: bool = setting(
        "--void-as-class",
        default=False,
        help="idd-kaggle: keep black (void) as one more class instead of ignoring it",
    )
    classes: str | None = setting(
        "--classes", default=None, metavar="FILE", help="class table (YAML/JSON), format folder"
    )
    images: str | None = setting(
        "--images", default=None, metavar="DIR", help="image folder (format folder)"
    )
    masks: str | None = setting(
        "--masks", default=None, metavar="DIR", help="mask folder (format folder)"
    )
    image_suffix: str = setting(
        "--image-suffix", default="", metavar="SUFFIX", help="suffix stripped from image stems"
    )
    mask_suffix: str = setting(
        "--mask-suffix", default="", metavar="SUFFIX", help="suffix stripped from mask stems"
    )
    holdout: str | None = setting(
        "--holdout",
        default=None,
        metavar="FILE",
        help="frames held out of the training split (split 'holdout'; see `data holdout`)",
    )
    unlabeled: list[str] = field(
        default_factory=list,
        metadata=flag(
            "--unlabeled",
            nargs="+",
            metavar="DIR",
            help="distill: folders of frames without masks (searched recursively), learnt from "
            "the teacher's cached targets alone",
        ),
    )
    mask_kind: str | None = setting(
        "--mask-kind",
        default=None,
        choices=MASK_KINDS,
        help="format folder: masks hold class ids (index) or class colours (rgb); "
        "detected from --classes and the first mask when omitted",
    )
    img_size: tuple[int, int] = setting(
        "--img-size",
        "--img_size",
        default=(128, 128),
        metavar="SIZE",
        check=POSITIVE_SIZE,
        parse="size",
        help="N or HxW, e.g. 128 or 128x256",
    )
    train_split: str = setting("--train-split", default="train", metavar="SPLIT")
    val_split: str = setting("--val-split", default="val", metavar="SPLIT")
    workers: int = setting(
        "--workers", default=0, metavar="N", check=NON_NEGATIVE, help="loader processes"
    )
    skip_bad: bool = setting(
        "--skip-bad",
        default=False,
        help="leave out orphan, duplicate and unreadable files (counted) instead of stopping",
    )

    def to_dict(self) -> dict[str, Any]:
        """The dataset's identity (:data:`DATASET_KEYS`), which prepared caches are named by;
        ``mask_kind`` is left out when detected, so caches made before it keep their names."""
        out = {key: getattr(self, key) for key in DATASET_KEYS}
        if out["mask_kind"] is None:
            del out["mask_kind"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataConfig:
        """The inverse of :meth:`to_dict`, lenient: keys that are no field are ignored."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class AugmentConfig:
    """Training augmentation; the defaults suit driving scenes (no vertical flips).

    Hue jitter is off by default: in driving scenes hue carries class evidence (sky, vegetation,
    lane paint), and its RGB->HSV round trip is the costly part of a cached training sample.
    ``scale: [1, 1]`` turns random scale/crop off. ``mix`` mixes pairs of a batch (``cutmix``
    boxes or ``classmix`` classes, each sample with probability ``mix_prob``); with cached
    teacher targets the targets are mixed with the same mask.
    """

    scale: tuple[float, float] = setting(
        "--aug-scale",
        default=(0.5, 2.0),
        parse="scale_range",
        metavar="LOW,HIGH",
        help="random scale range before the crop (augment.scale), e.g. 0.5,2; 1,1: off",
    )
    hflip: float = setting(default=0.5, check=PROBABILITY)
    brightness: float = setting(default=0.3, check=NON_NEGATIVE)
    contrast: float = setting(default=0.3, check=NON_NEGATIVE)
    saturation: float = setting(default=0.3, check=NON_NEGATIVE)
    hue: float = setting(default=0.0, check=Check("in [0, 0.5]", lambda v: 0 <= v <= 0.5))
    haze: float = setting(default=0.0, check=PROBABILITY)  # probability of adding haze
    mix: str = setting(
        "--mix",
        default="none",
        choices=("none", "cutmix", "classmix"),
        help="mix pairs of a batch (augment.mix; teacher targets are mixed alike)",
    )
    mix_prob: float = setting("--mix-prob", default=0.5, metavar="P", check=PROBABILITY)


@dataclass
class ModelConfig:
    """A registry name and its constructor arguments (``num_classes`` comes from the data).

    ``args`` is set by ``--model-arg KEY=VALUE``, one argument a flag (``cli.train``)."""

    name: str = setting(
        "--model",
        default="teacher",
        metavar="NAME",
        help="registry name (default: teacher; distill: student_s)",
    )
    args: dict[str, Any] = field(default_factory=dict)
    # Start the encoder from ImageNet (models with ``encoder=...``); a training-time choice.
    pretrained: bool = setting(
        "--pretrained",
        default=False,
        nargs="?",
        parse="yes_no",
        metavar="true|false",
        help="start the model's encoder from ImageNet (models with an encoder=...; needs "
        "pip install 'segcompress[pretrained]', nothing is downloaded); 'false' overrides a "
        "config's model.pretrained",
    )


@dataclass
class OptimConfig:
    """Optimizer and per-step learning-rate schedule (linear warm-up, then cosine or poly decay)."""

    name: str = setting("--optimizer", default="adamw", choices=("adamw", "sgd"))
    lr: float = setting("--lr", default=1e-3, metavar="LR", check=POSITIVE_NUMBER)
    weight_decay: float = setting("--weight-decay", default=1e-4, metavar="WD", check=NON_NEGATIVE)
    momentum: float = 0.9
    schedule: str = setting("--schedule", default="cosine", choices=("cosine", "poly", "constant"))
    warmup_epochs: float = setting(
        "--warmup-epochs", default=1.0, metavar="EPOCHS", check=NON_NEGATIVE
    )
    min_lr_ratio: float = setting(default=0.01, check=Check("in [0, 1]", lambda v: 0 <= v <= 1))
    poly_power: float = 0.9
    # The flag's 0 means off (null in the file).
    grad_clip: float | None = setting(
        "--grad-clip",
        default=1.0,
        metavar="NORM",
        check=Check("positive or null", lambda v: v > 0),
        parse="non_negative_float",
        help="gradient norm limit (0: off)",
    )
    # The pretrained encoder's learning rate as a multiple of ``lr``.
    encoder_lr_mult: float = setting(
        "--encoder-lr-mult",
        default=1.0,
        metavar="X",
        check=POSITIVE_NUMBER,
        help="learning rate of a pretrained encoder, as a multiple of --lr",
    )


@dataclass
class LossConfig:
    """Weights of the segmentation loss terms and how classes are weighted in cross-entropy.

    The four term weights are set together by ``--loss ce=1,dice=1`` (``cli.train``)."""

    ce: float = setting(default=1.0, check=NON_NEGATIVE)
    dice: float = setting(default=1.0, check=NON_NEGATIVE)
    focal: float = setting(default=0.0, check=NON_NEGATIVE)
    lovasz: float = setting(default=0.0, check=NON_NEGATIVE)
    focal_gamma: float = 2.0
    aux: float = setting(default=0.4, check=NON_NEGATIVE)
    class_weights: str = setting(
        "--class-weights",
        default="none",
        choices=("none", "median-freq", "inverse-log"),
        help="cross-entropy class weights, computed from the training split",
    )


def _weight(term: str, default: float) -> Any:
    return setting(f"--lambda-{term}", default=default, metavar="WEIGHT", check=NON_NEGATIVE)


@dataclass
class DistillConfig:
    """Knowledge distillation: the teacher checkpoint, which KD terms to use and their weights.

    ``kd`` names the terms (``kl`` pixel KD, ``cwd`` channel-wise, ``dist`` DIST's Pearson
    correlations, ``feat`` features through adapters, ``at`` attention transfer); a term's
    ``lambda_*`` is used only when it is named. ``precompute_teacher`` runs the teacher once per
    training image before training instead of at every step (logit terms only); its cached
    logits then follow each sample's scale, crop, flip and mixing. They are the average over
    the mirror (``tta_flip``) and the ``tta_scales`` views, stored at ``1 / target_stride`` of
    the image size. ``teacher_size`` lets the teacher see the frames at another size than the
    student (e.g. the full resolution it was trained at; its logits are shrunk to the student's
    size). ``ensemble`` names more teacher checkpoints whose logits are averaged with
    ``teacher``'s (logit terms only).
    """

    teacher: str | None = setting(
        "--teacher", default=None, metavar="CHECKPOINT", help="teacher checkpoint (best.pt)"
    )
    ensemble: list[str] = field(
        default_factory=list,
        metadata=flag(
            "--ensemble",
            nargs="+",
            metavar="CHECKPOINT",
            help="more teachers whose logits are averaged with --teacher's (logit terms)",
        ),
    )
    # chosen on the IDD-Lite holdout at convergence (BENCHMARKS.md, "IDD-Lite at convergence")
    kd: list[str] = field(
        default_factory=lambda: ["dist"],
        metadata=flag(
            "--kd", metavar="TERMS", help="KD terms, any of kl,cwd,dist,feat,at (default: dist)"
        ),
    )
    temperature: float = setting("--temperature", default=4.0, metavar="T", check=POSITIVE)
    cwd_tau: float = setting("--cwd-tau", default=4.0, metavar="TAU", check=POSITIVE)
    dist_tau: float = setting("--dist-tau", default=1.0, metavar="TAU", check=POSITIVE)
    lambda_kd: float = _weight("kd", 1.0)
    lambda_cwd: float = _weight("cwd", 3.0)
    lambda_dist: float = _weight("dist", 1.0)
    lambda_feat: float = _weight("feat", 1.0)
    lambda_at: float = _weight("at", 1.0)
    feature_loss: str = setting("--feature-loss", default="mse", choices=("mse", "cosine"))
    precompute_teacher: bool = setting(
        "--precompute-teacher",
        default=False,
        help="teacher logits once per image before training, then warped with each sample's "
        "augmentation (kl/cwd/dist)",
    )
    tta_scales: list[float] = field(
        default_factory=lambda: [1.0],
        metadata=flag(
            "--tta-scales",
            parse="scales",
            metavar="S,S,...",
            help="scales whose teacher logits are averaged into the cache, e.g. 0.75,1,1.5 "
            "(default 1)",
        ),
    )
    tta_flip: bool = True
    target_stride: int = setting(
        "--target-stride",
        default=1,
        metavar="N",
        check=Check("1 or more", lambda v: v >= 1, "positive"),
        help="store cached logits at 1/N of the image size (default 1)",
    )
    teacher_size: tuple[int, int] | None = setting(  # None: the student's data.img_size
        "--teacher-size",
        default=None,
        metavar="HxW",
        check=POSITIVE_SIZE,
        parse="size",
        help="with --precompute-teacher: the teacher sees each frame at this size (e.g. the "
        "size it was trained at), its logits shrunk to --img-size (default: --img-size)",
    )


@dataclass
class TrainConfig:
    """Everything one training (or distillation) run needs; saved as ``{out}/config.yaml``."""

    out: str = setting(
        "--out",
        default="runs/train",
        metavar="DIR",
        help="run folder (checkpoints, logs, pictures)",
    )
    threads: int | None = setting(  # None: torch's default, every core
        "--threads",
        default=None,
        check=POSITIVE_INT,
        help="CPU threads (default: every core); give each of several jobs its own",
    )
    epochs: int = setting("--epochs", default=150, check=POSITIVE_INT)
    batch: int = setting("--batch", "--batch-size", "--batch_size", default=8, check=POSITIVE_INT)
    eval_every: int = setting("--eval-every", default=1, check=POSITIVE_INT, help="epochs")
    patience: int = setting(
        "--patience",
        default=0,
        check=Check("0 (off) or a positive integer", lambda v: v >= 0, "non_negative"),
        help="early stop after N epochs without a better val mIoU (0: off)",
    )
    amp: str = setting(
        "--amp", default="auto", choices=("auto", "none", "bf16", "fp16"), help="mixed precision"
    )
    device: str = setting("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    seed: int = setting("--seed", default=0)
    deterministic: bool = setting("--deterministic", default=False, help="reproducible kernels")
    sync_bn: bool = setting("--sync-bn", default=False, help="DDP on CUDA")
    channels_last: bool = True
    progress: bool = setting("--no-progress", default=True, help="no progress bars")
    samples: int = setting(
        "--samples", default=8, check=NON_NEGATIVE, help="validation samples drawn (samples.png)"
    )
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)


# Names of the KD terms on the command line -> the DistillConfig weight each one switches on.
KD_TERMS = {
    "kl": "lambda_kd",
    "cwd": "lambda_cwd",
    "dist": "lambda_dist",
    "feat": "lambda_feat",
    "at": "lambda_at",
}
# Terms that need only the teacher's logits, which can therefore be cached.
LOGIT_TERMS = ("kl", "cwd", "dist")
