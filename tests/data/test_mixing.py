from __future__ import annotations

import math
import pickle

import pytest
import torch
from torch.utils.data import default_collate

from segcompress.data.mixing import MIX_MODES, BatchMix, MixCollate, MixPlan, apply_mix
from segcompress.errors import UsageError

IGNORE = 255
MIXING = ("cutmix", "classmix")


def make_batch(n=8, h=12, w=16, num_classes=5, ignore=IGNORE, c=4, seed=0):
    """Per-sample constant images and logits, so each output pixel names its source sample.

    Image channel ``k`` of sample ``i`` is ``i + 0.25 * k``; logit channel ``k`` is
    ``1000 * k + i``. Masks are random class ids with about 10% ignore pixels.
    """
    g = torch.Generator().manual_seed(seed)
    ids = torch.arange(n, dtype=torch.float32)
    images = ids[:, None, None, None] + 0.25 * torch.arange(3.0)[None, :, None, None]
    images = images.expand(n, 3, h, w).clone()
    logits = 1000.0 * torch.arange(float(c))[None, :, None, None] + ids[:, None, None, None]
    logits = logits.expand(n, c, h, w).clone()
    masks = torch.randint(0, num_classes, (n, h, w), generator=g)
    masks[torch.rand(n, h, w, generator=g) < 0.1] = ignore
    return images, masks, logits


def sources(images, logits):
    """The source sample id of every output pixel, read from the image and from the logits."""
    src_img = images[:, 0].round().long()
    for k in range(images.shape[1]):
        assert torch.equal(images[:, k], src_img.float() + 0.25 * k), "image channels disagree"
    src_log = (logits[:, 0]).round().long()
    for k in range(logits.shape[1]):
        assert torch.equal(logits[:, k], 1000.0 * k + src_log.float()), "logit channels disagree"
    return src_img, src_log


def mixed_with_plan(mix, images, masks, logits, seed):
    torch.manual_seed(seed)
    plan = mix.plan(images, masks)
    torch.manual_seed(seed)
    out = mix(images, masks, logits)
    return out, plan


# ---------------------------------------------------------------------------- construction


def test_modes_and_argument_checks():
    assert MIX_MODES == ("none", "cutmix", "classmix")
    for mode in MIX_MODES:
        assert BatchMix(mode).mode == mode
    with pytest.raises(UsageError, match="mix mode"):
        BatchMix("mixup")
    for prob in (-0.1, 1.5, float("nan")):
        with pytest.raises(UsageError, match="probability"):
            BatchMix("cutmix", prob=prob)
    assert BatchMix("cutmix", prob=0).prob == 0.0
    assert BatchMix("cutmix", prob=1).prob == 1.0


def test_mismatched_shapes_are_refused():
    images, masks, logits = make_batch()
    mix = BatchMix("cutmix", prob=1.0)
    with pytest.raises(ValueError, match="logits"):
        mix(images, masks, logits[:, :, :-1])
    with pytest.raises(ValueError, match="images"):
        mix(images[:-1], masks, logits)
    with pytest.raises(ValueError, match="masks"):
        mix(images, masks[0], logits)


# --------------------------------------------------- 1. one binary mask for image, mask, logits


@pytest.mark.parametrize("mode", MIXING)
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_image_mask_and_logits_share_one_paste_mask(mode, seed):
    images, masks, logits = make_batch(seed=seed)
    mix = BatchMix(mode, prob=1.0)
    (out_img, out_mask, out_log), plan = mixed_with_plan(mix, images, masks, logits, seed)
    src_img, src_log = sources(out_img, out_log)
    assert torch.equal(src_img, src_log), "logits were mixed with a different mask than images"
    pasted_any = False
    for i in range(images.shape[0]):
        j = int(plan.perm[i])
        own = torch.full_like(src_img[i], i)
        # Every pixel comes from the sample itself or its one partner ...
        assert torch.all((src_img[i] == i) | (src_img[i] == j))
        # ... and exactly where the plan says (invisible when the partner is the sample itself).
        expected_src = torch.where(plan.paste[i], torch.full_like(own, j), own)
        assert torch.equal(src_img[i], expected_src)
        # The labels follow the same mask.
        expected_mask = torch.where(plan.paste[i], masks[j], masks[i])
        assert torch.equal(out_mask[i], expected_mask)
        pasted_any |= bool((src_img[i] != i).any())
    assert pasted_any
    assert out_mask.dtype == masks.dtype and out_img.dtype == images.dtype


