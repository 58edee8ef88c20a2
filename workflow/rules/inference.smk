# Pose extraction and windowed inference, one job per participant; aggregation into percent time.
# A participant whose video or pose cannot be read gets an exclusion record instead of a failed
# job when ON_ERROR is "exclude" (config on_participant_error); aggregate and the report list it.


rule pose:
    input:
        video=lambda wc: VIDEO[wc.pid],
        # Only the frames the model's windows sample: the pose file then belongs to the model.
        model=lambda wc: model_files().get("meta", []) if POSE["only_sampled"] else [],
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
        # A video replaced by an older copy reruns the job (Snakemake looks only at newer times).
        video_file=lambda wc: video_stamp(wc.pid),
        pose_backend=POSE["backend"],
        on_error=ON_ERROR,
        min_upright=POSE["min_upright_fraction"],
        # Where the participant sits when others are in view: this participant's sheet cells
        # (participant_side / participant_box), so editing another row or adding a column
        # reruns no pose job.
        seat=lambda wc: seat_args(wc.pid),
        source=lambda wc: (f"--openpose-dir {shlex.quote(openpose_dir(wc.pid))}"
                           if POSE["backend"] == "openpose" else ""),
        # Names, sizes and times of the OpenPose JSON files: a changed folder reruns the job.
        openpose_files=lambda wc: (folder_manifest(openpose_dir(wc.pid))
                                   if POSE["backend"] == "openpose" else ""),
        model_sha256=lambda wc: model_sha256() if POSE["only_sampled"] else "",
        sampled=lambda wc: (
            f"--only-sampled {shlex.quote(MODEL['path'])} --window-s "
            f"{INFER['window_s']} --hop-s {INFER['hop_s']}" if POSE["only_sampled"] else ""),
    shell:
        "\"$MDN_PY\" -m microdualnet pose --backend {params.pose_backend:q}"
        " --video {input.video:q} {params.source} {params.sampled} {params.seat}"
        " --min-upright-fraction {params.min_upright:q}"
        " --out {output.npz:q} --qc {output.qc:q} --on-error {params.on_error:q}"
        " --no-progress > {log:q} 2>&1"


rule infer:
    input:
        unpack(model_files),
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
        # A slot: pass --resources gpu=<GPUs x gpu.share> to cap them. Under SLURM it is the
        # job's --gpus; inference.device: cpu asks for none (a cluster without GPUs).
        gpu=0 if INFER_ON_CPU else 1,
        # How the job runs, not what it computes (the windows file's numbers are the same to
        # float32 rounding; its provenance records both): resources, unlike params, are no
        # rerun trigger, so tuning them for another machine reruns no participant.
        batch_size=INFER["batch_size"],
        device=INFER["device"],
        # The pool of pipeio.gpu (gpu.devices, as in MICRODUALNET_GPU_OPTIONS), none on the CPU.
        gpu_devices="none" if INFER_ON_CPU else gpu_devices(),
    params:
        # A model folder used as it is (model.train: false) may be replaced by files with
        # older times: its digest, not only the times, reruns inference.
        model_sha256=lambda wc: model_sha256(),
        video_file=lambda wc: video_stamp(wc.pid),
        # The model process runs on one core, the others decode (a stretch of video each);
        # with one thread it decodes between batches itself.
        loader_workers=lambda wc, threads: threads - 1,
        # One mapping (see demo_cohort): Snakemake compares parameter values without their
        # names, so window_s and hop_s swapped would keep windows cut the other way.
        infer={
            "model": MODEL["path"],
            "window_s": INFER["window_s"],
            "hop_s": INFER["hop_s"],
            "max_repeated_frames": INFER["max_repeated_frames"],
            "on_error": ON_ERROR,
        },
    shell:
        "\"$MDN_PY\" -m pipeio.gpu --devices {resources.gpu_devices:q} --"
        " \"$MDN_PY\" -m microdualnet infer --model {params.infer[model]:q} --video {input.video:q}"
        " --pose {input.pose:q} --out {output:q} --participant-id {wildcards.pid:q}"
        " --window-s {params.infer[window_s]:q} --hop-s {params.infer[hop_s]:q}"
        " --batch-size {resources.batch_size:q} --device {resources.device:q}"
        " --max-repeated-frames {params.infer[max_repeated_frames]:q}"
        " --on-error {params.infer[on_error]:q}"
        " --threads 1 --workers {params.loader_workers:q} --no-progress > {log:q} 2>&1"


rule aggregate:
    input:
        windows=expand(rules.infer.output, pid=PIDS),
        sheet=SHEET_PATH,
        model=lambda wc: model_files().get("meta", []),
    output:
        table=report(
            f"{RESULTS}/percent_time.tsv",
            caption="../report/percent_time.rst",
            category="4. Percent time",
        ),
        # Not in `snakemake --report`: its reasons name files (report.html shows them redacted).
        exclusions=f"{RESULTS}/percent_time_exclusions.tsv",
        # The inference warnings of every participant, for report.html and the run's end.
        quality=report(
            f"{RESULTS}/percent_time_quality.tsv",
            caption="../report/inference_quality.rst",
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
        decision=DECISION_ARGS,
        model=MODEL["path"],
        # Only the sheet columns the statistics use reach the results (a study's sheet may
        # hold notes or dates of birth); the CLI's default would copy every column.
        covariates=",".join(STATS.covariates),
    shell:
        # --model refuses windows files made by any other model than the configured one.
        "\"$MDN_PY\" -m analysis aggregate --windows {input.windows:q}"
        " --participants {input.sheet:q} --model {params.model:q}"
        " --covariates={params.covariates:q}"  # "=": an empty list stays one argument
        " --out {output.table:q} --exclusions {output.exclusions:q}"
        " --quality {output.quality:q} {params.decision}"
        " -v > {log:q} 2>&1"


rule pose_quality:
    input:
        qc=expand(rules.pose.output.qc, pid=PIDS),
    output:
        table=report(
            f"{RESULTS}/pose_quality.tsv",
            caption="../report/pose_quality.rst",
            category="5. Quality control",
        ),
        provenance=f"{RESULTS}/pose_quality.tsv.provenance.json",
    log:
        f"{RESULTS}/logs/pose_quality.log",
    conda:
        "../../envs/analysis.yaml"
    shell:
        "\"$MDN_PY\" -m analysis pose-quality --qc {input.qc:q} --out {output.table:q}"
        " -v > {log:q} 2>&1"


# percent_time.tsv comes from the model (aggregate) or, on the demo's truth path, from the
# cohort's true events (percent_time_from_truth, defined only there: demo.smk).
if not FROM_MODEL:

    ruleorder: percent_time_from_truth > aggregate


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
        decision=DECISION_ARGS,
        truth=lambda wc, input: f"--truth {shlex.quote(str(input.truth))}" if input.truth else "",
    shell:
        "\"$MDN_PY\" -m analysis timeline --windows {input.windows:q} --pose {input.pose:q}"
        " {params.truth} {params.decision} --out {output:q} > {log:q} 2>&1"
