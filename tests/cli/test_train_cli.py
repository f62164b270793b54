"""`segcompress train | distill | evaluate | predict` end to end on a tiny synthetic dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from PIL import Image

from segcompress.cli import main
from segcompress.data.classes import IDD_LEVEL3
from segcompress.data.dataset import list_pairs
from segcompress.data.formats import DataSpec
from segcompress.data.io import read_image, read_mask
from segcompress.data.masks import MaskDecoder
from segcompress.data.synthetic import synthesize
from segcompress.deploy.runtime import load_predictor
from segcompress.engine.checkpoint import load_checkpoint

SMALL = ["--model", "student_xs", "--img-size", "32x64", "--batch", "4", "--no-progress"]


def run(*argv: str) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:  # argparse usage errors
        return int(exc.code)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A synthetic dataset and a run trained on it for one epoch."""
    base = tmp_path_factory.mktemp("cli")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEGCOMPRESS_CACHE", str(base / "cache"))
        data = base / "data"
        synthesize(data, n_train=4, n_val=2, size=(64, 128), seed=0)
        out = base / "run"
        assert run("train", "--data", data, *SMALL, "--epochs", "1", "--out", out) == 0
    return data, out


def test_train_writes_a_self_describing_run(trained):
    data, out = trained
    for name in ("last.pt", "best.pt", "config.yaml", "metrics.csv", "log.jsonl", "curves.png"):
        assert (out / name).is_file(), name
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["model"]["name"] == "student_xs" and cfg["data"]["img_size"] == [32, 64]
    assert cfg["data"]["root"] == str(data) and cfg["epochs"] == 1


def test_existing_out_is_refused_without_resume_or_overwrite(trained, capsys):
    data, out = trained
    assert run("train", "--data", data, *SMALL, "--epochs", "1", "--out", out) == 2
    assert "--resume" in capsys.readouterr().err