@pytest.mark.parametrize("mode", MIXING)
def test_plan_applies_alike_to_every_tensor(mode):
    images, masks, logits = make_batch(seed=5)
    torch.manual_seed(5)
    plan = BatchMix(mode, prob=1.0).plan(images, masks)
    assert isinstance(plan, MixPlan)
    assert plan.paste.dtype == torch.bool and plan.paste.shape == masks.shape
    assert sorted(plan.perm.tolist()) == list(range(images.shape[0]))
    src_img, src_log = sources(apply_mix(images, plan), apply_mix(logits, plan))
    assert torch.equal(src_img, src_log)
    assert torch.equal(
        src_img != torch.arange(8)[:, None, None],
        plan.paste & (plan.perm[:, None, None] != torch.arange(8)[:, None, None]),
    )


# ----------------------------------------------------------------- 2. shape of the pasted region


@pytest.mark.parametrize("seed", range(6))
def test_cutmix_pastes_one_axis_aligned_rectangle(seed):
    images, masks, _ = make_batch(n=16, h=20, w=24, seed=seed)
    torch.manual_seed(seed)
    plan = BatchMix("cutmix", prob=1.0).plan(images, masks)
    boxes = 0
    for paste in plan.paste:
        rows, cols = paste.any(dim=1), paste.any(dim=0)
        assert torch.equal(paste, rows[:, None] & cols[None, :]), "not a rectangle"
        for line in (rows, cols):
            idx = torch.nonzero(line).flatten()
            if idx.numel():
                assert idx[-1] - idx[0] + 1 == idx.numel(), "rectangle is not contiguous"
        boxes += bool(paste.any())
    assert boxes >= 12  # an empty box needs lam close to 1


@pytest.mark.parametrize("seed", range(6))
def test_classmix_pastes_whole_partner_classes_never_ignore(seed):
    images, masks, logits = make_batch(n=10, num_classes=6, seed=seed)
    mix = BatchMix("classmix", prob=1.0)
    (_, out_mask, _), plan = mixed_with_plan(mix, images, masks, logits, seed)
    for i in range(masks.shape[0]):
        partner = masks[int(plan.perm[i])]
        paste = plan.paste[i]
        present = set(partner.unique().tolist()) - {IGNORE}
        chosen = set(partner[paste].unique().tolist())
        assert IGNORE not in chosen, "ignore pixels of the partner were pasted"
        assert chosen <= present
        assert len(chosen) == math.ceil(len(present) / 2)
        # A union of *full* partner classes: every pixel of a chosen class, nothing else.
        assert torch.equal(paste, torch.isin(partner, torch.tensor(sorted(chosen))))
        # The output mask carries the partner's labels there, own labels elsewhere.
        assert torch.equal(out_mask[i][paste], partner[paste])
        assert torch.equal(out_mask[i][~paste], masks[i][~paste])


def test_classmix_rounds_half_up_and_picks_at_random():
    images, masks, _ = make_batch(n=2, num_classes=3, seed=0)
    masks[:] = torch.tensor([0, 1, 2])[torch.arange(12 * 16).reshape(12, 16) % 3]
    seen = set()
    for seed in range(40):
        torch.manual_seed(seed)
        plan = BatchMix("classmix", prob=1.0).plan(images, masks)
        for i in range(2):
            chosen = frozenset(masks[0][plan.paste[i]].unique().tolist())
            assert len(chosen) == 2  # ceil(3 / 2)
            seen.add(chosen)
    assert len(seen) == 3  # every pair of the three classes turns up


