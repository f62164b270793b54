"""Knowledge-distillation losses from a frozen teacher to a student segmentation model.

Logit-based terms work over the *class* dimension and skip ignored pixels:

- :class:`PixelKDLoss`: ``T^2 * KL(softmax(t/T) || softmax(s/T))`` over classes, averaged over
  valid pixels (Hinton et al., 2015, applied per pixel).
- :class:`ChannelWiseDistillationLoss` (CWD, Shu et al., 2021): each class channel becomes a
  distribution over spatial positions (softmax with temperature ``tau``); ``tau^2 * KL``
  teacher||student summed over positions, averaged over ``N * C`` as in the paper and mmrazor.
  Ignored pixels are removed from the spatial distributions by setting their logits to a very
  large negative value before the softmax (probability exactly 0) and zeroing their KL terms.
- :class:`DISTLoss` (DIST, Huang et al., 2022): every valid pixel is a sample; with
  ``Y = softmax(z/tau)`` over classes, ``tau^2 * (beta * inter + gamma * intra)`` where
  ``inter = 1 - mean_p pearson(Y_s[p, :], Y_t[p, :])`` (per pixel, across classes) and
  ``intra = 1 - mean_c pearson(Y_s[:, c], Y_t[:, c])`` (per class, across the batch's valid
  pixels). Ignored pixels are dropped before either correlation is computed.

Feature-based terms compare intermediate features named by the models' ``feature_info``:

- :class:`FeatureDistillation`: 1x1 conv adapters (student -> teacher channels), bilinear resize
  to the teacher's resolution, then MSE or cosine distance.
- :class:`AttentionTransfer` (Zagoruyko & Komodakis, 2017): spatial maps ``mean_c |f|^p``,
  L2-normalised per sample, compared by squared L2 distance (summed over positions, averaged over
  the batch; the authors' code averages over positions too, which is this value / (H*W)).

Feature terms are not masked by the ignore index: features at coarse strides mix ignored and
valid pixels, and the teacher's features on void regions are still a meaningful target.

Teacher tensors are always detached here, but the teacher should also run frozen and without
autograd: call :func:`freeze_teacher` once and run it under ``torch.no_grad()``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segcompress.errors import UsageError

__all__ = [
    "AttentionTransfer",
    "ChannelWiseDistillationLoss",
    "DISTLoss",
    "DistillationLoss",
    "FeatureDistillation",
    "PixelKDLoss",
    "attention_map",
    "default_feature_pairs",
    "freeze_teacher",
]

DEFAULT_IGNORE_INDEX = 255
FEATURE_LOSSES = ("mse", "cosine")
FeatureInfo = Sequence[Mapping[str, Any]]
FeaturePairs = Sequence[tuple[str, str]]


def freeze_teacher(model: nn.Module) -> nn.Module:
    """Put the teacher in eval mode with no trainable parameters (BN statistics stay fixed)."""
    model.eval()
    model.requires_grad_(False)
    return model


def _check_positive(value: float, what: str) -> float:
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{what} must be a finite number > 0, got {value}")
    return float(value)


def _check_logits(student: Tensor, teacher: Tensor, target: Tensor | None) -> None:
    if student.dim() != 4 or student.shape != teacher.shape:
        raise UsageError(
            f"distillation needs student and teacher logits of one shape [N, C, H, W], got "
            f"{tuple(student.shape)} and {tuple(teacher.shape)}; both models must predict the "
            "same classes at the input resolution"
        )
    if target is not None and (
        target.dim() != 3 or target.shape != student.shape[:1] + student.shape[2:]
    ):
        raise UsageError(
            f"target {tuple(target.shape)} does not match logits {tuple(student.shape)}"
        )


class PixelKDLoss(nn.Module):
    """Per-pixel KD over classes: ``T^2 * KL(p_t || p_s)``, averaged over valid pixels."""

    def __init__(self, temperature: float = 4.0, ignore_index: int = DEFAULT_IGNORE_INDEX) -> None:
        super().__init__()
        self.temperature = _check_positive(temperature, "KD temperature")
        self.ignore_index = ignore_index

    def forward(
        self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor | None = None
    ) -> Tensor:
        _check_logits(student_logits, teacher_logits, target)
        t = self.temperature
        log_s = F.log_softmax(student_logits.float() / t, dim=1)
        log_t = F.log_softmax(teacher_logits.detach().float() / t, dim=1)
        kl = F.kl_div(log_s, log_t, reduction="none", log_target=True).sum(1)  # [N, H, W]
        if target is None:
            return kl.mean() * t**2
        valid = target != self.ignore_index
        kl = torch.where(valid, kl, torch.zeros_like(kl))
        return kl.sum() / valid.sum().clamp(min=1) * t**2


class ChannelWiseDistillationLoss(nn.Module):
    """CWD: per class channel, KL between spatial softmax distributions (teacher || student)."""

    def __init__(self, tau: float = 4.0, ignore_index: int = DEFAULT_IGNORE_INDEX) -> None:
        super().__init__()
        self.tau = _check_positive(tau, "CWD tau")
        self.ignore_index = ignore_index

    def forward(
        self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor | None = None
    ) -> Tensor:
        _check_logits(student_logits, teacher_logits, target)
        n, c = student_logits.shape[:2]
        s = (student_logits.float() / self.tau).flatten(2)  # [N, C, HW]
        t = (teacher_logits.detach().float() / self.tau).flatten(2)
        valid = None
        if target is not None:
            valid = (target != self.ignore_index).flatten(1).unsqueeze(1)  # [N, 1, HW]
            # Half the float32 minimum: exp() underflows to exactly 0, and differences of two such
            # log-probabilities stay finite (no inf - inf).
            fill = torch.finfo(s.dtype).min / 2
            s = s.masked_fill(~valid, fill)
            t = t.masked_fill(~valid, fill)
        log_s = F.log_softmax(s, dim=2)
        log_t = F.log_softmax(t, dim=2)
        kl = F.kl_div(log_s, log_t, reduction="none", log_target=True)
        if valid is not None:
            kl = torch.where(valid, kl, torch.zeros_like(kl))
        return kl.sum() * self.tau**2 / (n * c)


def _pearson(
    x: Tensor, y: Tensor, dims: int | tuple[int, ...], weight: Tensor | None = None
) -> Tensor:
    """Pearson correlation of ``x`` and ``y`` over ``dims``, as in the DIST code (eps 1e-8).

    With a 0/1 ``weight`` (full size along ``dims``, broadcast along the others), only the
    samples it marks count: the result equals the plain correlation of those samples alone,
    without gathering them first.
    """
    if weight is None:
        x = x - x.mean(dims, keepdim=True)
        y = y - y.mean(dims, keepdim=True)
    else:
        count = weight.sum(dims, keepdim=True)
        x = (x - (x * weight).sum(dims, keepdim=True) / count) * weight
        y = (y - (y * weight).sum(dims, keepdim=True) / count) * weight
    norms = x.square().sum(dims).sqrt() * y.square().sum(dims).sqrt()
    return (x * y).sum(dims) / (norms + 1e-8)


class DISTLoss(nn.Module):
    """DIST: match the teacher's class relations by Pearson correlation instead of exact KL.

    KL asks the student to reproduce the teacher's probabilities exactly, which a much smaller
    student often cannot do when the teacher is far stronger. DIST only asks for the same
    *relations*: per pixel, class probabilities that vary together with the teacher's across
    classes (inter-class term), and per class, probabilities that vary together with the
    teacher's across pixels (intra-class term). Pearson correlation ignores any shift and positive
    scale of either side, so the student is not pushed to match the teacher's exact confidence,
    which makes the loss robust to a large teacher-student gap (Huang et al., "Knowledge
    Distillation from A Stronger Teacher", NeurIPS 2022).

    Pixels with ``target == ignore_index`` are not samples: they are removed before both terms.
    """

    def __init__(
        self,
        tau: float = 1.0,
        beta: float = 1.0,
        gamma: float = 1.0,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
    ) -> None:
        super().__init__()
        self.tau = _check_positive(tau, "DIST tau")
        for name, value in (("beta", beta), ("gamma", gamma)):
            if not math.isfinite(value) or value < 0:
                raise UsageError(f"DIST {name} must be a finite number >= 0, got {value}")
        if beta == 0 and gamma == 0:
            raise UsageError("DIST beta and gamma are both 0: the loss would always be 0")
        self.beta = float(beta)
        self.gamma = float(gamma)
        self.ignore_index = ignore_index

    def forward(
        self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor | None = None
    ) -> Tensor:
        _check_logits(student_logits, teacher_logits, target)
        # Computed in the logits' [N, C, H, W] layout with ignored pixels weighted 0: the same
        # values as gathering the valid pixels into [P, C] first, several times faster on a CPU.
        y_s = F.softmax(student_logits.float() / self.tau, dim=1)
        y_t = F.softmax(teacher_logits.detach().float() / self.tau, dim=1)
        valid = None if target is None else (target != self.ignore_index).unsqueeze(1)
        if valid is not None and not bool(valid.any()):
            return student_logits.sum().float() * 0
        weight = None if valid is None else valid.to(y_s.dtype)
        loss = y_s.new_zeros(())
        if self.beta > 0:
            inter = _pearson(y_s, y_t, 1)  # per pixel, across classes: [N, H, W]
            inter = inter.mean() if weight is None else (inter * weight[:, 0]).sum() / weight.sum()
            loss = loss + self.beta * (1 - inter)
        if self.gamma > 0:
            intra = _pearson(y_s, y_t, (0, 2, 3), weight)  # per class, across valid pixels
            loss = loss + self.gamma * (1 - intra.mean())
        return loss * self.tau**2

    def extra_repr(self) -> str:
        return f"tau={self.tau:g}, beta={self.beta:g}, gamma={self.gamma:g}"


def _info_by_name(info: FeatureInfo, who: str) -> dict[str, Mapping[str, Any]]:
    try:
        by_name = {str(entry["name"]): entry for entry in info}
        for entry in info:
            int(entry["channels"]), int(entry["stride"])
    except (TypeError, KeyError, ValueError) as exc:
        raise UsageError(
            f"{who} feature_info must be a list of {{'name', 'channels', 'stride'}} entries"
        ) from exc
    return by_name


def default_feature_pairs(
    student_info: FeatureInfo, teacher_info: FeatureInfo
) -> list[tuple[str, str]]:
    """Pair student and teacher features of equal stride.

    Within one stride, features are paired in their ``feature_info`` order (the first student
    feature at stride 4 with the first teacher feature at stride 4, ...); extras stay unpaired.
    """
    _info_by_name(student_info, "student")
    _info_by_name(teacher_info, "teacher")
    teacher_by_stride: dict[int, list[str]] = {}
    for entry in teacher_info:
        teacher_by_stride.setdefault(int(entry["stride"]), []).append(str(entry["name"]))
    used: dict[int, int] = {}
    pairs = []
    for entry in student_info:
        stride = int(entry["stride"])
        candidates = teacher_by_stride.get(stride, [])
        k = used.get(stride, 0)
        if k < len(candidates):
            pairs.append((str(entry["name"]), candidates[k]))
            used[stride] = k + 1
    return pairs


def _resolve_pairs(
    student_info: FeatureInfo, teacher_info: FeatureInfo, pairs: FeaturePairs | None
) -> list[tuple[str, str]]:
    student = _info_by_name(student_info, "student")
    teacher = _info_by_name(teacher_info, "teacher")
    resolved = (
        default_feature_pairs(student_info, teacher_info)
        if pairs is None
        else [(str(s), str(t)) for s, t in pairs]
    )
    if not resolved:
        raise UsageError(
            "no feature pairs to distil: the student and teacher share no stride; pass pairs "
            f"explicitly (student features {sorted(student)}, teacher features {sorted(teacher)})"
        )
    for s_name, t_name in resolved:
        if s_name not in student:
            raise UsageError(f"student has no feature {s_name!r}; available: {', '.join(student)}")
        if t_name not in teacher:
            raise UsageError(f"teacher has no feature {t_name!r}; available: {', '.join(teacher)}")
    return resolved


def _feature(features: Mapping[str, Tensor], name: str, who: str) -> Tensor:
    if name not in features:
        raise UsageError(
            f"the {who}'s output has no feature {name!r}; run it with return_features=True "
            f"(it returned {', '.join(features)})"
        )
    return features[name]


class FeatureDistillation(nn.Module):
    """MSE or cosine distance between adapted student features and teacher features.

    Each pair gets a 1x1 conv (student channels -> teacher channels, with bias); the adapted map is
    bilinearly resized to the teacher's resolution. The loss is the mean over pairs. The adapters
    are trainable: put this module's parameters in the optimizer together with the student's.
    """

    def __init__(
        self,
        student_info: FeatureInfo,
        teacher_info: FeatureInfo,
        pairs: FeaturePairs | None = None,
        loss: str = "mse",
    ) -> None:
        super().__init__()
        if loss not in FEATURE_LOSSES:
            raise UsageError(f"unknown feature loss {loss!r}; known: {', '.join(FEATURE_LOSSES)}")
        self.loss = loss
        self.pairs = _resolve_pairs(student_info, teacher_info, pairs)
        student = _info_by_name(student_info, "student")
        teacher = _info_by_name(teacher_info, "teacher")
        self.adapters = nn.ModuleList(
            nn.Conv2d(int(student[s]["channels"]), int(teacher[t]["channels"]), kernel_size=1)
            for s, t in self.pairs
        )

    def forward(
        self, student_features: Mapping[str, Tensor], teacher_features: Mapping[str, Tensor]
    ) -> Tensor:
        losses = []
        for (s_name, t_name), adapter in zip(self.pairs, self.adapters, strict=True):
            target = _feature(teacher_features, t_name, "teacher").detach().float()
            adapted = adapter(_feature(student_features, s_name, "student")).float()
            if adapted.shape[-2:] != target.shape[-2:]:
                adapted = F.interpolate(
                    adapted, size=target.shape[-2:], mode="bilinear", align_corners=False
                )
            if self.loss == "mse":
                losses.append(F.mse_loss(adapted, target))
            else:
                losses.append((1 - F.cosine_similarity(adapted, target, dim=1)).mean())
        return torch.stack(losses).mean()

    def extra_repr(self) -> str:
        return f"loss={self.loss}, pairs={self.pairs}"


def attention_map(features: Tensor, p: float = 2.0, size: tuple[int, int] | None = None) -> Tensor:
    """Spatial attention ``mean_c |f|^p`` as [N, H*W], optionally resized, L2-normalised."""
    att = features.float().abs().pow(p).mean(1, keepdim=True)
    if size is not None and tuple(att.shape[-2:]) != tuple(size):
        att = F.interpolate(att, size=size, mode="bilinear", align_corners=False)
    return F.normalize(att.flatten(1), dim=1)


class AttentionTransfer(nn.Module):
    """Attention transfer: squared L2 distance of normalised attention maps, mean over pairs."""

    def __init__(self, pairs: FeaturePairs, p: float = 2.0) -> None:
        super().__init__()
        if not pairs:
            raise UsageError("attention transfer needs at least one (student, teacher) pair")
        self.pairs = [(str(s), str(t)) for s, t in pairs]
        self.p = _check_positive(p, "attention-transfer p")

    def forward(
        self, student_features: Mapping[str, Tensor], teacher_features: Mapping[str, Tensor]
    ) -> Tensor:
        losses = []
        for s_name, t_name in self.pairs:
            target = _feature(teacher_features, t_name, "teacher").detach()
            a_t = attention_map(target, self.p)
            a_s = attention_map(
                _feature(student_features, s_name, "student"), self.p, tuple(target.shape[-2:])
            )
            losses.append((a_s - a_t).pow(2).sum(1).mean())
        return torch.stack(losses).mean()

    def extra_repr(self) -> str:
        return f"p={self.p:g}, pairs={self.pairs}"


def _as_outputs(out: Tensor | Mapping[str, Tensor], who: str) -> Mapping[str, Tensor]:
    if isinstance(out, Tensor):
        return {"logits": out}
    if "logits" not in out:
        raise UsageError(
            f"the {who}'s output dict has no 'logits'; run it with return_features=True"
        )
    return out


class DistillationLoss(nn.Module):
    """``task + kd*KD + cwd*CWD + dist*DIST + feat*feat + at*AT``, each weight is ``lambda_<name>``.

    Terms with a zero weight are not computed. Feature terms need the models' ``feature_info``
    (``student_info``/``teacher_info``) and use ``feature_pairs`` or, when None, the pairs of
    equal stride from :func:`default_feature_pairs`. This module holds the feature adapters'
    parameters: move it to the device and optimise its parameters with the student's.
    """

    def __init__(
        self,
        task_loss: nn.Module,
        *,
        lambda_kd: float = 0.0,
        lambda_cwd: float = 0.0,
        lambda_dist: float = 0.0,
        lambda_feat: float = 0.0,
        lambda_at: float = 0.0,
        temperature: float = 4.0,
        cwd_tau: float = 4.0,
        dist_tau: float = 1.0,
        dist_beta: float = 1.0,
        dist_gamma: float = 1.0,
        student_info: FeatureInfo | None = None,
        teacher_info: FeatureInfo | None = None,
        feature_pairs: FeaturePairs | None = None,
        feature_loss: str = "mse",
        at_p: float = 2.0,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
    ) -> None:
        super().__init__()
        self.task_loss = task_loss
        self.ignore_index = ignore_index
        self.weights = {
            "kd": lambda_kd,
            "cwd": lambda_cwd,
            "dist": lambda_dist,
            "feat": lambda_feat,
            "at": lambda_at,
        }
        for name, weight in self.weights.items():
            if not math.isfinite(weight) or weight < 0:
                raise UsageError(f"lambda_{name} must be a finite number >= 0, got {weight}")
        self.kd = PixelKDLoss(temperature, ignore_index) if lambda_kd > 0 else None
        self.cwd = ChannelWiseDistillationLoss(cwd_tau, ignore_index) if lambda_cwd > 0 else None
        self.dist = (
            DISTLoss(dist_tau, dist_beta, dist_gamma, ignore_index) if lambda_dist > 0 else None
        )
        self.feat: FeatureDistillation | None = None
        self.at: AttentionTransfer | None = None
        if lambda_feat > 0 or lambda_at > 0:
            if student_info is None or teacher_info is None:
                raise UsageError(
                    "feature and attention distillation need student_info and teacher_info "
                    "(the models' feature_info); set lambda_feat and lambda_at to 0 otherwise"
                )
            pairs = _resolve_pairs(student_info, teacher_info, feature_pairs)
            if lambda_feat > 0:
                self.feat = FeatureDistillation(student_info, teacher_info, pairs, feature_loss)
            if lambda_at > 0:
                self.at = AttentionTransfer(pairs, at_p)

    @property
    def uses_teacher(self) -> bool:
        """Whether any term needs the teacher (``kd: []`` trains from the labels alone)."""
        return any(weight > 0 for weight in self.weights.values())

    def forward(
        self,
        student_out: Tensor | Mapping[str, Tensor],
        teacher_out: Tensor | Mapping[str, Tensor],
        target: Tensor,
        kd_valid: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Total loss and detached parts ``task``, ``kd``, ... and ``total`` (for logging).

        ``kd_valid`` (bool [N, H, W]): the pixels the logit terms learn from, e.g. every pixel
        of an unlabelled frame; by default the labelled ones (``target != ignore_index``).
        """
        student = _as_outputs(student_out, "student")
        s_logits = student["logits"]
        # Without a term (``kd: []``) the teacher is not run, and nothing reads its outputs.
        teacher = _as_outputs(teacher_out, "teacher") if self.uses_teacher else {}
        t_logits = teacher["logits"].detach() if teacher else None
        parts: dict[str, Tensor] = {}
        if hasattr(self.task_loss, "forward_with_parts"):
            total, task_parts = self.task_loss.forward_with_parts(s_logits, target)
            parts.update({f"task/{name}": value for name, value in task_parts.items()})
        else:
            total = self.task_loss(s_logits, target)
        parts["task"] = total.detach()
        # The logit terms mask pixels by their target's ignore index; a validity map becomes
        # such a target.
        kd_target = target
        if kd_valid is not None:
            kd_target = torch.where(kd_valid, 0, self.ignore_index).to(target.dtype)
        terms = {
            "kd": lambda: self.kd(s_logits, t_logits, kd_target),
            "cwd": lambda: self.cwd(s_logits, t_logits, kd_target),
            "dist": lambda: self.dist(s_logits, t_logits, kd_target),
            "feat": lambda: self.feat(student, teacher),
            "at": lambda: self.at(student, teacher),
        }
        for name, compute in terms.items():
            if self.weights[name] > 0:
                value = compute()
                parts[name] = value.detach()
                total = total + self.weights[name] * value
        parts["total"] = total.detach()
        return total, parts

    def extra_repr(self) -> str:
        return ", ".join(f"lambda_{name}={weight:g}" for name, weight in self.weights.items())