def test_resume_continues_to_more_epochs(trained, tmp_path):
    _, out = trained
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("last.pt", "best.pt", "config.yaml", "log.jsonl", "metrics.csv"):
        (copy / name).write_bytes((out / name).read_bytes())
    assert run("train", "--out", copy, "--resume", "--epochs", "2", "--no-progress") == 0
    rows = [json.loads(line) for line in (copy / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    first = json.loads((out / "log.jsonl").read_text().splitlines()[0])
    assert rows[0] == first  # the resumed run kept epoch 1's row as it was


def test_resume_of_a_run_older_than_a_model_argument_keeps_its_model(trained, tmp_path):
    """A student_q run saved before decoder_upsample existed (nearest, then the only decoder)
    resumes as that model, not as today's bilinear default, which holds the same weights."""
    import torch

    data, _ = trained
    out = tmp_path / "q"
    args = ["--data", data, *SMALL[2:], "--model", "student_q", "--epochs", "1", "--out", out]
    assert run("train", *args, "--model-arg", "decoder_upsample=nearest") == 0
    state = torch.load(out / "last.pt", weights_only=False)
    del state["model_args"]["decoder_upsample"]
    state["config"]["model"]["args"] = {}
    torch.save(state, out / "last.pt")
    assert run("train", "--out", out, "--resume", "--epochs", "2", "--no-progress") == 0
    resumed = load_checkpoint(out / "last.pt")
    assert resumed["epoch"] == 2 and resumed["model_args"]["decoder_upsample"] == "nearest"
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["model"]["args"]["decoder_upsample"] == "nearest"


@pytest.mark.parametrize(
    "flags",
    [["--epochs", "0"], ["--batch", "-2"], ["--lr", "nan"], ["--img-size", "0"], ["--lr", "x"]],
)
def test_invalid_numbers_exit_2(trained, tmp_path, flags):
    data, _ = trained
    assert run("train", "--data", data, *SMALL, *flags, "--out", tmp_path / "r") == 2
    assert not (tmp_path / "r").exists()


def test_config_file_errors_and_precedence(trained, tmp_path, capsys):
    data, _ = trained
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: {lr: 0.1, momentun: 0.9}\n")
    assert run("train", "--data", data, "--config", bad, "--out", tmp_path / "r") == 2
    err = capsys.readouterr().err
    assert "optim.momentun" in err and str(bad) in err
    good = tmp_path / "good.yaml"
    good.write_text("epochs: 1\nbatch: 2\noptim: {lr: 0.1}\nmodel: {name: teacher}\n")
    out = tmp_path / "r2"
    args = ["--config", good, "--batch", "4", "--model", "student_xs", "--img-size", "32x64"]
    assert run("train", "--data", data, *args, "--no-progress", "--out", out) == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert (saved["batch"], saved["optim"]["lr"], saved["model"]["name"]) == (4, 0.1, "student_xs")


def test_unknown_model_lists_known_ones(trained, tmp_path, capsys):
    data, _ = trained
    assert run("train", "--data", data, "--model", "resnet", "--out", tmp_path / "r") == 2
    assert "student_xs" in capsys.readouterr().err


def test_unwritable_out_is_detected_before_training(trained, tmp_path, capsys):
    data, _ = trained
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")  # even root cannot create a folder inside a file
    assert run("train", "--data", data, *SMALL, "--out", blocker / "run") == 1
    assert "cannot write there" in capsys.readouterr().err


def test_evaluate_prints_the_table_and_writes_json(trained, tmp_path, capsys):
    data, out = trained
    js, md = tmp_path / "s.json", tmp_path / "s.md"
    plots = tmp_path / "plots"
    code = run(
        "evaluate",
        out / "best.pt",
        "--data",
        data,
        "--json",
        js,
        "--markdown",
        md,
        "--plots",
        plots,
    )
    assert code == 0
    assert (plots / "confusion.png").is_file() and (plots / "samples.png").is_file()
    printed = capsys.readouterr().out
    assert "| Class | Dice | IoU | Precision | Recall |" in printed
    assert "| road (0) |" in printed and "| **Mean** |" in printed
    scores = json.loads(js.read_text())
    assert set(scores) == {"classes", "mean", "pixel_accuracy", "fw_iou"}
    assert set(scores["classes"][0]) == {
        "id",
        "name",
        "dice",
        "iou",
        "precision",
        "recall",
        "support",
    }
    assert set(scores["mean"]) == {"dice", "iou", "precision", "recall"}
    assert len(scores["classes"]) == 26 and md.read_text().startswith("| Class")


def test_evaluate_saved_predictions_without_a_model(trained, tmp_path):
    data, _ = trained
    preds = tmp_path / "preds"
    preds.mkdir()
    masks = sorted((data / "val" / "rgb_labels").glob("*.png"))
    for mask in masks:  # every pixel predicted as "road" (id 0)
        with Image.open(mask) as img:
            Image.fromarray(np.zeros((img.height, img.width), np.uint8)).save(preds / mask.name)
    js = tmp_path / "p.json"
    assert run("evaluate", "--predictions", preds, "--data", data, "--json", js) == 0
    scores = json.loads(js.read_text())
    road = scores["classes"][0]
    assert road["recall"] == 1.0
    assert scores["pixel_accuracy"] == pytest.approx(
        road["support"] / sum(c["support"] for c in scores["classes"])
    )
    (preds / masks[0].name).unlink()
    assert run("evaluate", "--predictions", preds, "--data", data) == 1


def test_predict_writes_masks_at_original_size_overlays_and_figures(trained, tmp_path):
    data, out = trained
    images = data / "val" / "images"
    dest = tmp_path / "pred"
    code = run(
        "predict",
        out / "best.pt",
        images,
        "--out",
        dest,
        "--overlay",
        "--gt",
        data / "val" / "rgb_labels",
        "--device",
        "cpu",
    )
    assert code == 0
    for image in images.glob("*.jpg"):
        with Image.open(image) as src, Image.open(dest / f"{image.stem}.png") as mask:
            # A palette PNG: class ids as pixels, drawn in the class colours.
            assert mask.size == src.size and mask.mode == "P"
            ids = np.array(mask)
            palette = np.array(mask.getpalette()[: 3 * 26]).reshape(26, 3)
            assert ids.max() < 26
            assert [tuple(c) for c in palette] == list(IDD_LEVEL3.colors)
        assert (dest / f"{image.stem}_overlay.png").is_file()
        assert (dest / f"{image.stem}_compare.png").is_file()
    # predict's output is what `evaluate --predictions` scores (matched by image name): its
    # pixel accuracy is that of the predictor's own masks against the ground truth.
    js = tmp_path / "pred.json"
    assert run("evaluate", "--predictions", dest, "--data", data, "--json", js) == 0
    predictor = load_predictor(out / "best.pt", device="cpu")
    fmt, listing = list_pairs(DataSpec(root=str(data)), "val")
    decoder = MaskDecoder(fmt.classes, "rgb", max_unknown=1.0)
    correct = valid = 0
    for pair in listing.pairs:
        ids = predictor.predict_image(read_image(pair.image))
        gt = decoder.decode(read_mask(pair.mask, "rgb")).ids
        valid += int((gt != 255).sum())
        correct += int(((ids == gt) & (gt != 255)).sum())
    assert json.loads(js.read_text())["pixel_accuracy"] == pytest.approx(correct / valid)


def test_evaluate_an_onnx_export_on_the_same_harness(trained, tmp_path):
    data, out = trained
    onnx_file = tmp_path / "model.onnx"
    assert run("export", out / "best.pt", "--out", onnx_file) == 0
    torch_json, onnx_json = tmp_path / "torch.json", tmp_path / "onnx.json"
    assert run("evaluate", out / "best.pt", "--data", data, "--json", torch_json) == 0
    assert run("evaluate", onnx_file, "--data", data, "--json", onnx_json) == 0
    torch_scores = json.loads(torch_json.read_text())
    onnx_scores = json.loads(onnx_json.read_text())
    assert abs(torch_scores["pixel_accuracy"] - onnx_scores["pixel_accuracy"]) < 1e-3
    assert abs(torch_scores["mean"]["iou"] - onnx_scores["mean"]["iou"]) < 1e-3


def test_distill_from_the_teacher_checkpoint(trained, tmp_path):
    """Each named term is applied (logged and positive) and no other; the feature adapters are
    trainable parts of the run, saved in the checkpoint's ``criterion`` state and restored from
    it by ``--resume``."""
    import torch

    from segcompress.engine.checkpoint import save_checkpoint

    data, out = trained
    dest = tmp_path / "kd"
    common = ["--teacher", out / "best.pt", "--data", data, *SMALL, "--out", dest]
    kd = ["--kd", "kl,cwd,feat,at", "--temperature", "2"]
    assert run("distill", *common, *kd, "--epochs", "1") == 0
    named = ("train_task", "train_kd", "train_cwd", "train_feat", "train_at")
    row = json.loads((dest / "log.jsonl").read_text().splitlines()[-1])
    for term in named:
        assert np.isfinite(row[term]) and row[term] > 0, term
    assert "train_dist" not in row  # not named, not computed
    cfg = yaml.safe_load((dest / "config.yaml").read_text())
    assert cfg["distill"]["temperature"] == 2.0
    assert cfg["distill"]["kd"] == ["kl", "cwd", "feat", "at"]

    # One 1x1 convolution (weight and bias) per feature pair adapts the student's features.
    state = load_checkpoint(dest / "last.pt")
    adapters = {k: v for k, v in state["criterion"].items() if k.startswith("feat.adapters.")}
    weights = [v for k, v in adapters.items() if k.endswith(".weight")]
    assert weights and len(adapters) == 2 * len(weights)
    assert all(w.dim() == 4 and w.shape[-2:] == (1, 1) for w in weights)

    # Resume from adapters set to a value no initialisation gives: the second epoch's single
    # optimizer step (4 images, batch 4, lr 1e-3) moves them a little from there, and only there.
    poked = {
        k: torch.full_like(v, 0.5) if k in adapters else v for k, v in state["criterion"].items()
    }
    state["criterion"] = poked
    save_checkpoint(state, dest / "last.pt")
    assert run("distill", *common, *kd, "--epochs", "2", "--resume") == 0
    rows = [json.loads(line) for line in (dest / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(rows[1][term] > 0 for term in named) and "train_dist" not in rows[1]
    resumed = load_checkpoint(dest / "last.pt")["criterion"]
    assert resumed.keys() == state["criterion"].keys()
    for key in adapters:
        moved = (resumed[key] - 0.5).abs()
        assert moved.max() < 0.05, key  # restored, not re-initialised
        assert moved.max() > 0, key  # and trained with the student


def test_distill_with_cached_teacher_targets_and_augmentation(trained, tmp_path, monkeypatch):
    """Cached targets serve kl, cwd and dist with random scale/crop and mixing on; a second
    student of the same teacher reuses the cache; feature terms are refused."""
    data, out = trained
    monkeypatch.setenv("SEGCOMPRESS_CACHE", str(tmp_path / "cache"))  # the targets go there
    common = ["--teacher", out / "best.pt", "--data", data, *SMALL, "--epochs", "1"]
    cached = ["--precompute-teacher", "--aug-scale", "0.5,2", "--mix", "cutmix"]
    assert run("distill", *common, *cached, "--out", tmp_path / "f", "--kd", "feat") == 2
    for seed in ("0", "1"):
        dest = tmp_path / f"kd{seed}"
        code = run(
            "distill", *common, *cached, "--kd", "kl,cwd,dist", "--seed", seed, "--out", dest
        )
        assert code == 0
        row = json.loads((dest / "log.jsonl").read_text().splitlines()[-1])
        assert all(row[f"train_{t}"] > 0 for t in ("kd", "cwd", "dist"))
        cfg = yaml.safe_load((dest / "config.yaml").read_text())
        assert cfg["distill"]["precompute_teacher"] and cfg["augment"]["scale"] == [0.5, 2.0]
    entries = list((tmp_path / "cache" / "teacher-targets").iterdir())
    assert len(entries) == 1 and (entries[0] / "logits.npy").is_file()


def test_a_config_that_precomputes_without_a_teacher_is_a_usage_error(trained, tmp_path, capsys):
    data, _ = trained
    config = tmp_path / "run.yaml"
    config.write_text("distill:\n  precompute_teacher: true\n")
    args = ["--config", config, "--data", data, *SMALL, "--epochs", "1"]
    assert run("train", *args, "--out", tmp_path / "t") == 2
    err = capsys.readouterr().err
    assert "distill.precompute_teacher" in err and "Traceback" not in err


def test_resuming_a_distill_run_with_another_teacher_is_refused(trained, tmp_path, capsys):
    data, out = trained
    dest = tmp_path / "kd"
    common = ["--data", data, *SMALL, "--kd", "cwd", "--out", dest]
    assert run("distill", "--teacher", out / "best.pt", "--epochs", "1", *common) == 0
    other = tmp_path / "other.pt"
    state = load_checkpoint(out / "best.pt")
    state["model"] = {
        k: v + 0.01 if v.is_floating_point() else v for k, v in state["model"].items()
    }
    import torch

    torch.save(state, other)
    capsys.readouterr()
    assert run("distill", "--teacher", other, "--epochs", "2", "--resume", *common) == 2
    assert "another teacher" in capsys.readouterr().err
    assert load_checkpoint(dest / "last.pt")["epoch"] == 1  # nothing was trained or written
    assert run("distill", "--teacher", out / "best.pt", "--epochs", "2", "--resume", *common) == 0


def test_distill_refuses_a_teacher_with_another_class_table(trained, tmp_path, capsys):
    data, out = trained
    code = run(
        "distill",
        "--teacher",
        out / "best.pt",
        "--data",
        data,
        "--void-as-class",
        *SMALL,
        "--epochs",
        "1",
        "--out",
        tmp_path / "kd",
    )
    assert code == 1
    assert "classes" in capsys.readouterr().err


def test_legacy_flags_are_aliases(trained, tmp_path):
    data, _ = trained
    out = tmp_path / "legacy"
    code = run(
        "train",
        "--root_path",
        data,
        "--img_size",
        "32",
        "--lr",
        "1e-3",
        "--epochs",
        "1",
        "--batch",
        "4",
        "--model",
        "student_xs",
        "--no-progress",
        "--out",
        out,
    )
    assert code == 0
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["data"]["root"] == str(data) and cfg["data"]["img_size"] == [32, 32]


def test_orphans_stop_training_unless_skip_bad(tmp_path, capsys):
    data = tmp_path / "data"
    synthesize(data, n_train=5, n_val=2, size=(64, 128), seed=1)
    next((data / "train" / "rgb_labels").glob("*.png")).unlink()
    args = ["--data", data, *SMALL, "--epochs", "1"]
    assert run("train", *args, "--out", tmp_path / "refused") == 1
    assert "--skip-bad" in capsys.readouterr().err
    assert not (tmp_path / "refused" / "last.pt").exists()
    assert run("train", *args, "--out", tmp_path / "run", "--skip-bad") == 0
    assert "left out 1 bad or unpaired files" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1


def test_distill_from_an_ensemble_of_teachers(trained, tmp_path, monkeypatch, capsys):
    data, out = trained
    monkeypatch.setenv("SEGCOMPRESS_CACHE", str(tmp_path / "cache"))
    second = tmp_path / "second"
    assert (
        run("train", "--data", data, *SMALL, "--epochs", "1", "--seed", "3", "--out", second) == 0
    )
    common = ["--teacher", out / "best.pt", "--ensemble", second / "last.pt", "--data", data]
    common += [*SMALL, "--epochs", "1", "--precompute-teacher"]
    assert run("distill", *common, "--kd", "cwd,feat", "--out", tmp_path / "refused") == 2
    assert "ensemble" in capsys.readouterr().err
    assert run("distill", *common, "--kd", "cwd", "--out", tmp_path / "kd") == 0
    state = load_checkpoint(tmp_path / "kd" / "last.pt")
    assert len(state["provenance"]["teacher_sha256"]) == 2
    assert len(list((tmp_path / "cache" / "teacher-targets").iterdir())) == 1


def test_distill_names_a_teacher_trained_at_another_size(trained, tmp_path, monkeypatch, capsys):
    """A teacher trained at 32x64 distilling a 64x128 student would see frames of a size it
    never learnt: the run says so, with the flag that avoids it; at the same size it says
    nothing."""
    data, out = trained
    monkeypatch.setenv("SEGCOMPRESS_CACHE", str(tmp_path / "cache"))
    common = ["--teacher", out / "best.pt", "--data", data, *SMALL, "--epochs", "1"]
    common += ["--kd", "dist", "--precompute-teacher"]
    assert run("distill", *common, "--img-size", "64x128", "--out", tmp_path / "big") == 0
    said = capsys.readouterr().out
    assert "was trained at 32x64 and will see 64x128 frames; --teacher-size 32x64" in said
    assert run("distill", *common, "--out", tmp_path / "same") == 0
    assert "was trained at" not in capsys.readouterr().out


def test_distill_from_a_teacher_that_sees_larger_frames(trained, tmp_path, monkeypatch, capsys):
    """--teacher-size: the cached teacher sees each frame at its size, the student learns at
    --img-size; a live teacher cannot (it sees the student's batch), which is a usage error."""
    data, out = trained
    monkeypatch.setenv("SEGCOMPRESS_CACHE", str(tmp_path / "cache"))
    common = ["--teacher", out / "best.pt", "--data", data, *SMALL, "--epochs", "1"]
    common += ["--kd", "dist", "--teacher-size", "64x128"]
    assert run("distill", *common, "--out", tmp_path / "live") == 2
    assert "distill.teacher_size must be null without distill.precompute_teacher" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "live").exists()
    assert run("distill", *common, "--precompute-teacher", "--out", tmp_path / "kd") == 0
    (target,) = (tmp_path / "cache" / "teacher-targets").iterdir()
    key = json.loads((target / "index.json").read_text())["key"]
    assert key["teacher_size"] == [64, 128] and key["size"] == [32, 64]
    saved = yaml.safe_load((tmp_path / "kd" / "config.yaml").read_text())
    assert saved["distill"]["teacher_size"] == [64, 128]


def test_distill_with_unlabelled_frames(trained, tmp_path, monkeypatch, capsys):
    """Frames without masks join distillation through the cached targets, which --unlabeled
    asks for by itself; the run says how many of each it used; in `train` (no teacher) the
    flag is refused, by name."""
    data, out = trained
    monkeypatch.setenv("SEGCOMPRESS_CACHE", str(tmp_path / "cache"))
    frames = tmp_path / "frames"
    for i, image in enumerate(sorted((data / "val" / "images").glob("*.jpg"))):
        (frames / f"drive{i}").mkdir(parents=True)
        (frames / f"drive{i}" / image.name).write_bytes(image.read_bytes())
    common = ["--teacher", out / "best.pt", "--data", data, *SMALL, "--epochs", "1"]
    extra = ["--unlabeled", frames, "--kd", "cwd"]
    assert run("train", "--data", data, *SMALL, "--unlabeled", frames, "--out", tmp_path / "t") == 2
    assert "--unlabeled: " in capsys.readouterr().err
    assert run("distill", *common, *extra, "--out", tmp_path / "kd") == 0
    assert "4 labelled and 2 unlabelled training frames" in capsys.readouterr().out
    (target,) = (tmp_path / "cache" / "teacher-targets").iterdir()
    import json

    keys = json.loads((target / "index.json").read_text())["keys"]
    assert len(keys) == 6 and sum(k.startswith("unlabeled0/") for k in keys) == 2
    state = load_checkpoint(tmp_path / "kd" / "last.pt")
    assert state["step"] == 1  # 6 frames, batch 4, the last partial batch dropped
    assert state["config"]["data"]["unlabeled"] == [str(frames)]
    assert state["config"]["distill"]["precompute_teacher"] is True
