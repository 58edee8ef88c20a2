# Pose extraction and windowed inference, one job per participant; aggregation into percent time.
# A participant whose video or pose cannot be read gets an exclusion record instead of a failed
# job when ON_ERROR is "exclude" (config on_participant_error); aggregate and the report list it.
import shlex

POSE = config["pose"]
INFER = config["inference"]


rule pose:
    input:
        video=lambda wc: VIDEO[wc.pid],
        sheet=SHEET_PATH,
        # Only the frames the model's windows sample: the pose file then belongs to the model.
        model=f"{MODEL['path']}/model.json" if POSE["only_sampled"] else [],
    output:
        npz=f"{RESULTS}/pose/{{pid}}.npz",
        qc=f"{RESULTS}/pose/{{pid}}.qc.json",
    log:
        f"{RESULTS}/logs/pose/{{pid}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pose/{{pid}}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=1500,
    params:
        py=PY,
        pose_backend=POSE["backend"],
        on_error=ON_ERROR,
        source=lambda wc: (f"--openpose-dir {POSE['openpose_dir']}/{wc.pid}"
                           if POSE["backend"] == "openpose" else ""),
        sampled=lambda wc, input: (
            f"--only-sampled {shlex.quote(str(Path(input.model).parent))} --window-s "
            f"{INFER['window_s']} --hop-s {INFER['hop_s']}" if input.model else ""),
    shell:
        # The sheet's participant_side / participant_box say who the participant is when
        # others are in view (pose.participant).
        "{params.py} -m microdualnet pose --backend {params.pose_backend} --video {input.video}"
        " {params.source} {params.sampled} --sheet {input.sheet} --participant-id {wildcards.pid}"
        " --out {output.npz} --qc {output.qc} --on-error {params.on_error}"
        " --no-progress > {log} 2>&1"


rule infer:
    input:
        weights=f"{MODEL['path']}/model.safetensors",
        meta=f"{MODEL['path']}/model.json",
        video=lambda wc: VIDEO[wc.pid],
        pose=rules.pose.output.npz,
    output:
        f"{RESULTS}/windows/{{pid}}.parquet",
    log:
        f"{RESULTS}/logs/infer/{{pid}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/infer/{{pid}}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: INFER["threads"]
    resources:
        mem_mb=3000,
        gpu=1,  # a slot: pass --resources gpu=<GPUs x gpu.share> to cap them
    params:
        py=PY,
        gpu=gpu_wrapper_args(INFER["device"]),
        # The model process runs on one core, the others decode (a stretch of video each).
        loader_workers=lambda wc, threads: max(1, threads - 1),
        model_path=lambda wc, input: str(Path(input.weights).parent),
        infer_window_s=INFER["window_s"],
        infer_hop_s=INFER["hop_s"],
        infer_batch_size=INFER["batch_size"],
        infer_device=INFER["device"],
        on_error=ON_ERROR,
    shell:
        "{params.py} -m pipeio.gpu {params.gpu} --"
        " {params.py} -m microdualnet infer --model {params.model_path} --video {input.video}"
        " --pose {input.pose} --out {output} --participant-id {wildcards.pid}"
        " --window-s {params.infer_window_s} --hop-s {params.infer_hop_s} --batch-size {params.infer_batch_size}"
        " --device {params.infer_device} --on-error {params.on_error}"
        " --threads 1 --workers {params.loader_workers} --no-progress > {log} 2>&1"


if FROM_MODEL:

    rule aggregate:
        input:
            windows=expand(rules.infer.output, pid=PIDS),
            sheet=SHEET_PATH,
        output:
            table=report(
                f"{RESULTS}/percent_time.tsv",
                caption="../report/percent_time.rst",
                category="4. Percent time",
            ),
            exclusions=report(
                f"{RESULTS}/percent_time_exclusions.tsv",
                caption="../report/exclusions.rst",
                category="5. Quality control",
            ),
            provenance=f"{RESULTS}/percent_time.tsv.provenance.json",
        log:
            f"{RESULTS}/logs/aggregate.log",
        benchmark:
            f"{RESULTS}/benchmarks/aggregate.tsv"
        conda:
            "../../envs/analysis.yaml"
        params:
            py=PY,
            infer_decision=INFER["decision"],
            infer_threshold=INFER["threshold"],
            infer_baseline=INFER["baseline"],
        shell:
            "{params.py} -m analysis aggregate --windows {input.windows} --participants {input.sheet}"
            " --out {output.table} --exclusions {output.exclusions}"
            " --decision {params.infer_decision} --threshold {params.infer_threshold}"
            " --baseline {params.infer_baseline} -v > {log} 2>&1"


rule timeline:
    input:
        windows=rules.infer.output,
        pose=rules.pose.output.npz,
        truth=f"{DEMO['out']}/truth_events.tsv" if DEMO["enabled"] else [],
    output:
        report(
            f"{RESULTS}/figures/timeline/{{pid}}.png",
            caption="../report/timeline.rst",
            category="5. Quality control",
            subcategory="Timelines",
            labels={"participant": "{pid}"},
        ),
    log:
        f"{RESULTS}/logs/timeline/{{pid}}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        py=PY,
        infer_decision=INFER["decision"],
        infer_threshold=INFER["threshold"],
        infer_baseline=INFER["baseline"],
        truth=lambda wc, input: f"--truth {input.truth}" if input.truth else "",
    shell:
        "{params.py} -m analysis timeline --windows {input.windows} --pose {input.pose}"
        " {params.truth} --decision {params.infer_decision} --threshold {params.infer_threshold}"
        " --baseline {params.infer_baseline} --out {output} > {log} 2>&1"
