"""``segcompress demo --quick`` end to end: artefacts, report content, skipping, the browser."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segcompress.cli import build_parser, main
from segcompress.config import config_to_dict
from segcompress.demo import QUICK_BUDGET, RUNS, STAGES, Demo, run_demo, train_command
from segcompress.engine.checkpoint import load_checkpoint
from segcompress.report import ROWS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEGCOMPRESS_CACHE", str(out.parent / "cache"))
        assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    return out


def _records(out: Path) -> dict[str, dict]:
    return {s: json.loads((out / "stages" / f"{s}.json").read_text()) for s in STAGES}


def test_every_artefact_is_written(demo_dir: Path) -> None:
    expected = [
        "data/synth.json",
        "eval/samples.npz",
        "deploy/student_kd.onnx",
        "deploy/student_kd.int8.onnx",
        "benchmark.json",
        "edge/drive.overlay.mp4",
        "edge/frames.png",
        "report.html",
        "report.md",
        *(f"{run}/{name}" for run in RUNS.values() for name in ("best.pt", "last.pt", "log.jsonl")),
        *(f"configs/{run}.yaml" for run in RUNS.values()),
        *(f"eval/{row}.json" for row, _ in ROWS),
        *(f"stages/{stage}.json" for stage in STAGES),
    ]
    missing = [name for name in expected if not (demo_dir / name).is_file()]
    assert not missing
    for stage, run in RUNS.items():
        state = load_checkpoint(demo_dir / run / "last.pt")
        wanted_epochs = QUICK_BUDGET.teacher_epochs if stage == "teacher" else QUICK_BUDGET.epochs
        assert state["epoch"] == wanted_epochs
        wanted = QUICK_BUDGET.teacher if stage == "teacher" else QUICK_BUDGET.student
        assert state["model_name"] == wanted
    bench = json.loads((demo_dir / "benchmark.json").read_text())
    assert [r["key"] for r in bench["rows"]] == [key for key, _ in ROWS]
    assert all(r["latency_p50_ms"] > 0 for r in bench["rows"])


def test_segcompress_edge_ran_the_int8_student_on_a_clip(demo_dir: Path) -> None:
    summary = json.loads((demo_dir / "edge" / "drive.summary.json").read_text())
    assert summary["frames"] == QUICK_BUDGET.clip_scenes * QUICK_BUDGET.clip_frames
    assert summary["int8"] and summary["complete"]
    assert "## On the vehicle" in (demo_dir / "report.md").read_text()


def test_fix_examples_are_the_images_distillation_helped_most(demo_dir: Path) -> None:
    """Recomputed from the checkpoints over the whole val split at the training size: the rows
    are the images of largest per-image mIoU gain, in descending order; the pictures are the
    rendered frames and masks, at the rendered size."""
    import numpy as np
    import torch

    from segcompress.data import DataSpec, load_split
    from segcompress.engine.checkpoint import load_checkpoint, model_from_checkpoint
    from segcompress.engine.evaluate import torch_predictor
    from segcompress.metrics import image_miou

    with np.load(demo_dir / "eval" / "samples.npz") as npz:
        s = {k: npz[k] for k in npz.files}
    spec = DataSpec(root=str(demo_dir / "data"), format="idd-kaggle")
    val = load_split(spec, "val", img_size=QUICK_BUDGET.img_size, train=False)
    images = torch.stack([val[i][0] for i in range(len(val))])
    masks = torch.stack([val[i][1] for i in range(len(val))])
    per_image = {}
    for run in ("student_scratch", "student_kd"):
        ckpt = demo_dir / run / "best.pt"
        model = model_from_checkpoint(load_checkpoint(ckpt), str(ckpt))
        predict = torch_predictor(model, torch.device("cpu"))
        pred = predict(images).argmax(1)
        per_image[run] = image_miou(pred, masks, val.classes.num_classes, val.classes.ignore_index)
    gain = torch.nan_to_num(per_image["student_kd"] - per_image["student_scratch"], nan=-2.0)
    k = len(s["fix_index"])
    np.testing.assert_allclose(s["fix_gain"], np.sort(gain.numpy())[::-1][:k], atol=1e-6)
    np.testing.assert_allclose(gain[s["fix_index"]].numpy(), s["fix_gain"], atol=1e-6)
    assert len(set(s["fix_index"].tolist())) == k == len(s["images"])
    large = load_split(spec, "val", img_size=QUICK_BUDGET.synth_size, train=False)
    for row, index in enumerate(s["fix_index"].tolist()):
        np.testing.assert_array_equal(s["fix_gt"][row], large[index][1].numpy())
    assert s["fix_images"].shape[1:3] == s["fix_kd"].shape[1:] == QUICK_BUDGET.synth_size


def test_report_numbers_match_the_evaluations(demo_dir: Path) -> None:
    text = (demo_dir / "report.html").read_text(encoding="utf-8")
    md = (demo_dir / "report.md").read_text(encoding="utf-8")
    miou = {
        row: json.loads((demo_dir / "eval" / f"{row}.json").read_text())["scores"]["mean"]["iou"]
        for row, _ in ROWS
    }
    gain = 100 * (miou["student_kd"] - miou["student_scratch"])
    assert f"{gain:+.2f} mIoU points" in text and f"{gain:+.2f} mIoU points" in md
    for row, label in ROWS:
        assert label in text and f"{miou[row]:.4f}" in text
    assert "Input" in md and "Ground Truth" in md
    assert len(re.findall(r'<img src="data:image/png;base64,', text)) == 7  # 6 + edge frames
    assert text.count('<tr class="mean">') == 2
    for verb in ("train", "distill", "evaluate", "export", "quantize", "benchmark"):
        assert f"segcompress {verb} " in text


def test_report_commands_parse_and_rebuild_the_demo_configs(demo_dir: Path) -> None:
    from segcompress.cli.train import _resolve_config

    demo = Demo(demo_dir, QUICK_BUDGET, progress=False)
    parser = build_parser()
    commands = demo.commands()
    for lines in commands.values():
        for line in lines:
            parser.parse_args(shlex.split(line)[1:])  # exits on an unknown flag
    records = _records(demo_dir)
    for stage, run in RUNS.items():
        # The training command is the config file the stage wrote and trained from.
        config = demo_dir / "configs" / f"{run}.yaml"
        line = commands[run][0]
        assert line == records[stage]["result"]["command"]
        assert line == train_command(demo.train_config(stage), config)
        argv = shlex.split(line)[1:]
        assert argv[1:] == ["--config", str(config)]
        args = parser.parse_args(argv)
        cfg, _ = _resolve_config(args, args.command)
        saved = load_checkpoint(demo_dir / run / "last.pt")["config"]
        assert config_to_dict(cfg) == saved
    # The distilled student's recipe is the budget's, unchanged on its way through the file.
    distill = load_checkpoint(demo_dir / "student_kd" / "last.pt")["config"]["distill"]
    assert {k: distill[k] for k in QUICK_BUDGET.distill} == QUICK_BUDGET.distill
    assert distill["teacher"] == str(demo_dir / "teacher" / "best.pt")


def test_teacher_and_both_students_train_from_imagenet_weights(demo_dir: Path) -> None:
    """The configs the stages trained from ask for ImageNet weights, and the trained encoders
    are still near ImageNet's (one short epoch moves them little), far from a random start."""
    import torch

    from segcompress.config import load_config
    from segcompress.models import create_model

    expected = {
        "teacher": ("teacher", {"encoder": "efficientnet_lite2"}),
        "student_scratch": ("student_lite", {}),
        "student_kd": ("student_lite", {}),
    }
    assert set(expected) == set(RUNS.values())
    for run, (name, args) in expected.items():
        model = load_config(demo_dir / "configs" / f"{run}.yaml").model
        assert (model.name, model.args, model.pretrained) == (name, args, True)
        ckpt = load_checkpoint(demo_dir / run / "last.pt")
        imagenet = create_model(name, ckpt["num_classes"], pretrained=True, **args).state_dict()
        random = create_model(name, ckpt["num_classes"], **args).state_dict()
        convs = [k for k, v in imagenet.items() if k.startswith("encoder.") and v.ndim == 4]
        assert convs

        def gap(state: dict, convs: list[str] = convs, ref: dict = imagenet) -> float:
            return sum(float(torch.dist(state[k].float(), ref[k].float())) for k in convs)

        assert gap(ckpt["model"]) < 0.2 * gap(random), run


