# Two commands: `make demo` and `make test`. Each creates .venv when missing and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch/torchvision pinned to the pair this workplace serves from local disk (see README).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench bench-accuracy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet $(TORCH_PINS) || $(BIN)/pip install --quiet torch torchvision
	$(BIN)/pip install --quiet -e ".[onnx,pretrained,dev]" -e ./edge
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/segcompress demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not own_process"
	$(BIN)/python -m pytest -q -p no:xdist -m own_process

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

# Every speed benchmark BENCHMARKS.md cites, each writing the result JSON its table names.
# About 1.5 hours on 2 cores (an estimate from the scripts' rounds and runs; bench_edge.py's
# two runs are half of it). Run it on an otherwise idle machine: every number is a time.
# TEACHER=runs/bench/patient/teacher-s0/last.pt adds what distillation costs (about 20 min).
R := benchmarks/results
RUN := $(BIN)/python benchmarks
Q := student_q:upsample=nearest,decoder_upsample=nearest
DATA ?= ../shared/datasets/idd20k_lite
bench: $(STAMP)
	$(RUN)/bench_data.py
	$(RUN)/bench_synth.py
	$(RUN)/bench_train.py --variants fp32 fp32-cl bf16-cl --batch 8 --steps 4 --threads 2
	$(RUN)/bench_deploy.py
	$(RUN)/bench_memory.py
	$(RUN)/bench_models.py
	$(RUN)/bench_kill.py
	$(RUN)/bench_edge.py --threads 2 --students student_s student_xs
	$(RUN)/bench_edge.py --threads 2 --students student_s student_xs \
		student_q:upsample=nearest student_q:upsample=nearest,width_mult=2 \
		--results $(R)/edge_ceiling.json
	$(RUN)/bench_int8_ab.py --models student_s student_q student_xs --rounds 9
	$(RUN)/bench_int8_ab.py --models student_xs $(Q) $(Q),decoder_upsample=bilinear --rounds 9 \
		--results $(R)/int8_ab_narrow_bilinear_decoder.json
	$(RUN)/bench_int8_ab.py --openvino-whole --rounds 9 --models student_s student_xs \
		--results $(R)/int8_ab_openvino_logits.json
	$(RUN)/bench_int8_ab.py --models student_lite student_lite:encoder_padding=symmetric \
		student_q student_s --rounds 7 --results $(R)/int8_ab_student_lite.json
	$(RUN)/bench_int8_ab.py --models student_lite student_lite:upsample=nearest --rounds 7 \
		--results $(R)/int8_ab_student_lite_nearest.json
	$(RUN)/bench_int8_ab.py --models student_lite --zero-pad --nchw-logits --rounds 7 \
		--results $(R)/int8_ab_student_lite_nhwc_logits.json
	$(RUN)/bench_int8_ab.py --models student_s student_q --nchw-logits --rounds 7 \
		--results $(R)/int8_ab_nhwc_logits_others.json
	$(RUN)/bench_ort_settings.py --rounds 7 --models student_s student_xs
	$(RUN)/bench_edge_video.py
	$(RUN)/bench_edge_video.py --runtime openvino --json $(R)/bench_edge_video_openvino.json
	if [ -n "$(TEACHER)" ]; then \
		$(RUN)/bench_kd_cost.py --data $(DATA) --teacher $(TEACHER) --epochs 2 --threads 2 && \
		$(RUN)/bench_kd_cost.py --data $(DATA) --checksum-cost --teacher $(TEACHER) --threads 1; \
	else echo "bench_kd_cost.py skipped: TEACHER=.../last.pt runs it"; fi

# Every accuracy suite behind BENCHMARKS.md (IDD-Lite in ../shared/datasets/idd20k_lite or
# DATA=...); the row sets are benchmarks/suites/*.yaml. Runs are kept under runs/bench and
# skipped when done, so a second call only scores and tabulates. From nothing, on 2 cores
# (estimates from the recorded epoch times): the IDD-Lite grid about 2.5 hours, the synthetic
# set about 65 minutes, the patience study's suites about 3.5 days together (select 2 h, final
# 7 h, unlabeled 2.5 h, longer 2.5 h, long_teacher 18 h, student_q 23 h, pretrained 3.5 h,
# pretrained_variants 1.5 h, pretrained_native about 24 h: the 144x192 epoch times scaled by
# pixel count; rows shared by suites train once); then the INT8, teacher-view and padding
# checks, minutes each; the demo's ImageNet check (synthetic set, 15 runs at the demo's
# recipe) about 35 minutes.
PATIENCE_SUITES := select final unlabeled longer long_teacher student_q pretrained pretrained_variants pretrained_native
PATIENT := runs/bench/patient
bench-accuracy: $(STAMP)
	$(RUN)/bench_idd_lite.py --data $(DATA)
	$(RUN)/bench_kd_synthetic.py --no-latency
	for s in $(PATIENCE_SUITES); do \
		$(RUN)/bench_kd_patience.py --data $(DATA) --suite $$s || exit 1; done
	$(RUN)/bench_int8_student.py --data $(DATA) --out $(PATIENT) \
		--runs 'student_q-*-24-ep-s?' 'student_s-dist-24-ep-s?' --upsample bilinear nearest
	$(RUN)/bench_int8_student.py --data $(DATA) --out $(PATIENT) \
		--runs 'student_lite-*-encoder-efficientnet_lite?-s0' --results $(R)/int8_student_lite_variants.json
	$(RUN)/bench_int8_student.py --data $(DATA) --out $(PATIENT) \
		--runs 'student_lite-*-pretrained-true-amp-bf16-img-size-227x320-s?' --results $(R)/int8_student_lite_native.json
	$(RUN)/bench_teacher_tta.py --data $(DATA) --amp bf16 \
		--teacher $(PATIENT)/teacher-48-ep-amp-bf16-s0/last.pt
	$(RUN)/bench_encoder_padding.py --data $(DATA)
	$(RUN)/bench_demo_pretrained.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