def test_classmix_all_ignore_partner_pastes_nothing():
    images, masks, logits = make_batch(n=4, seed=1)
    masks[2] = IGNORE
    for seed in range(20):
        (out_img, out_mask, out_log), plan = mixed_with_plan(
            BatchMix("classmix", prob=1.0), images, masks, logits, seed
        )
        for i in torch.nonzero(plan.perm == 2).flatten().tolist():
            assert not plan.paste[i].any()
            assert torch.equal(out_img[i], images[i]) and torch.equal(out_mask[i], masks[i])
            assert torch.equal(out_log[i], logits[i])


# ----------------------------------------------------------------------------- 3. probability


@pytest.mark.parametrize("mode", MIXING)
def test_prob_zero_leaves_the_batch_unchanged(mode):
    images, masks, logits = make_batch()
    for seed in range(5):
        torch.manual_seed(seed)
        out = BatchMix(mode, prob=0.0)(images, masks, logits)
        for a, b in zip(out, (images, masks, logits), strict=True):
            assert torch.equal(a, b)


def test_cutmix_prob_one_changes_nearly_every_sample_by_a_plausible_area():
    torch.manual_seed(0)
    n, h, w = 64, 32, 32
    images, masks, logits = make_batch(n=n, h=h, w=w, seed=0)
    mix = BatchMix("cutmix", prob=1.0)
    changed, fractions = 0, []
    for _ in range(10):
        state = torch.get_rng_state()
        out_img, _, _ = mix(images, masks, logits)
        torch.set_rng_state(state)
        plan = mix.plan(images, masks)
        changed += int((out_img != images).flatten(1).any(dim=1).sum())
        fractions.append(plan.paste.float().mean())
    assert changed >= 0.8 * 10 * n  # only self-partners and empty boxes stay the same
    # E[area] with lam ~ U(0, 1), side sqrt(1 - lam), uniform centre, clipping: about 0.32.
    assert 0.25 < float(torch.stack(fractions).mean()) < 0.40


def test_prob_half_selects_about_half_the_samples():
    images, masks, _ = make_batch(n=64, seed=0)
    torch.manual_seed(0)
    mix = BatchMix("classmix", prob=0.5)
    selected = sum(int(mix.plan(images, masks).paste.flatten(1).any(1).sum()) for _ in range(10))
    assert 0.35 * 640 < selected < 0.65 * 640


# ------------------------------------------------------------------------- 4. ignore index


def test_classmix_respects_a_configured_ignore_index():
    ignore = 11
    images, masks, logits = make_batch(n=8, num_classes=11, ignore=ignore, seed=3)
    assert (masks == ignore).any() and (masks <= ignore).all()
    pasted_ignore_with_wrong_index = False
    for seed in range(5):
        (_, out_mask, _), plan = mixed_with_plan(
            BatchMix("classmix", prob=1.0, ignore_index=ignore), images, masks, logits, seed
        )
        partners = masks[plan.perm]
        assert not (plan.paste & (partners == ignore)).any()
        assert not (out_mask[plan.paste] == ignore).any()
        assert plan.paste.any()
        for i in range(8):
            present = set(partners[i].unique().tolist()) - {ignore}
            chosen = set(partners[i][plan.paste[i]].unique().tolist())
            assert len(chosen) == math.ceil(len(present) / 2)
        # The ignore index is not hard-coded: with 255 as "ignore", class 11 is a class to paste.
        torch.manual_seed(seed)
        plan255 = BatchMix("classmix", prob=1.0, ignore_index=255).plan(images, masks)
        pasted_ignore_with_wrong_index |= bool((plan255.paste & (masks[plan255.perm] == 11)).any())
    assert pasted_ignore_with_wrong_index


# -------------------------------------------------------------- 5. no in-place, the collate_fn


