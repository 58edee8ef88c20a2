# The Micro-DualNet model: synthetic training clips (demo) and the train rule.

# What starts `-m microdualnet train`: one process through pipeio.gpu (model.gpus: 1), or
# torchrun with one process per GPU on the job's node (model.gpus: N > 1; under SLURM the job
# holds N GPUs, a local run uses the first N it sees; docs/workflow.md).
TRAIN_LAUNCH = (
    f'"$MDN_PY" -m pipeio.gpu --whole -- "$MDN_PY"'
    if MODEL["gpus"] == 1
    else f'"$MDN_PY" -m torch.distributed.run --standalone --nproc_per_node {MODEL["gpus"]}')


rule demo_clips:
    output:
        lists=expand(f"{MODEL['clips']}/{{split}}_list_videos.txt", split=["train", "val", "test"]),
        labels=f"{MODEL['clips']}/label_map.tsv",
        settings=f"{MODEL['clips']}/synth_config.json",
    log:
        f"{RESULTS}/logs/demo_clips.log",
    benchmark:
        f"{RESULTS}/benchmarks/demo_clips.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 2
    resources:
        mem_mb=2000,
    params:
        # One mapping (see demo_cohort): Snakemake compares parameter values without names.
        clips={
            "per_class": MODEL["clips_per_class"],
            "held_out": max(1, -(-MODEL["clips_per_class"] // 5)),
            "background_factor": MODEL["background_factor"],
            **{k: DEMO[k] for k in ("fps", "width", "height", "seed")},
        },
        out=lambda wc, output: str(Path(output.labels).parent),
    shell:
        "\"$MDN_PY\" -m microdualnet synth clips --out {params.out:q} --overwrite"
        " --train-per-class {params.clips[per_class]:q} --val-per-class {params.clips[held_out]:q}"
        " --test-per-class {params.clips[held_out]:q}"
        " --background-factor {params.clips[background_factor]:q} --fps {params.clips[fps]:q}"
        " --width {params.clips[width]:q} --height {params.clips[height]:q}"
        " --seed {params.clips[seed]:q}"
        " --workers {threads} > {log:q} 2>&1"


rule train:
    input:
        config=train_config,
        # The demo's clip lists, or a study's clip folder as it is: another model.clips (or a
        # file added to the folder) trains again.
        clips=rules.demo_clips.output.lists if DEMO["enabled"] else MODEL["clips"],
        # The demo clips' options (their lists stay the same at another size, frame rate or
        # seed): a clip set remade by a run stopped before train (Ctrl-C) still trains again.
        clip_settings=rules.demo_clips.output.settings if DEMO["enabled"] else [],
    output:
        weights=f"{MODEL['path']}/model.safetensors",
        meta=f"{MODEL['path']}/model.json",
    log:
        f"{RESULTS}/logs/train.log",
    benchmark:
        f"{RESULTS}/benchmarks/train.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        gpu=MODEL["gpus"],
    params:
        launch=TRAIN_LAUNCH,
        # Names, sizes and times of a study's clip folder's entries (its split lists and label
        # map; each split folder's time): a list corrected in place, which leaves the folder's
        # own time alone, or a clip added to a split folder trains again.
        clip_files=lambda wc: "" if DEMO["enabled"] else folder_manifest(MODEL["clips"], "*"),
        out=lambda wc, output: str(Path(output.weights).parent),
        root=lambda wc, input: (str(Path(input.clips[0]).parent) if DEMO["enabled"]
                                else str(input.clips)),
    shell:
        "{params.launch} -m microdualnet train --config {input.config:q} --data-root {params.root:q}"
        " --out {params.out:q} --set threads={threads} --set progress=false > {log:q} 2>&1"
