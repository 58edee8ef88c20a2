# Pose extraction and windowed inference, one job per participant; aggregation into percent time.
POSE = config["pose"]
INFER = config["inference"]


def model_files():
    return [f"{MODEL['path']}/model.safetensors", f"{MODEL['path']}/model.json"]


rule pose:
    input:
        video=lambda wc: VIDEO[wc.pid],
        sheet=SHEET_PATH,
    output:
        npz=f"{RESULTS}/pose/{{pid}}.npz",
        qc=f"{RESULTS}/pose/{{pid}}.qc.json",
    log:
        f"{RESULTS}/logs/pose/{{pid}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pose/{{pid}}.tsv"
    threads: 1
    resources:
        mem_mb=1500,
    params:
        source=lambda wc: (f"--openpose-dir {POSE['openpose_dir']}/{wc.pid}"
                           if POSE["backend"] == "openpose" else ""),
    shell:
        "{PY} -m microdualnet pose --backend {POSE[backend]} --video {input.video}"
        " {params.source} --out {output.npz} --qc {output.qc} --no-progress > {log} 2>&1"


rule infer:
    input:
        model_files(),
        video=lambda wc: VIDEO[wc.pid],
        pose=rules.pose.output.npz,
    output:
        f"{RESULTS}/windows/{{pid}}.parquet",
    log:
        f"{RESULTS}/logs/infer/{{pid}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/infer/{{pid}}.tsv"
    threads: 2
    resources:
        mem_mb=3000,
        gpu=1,
    shell:
        "{PY} -m microdualnet infer --model {MODEL[path]} --video {input.video}"
        " --pose {input.pose} --out {output} --participant-id {wildcards.pid}"
        " --window-s {INFER[window_s]} --hop-s {INFER[hop_s]} --batch-size {INFER[batch_size]}"
        " --device {INFER[device]} --threads 1 --workers 1 --no-progress > {log} 2>&1"


if FROM_MODEL:

    rule aggregate:
        input:
            windows=expand(rules.infer.output, pid=PIDS),
            sheet=SHEET_PATH,
        output:
            table=f"{RESULTS}/percent_time.tsv",
            exclusions=f"{RESULTS}/percent_time_exclusions.tsv",
        log:
            f"{RESULTS}/logs/aggregate.log",
        benchmark:
            f"{RESULTS}/benchmarks/aggregate.tsv"
        shell:
            "{PY} -m analysis aggregate --windows {input.windows} --participants {input.sheet}"
            " --out {output.table} --exclusions {output.exclusions}"
            " --decision {INFER[decision]} --threshold {INFER[threshold]} -v > {log} 2>&1"


rule timeline:
    input:
        windows=rules.infer.output,
        pose=rules.pose.output.npz,
        truth=f"{DEMO['out']}/truth_events.tsv" if DEMO["enabled"] else [],
    output:
        f"{RESULTS}/figures/timeline/{{pid}}.png",
    log:
        f"{RESULTS}/logs/timeline/{{pid}}.log",
    params:
        truth=lambda wc, input: f"--truth {input.truth}" if input.truth else "",
    shell:
        "{PY} -m analysis timeline --windows {input.windows} --pose {input.pose}"
        " {params.truth} --decision {INFER[decision]} --threshold {INFER[threshold]}"
        " --out {output} > {log} 2>&1"