@pytest.mark.parametrize("mode", MIX_MODES)
def test_inputs_are_never_modified_and_outputs_are_new(mode):
    images, masks, logits = make_batch(seed=4)
    before = [t.clone() for t in (images, masks, logits)]
    torch.manual_seed(4)
    out = BatchMix(mode, prob=1.0)(images, masks, logits)
    for a, b in zip((images, masks, logits), before, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(out, (images, masks, logits), strict=True):
        assert a.data_ptr() != b.data_ptr()
    out[0].add_(1.0)  # writing into the result does not reach the input
    assert torch.equal(images, before[0])


def test_logits_are_optional():
    images, masks, _ = make_batch()
    for mode in MIX_MODES:
        out_img, out_mask, out_log = BatchMix(mode, prob=1.0)(images, masks)
        assert out_log is None and out_img.shape == images.shape and out_mask.shape == masks.shape


def items(with_logits, n=6, seed=0):
    images, masks, logits = make_batch(n=n, seed=seed)
    if with_logits:
        return [(images[i], (masks[i], logits[i])) for i in range(n)]
    return [(images[i], masks[i]) for i in range(n)]


@pytest.mark.parametrize("with_logits", [False, True])
@pytest.mark.parametrize("mode", MIX_MODES)
def test_mix_collate_keeps_the_batch_structure(mode, with_logits):
    batch = items(with_logits)
    collate = pickle.loads(pickle.dumps(MixCollate(BatchMix(mode, prob=1.0))))
    assert isinstance(collate, MixCollate) and collate.mix.mode == mode
    torch.manual_seed(7)
    out = collate(batch)
    plain = default_collate(batch)
    assert type(out) is type(plain) and len(out) == 2
    torch.manual_seed(7)
    if with_logits:
        assert type(out[1]) is type(plain[1]) and len(out[1]) == 2
        expected = BatchMix(mode, prob=1.0)(plain[0], *plain[1])
        got = (out[0], out[1][0], out[1][1])
        src_img, src_log = sources(out[0], out[1][1])
        assert torch.equal(src_img, src_log)
    else:
        assert isinstance(out[1], torch.Tensor)
        expected = BatchMix(mode, prob=1.0)(plain[0], plain[1])[:2]
        got = tuple(out)
    for a, b in zip(got, expected, strict=True):
        assert torch.equal(a, b)
    if mode == "none":
        for a, b in zip(got, (plain[0], *plain[1]) if with_logits else plain, strict=True):
            assert torch.equal(a, b)


def test_mix_collate_in_a_dataloader():
    batch = items(True, n=8)
    loader = torch.utils.data.DataLoader(
        batch, batch_size=4, collate_fn=MixCollate(BatchMix("cutmix", prob=1.0))
    )
    torch.manual_seed(0)
    seen = list(loader)
    assert len(seen) == 2
    for k, (images, (masks, logits)) in enumerate(seen):
        assert images.shape == (4, 3, 12, 16) and masks.shape == (4, 12, 16)
        assert logits.shape == (4, 4, 12, 16)
        src_img, src_log = sources(images, logits)
        assert torch.equal(src_img, src_log)
        assert torch.isin(src_img, torch.arange(4 * k, 4 * k + 4)).all()  # within the batch


# ---------------------------------------------------------------------------- 6. determinism


@pytest.mark.parametrize("mode", MIXING)
def test_same_seed_same_result_and_rng_state_resumes_exactly(mode):
    images, masks, logits = make_batch(n=8, seed=2)
    mix = BatchMix(mode, prob=0.5)
    torch.manual_seed(123)
    a = [mix(images, masks, logits) for _ in range(3)]
    torch.manual_seed(123)
    b = [mix(images, masks, logits) for _ in range(3)]
    for x, y in zip(a, b, strict=True):
        for s, t in zip(x, y, strict=True):
            assert torch.equal(s, t)
    # Capturing and restoring the global RNG state (what a resume does) replays the same mixes.
    torch.manual_seed(123)
    mix(images, masks, logits)
    state = torch.get_rng_state()
    replay = [mix(images, masks, logits) for _ in range(2)]
    torch.set_rng_state(state)
    again = [mix(images, masks, logits) for _ in range(2)]
    for x, y in zip(replay, again, strict=True):
        for s, t in zip(x, y, strict=True):
            assert torch.equal(s, t)
    # And another seed gives other mixes.
    torch.manual_seed(124)
    c = mix(images, masks, logits)
    assert not all(torch.equal(s, t) for s, t in zip(a[0], c, strict=True))


def test_mode_none_draws_nothing_from_the_rng():
    images, masks, logits = make_batch()
    torch.manual_seed(0)
    BatchMix("none", prob=1.0)(images, masks, logits)
    after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))