def test_rerun_skips_complete_stages_and_redoes_corrupted_ones(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _records(demo_dir)
    records = run_demo(demo_dir, quick=True, progress=False)
    assert all(r["skipped"] for r in records.values())
    out = capsys.readouterr().out
    assert f"[1/{len(STAGES)}] data: synthetic IDD-layout dataset" in out
    assert out.count("up to date, skipped (elapsed") == len(STAGES)
    # A truncated checkpoint and an unparsable report input are noticed, not assumed complete.
    last = demo_dir / "student_scratch" / "last.pt"
    last.write_bytes(last.read_bytes()[:100])
    (demo_dir / "eval" / "teacher.json").write_text("{", encoding="utf-8")
    records = run_demo(demo_dir, quick=True, progress=False)
    ran = {s for s, r in records.items() if not r["skipped"]}
    assert {"student-scratch", "evaluate"} <= ran
    out = capsys.readouterr().out
    assert f"--> student-scratch: runs again: {last} changed since it was written" in out
    assert "--> student-scratch: done in " in out and "--> teacher: up to date, skipped" in out
    assert not ran & {"data", "teacher", "student-kd"}
    assert load_checkpoint(last)["epoch"] == QUICK_BUDGET.epochs
    assert json.loads((demo_dir / "eval" / "teacher.json").read_text())["scores"]
    assert before["teacher"]["outputs"] == records["teacher"]["outputs"]


def test_report_opens_in_a_real_browser(demo_dir: Path, tmp_path: Path) -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); browser check skipped")
    url = (demo_dir / "report.html").resolve().as_uri()
    shot = tmp_path / "shot.png"

    def chromium(*extra: str) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryDirectory() as profile:
            return subprocess.run(
                [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )

    dom = chromium("--enable-logging=stderr", "--v=0", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    assert dom.stdout.count("<table") == 4
    assert len(re.findall(r'<img src="data:image/png;base64,', dom.stdout)) == 7  # 6 + edge frames
    shot_run = chromium(f"--screenshot={shot}", "--window-size=1280,2400")
    assert shot_run.returncode == 0 and shot.is_file(), shot_run.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (2400, 1280)
    non_white = (pixels < 240).any(axis=2).mean()
    colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
    assert non_white > 0.05, f"screenshot nearly blank ({non_white:.1%} non-white)"
    assert colours > 500, f"only {colours} colours: images did not render"
