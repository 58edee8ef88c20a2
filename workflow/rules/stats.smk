# Statistics: hurdle models, Table V and violin plots (python -m analysis; no torch).


rule stats_config:
    """The validated stats section as a file, so the CLI sees `--config` overrides too."""
    output:
        f"{RESULTS}/stats/stats_config.yaml",
    params:
        stats=STATS.model_dump(mode="json"),
    run:
        import yaml

        from pipeio import atomic_write_text

        atomic_write_text(output[0], yaml.safe_dump({"stats": params.stats}, sort_keys=False))


rule stats:
    input:
        percent_time=f"{RESULTS}/percent_time.tsv",
        participants=SHEET_PATH,
        config=rules.stats_config.output,
    output:
        hurdle=f"{RESULTS}/stats/hurdle.tsv",
        table_v=multiext(f"{RESULTS}/stats/table_v", ".tsv", ".md", ".tex"),
        methods=f"{RESULTS}/stats/methods.md",
    log:
        f"{RESULTS}/logs/stats.log",
    benchmark:
        f"{RESULTS}/benchmarks/stats.tsv"
    resources:
        mem_mb=2000,
    params:
        py=PY,
        out=f"{RESULTS}/stats",
    shell:
        "{params.py} -m analysis stats --percent-time {input.percent_time}"
        " --participants {input.participants} --config {input.config}"
        " --out {params.out} -v > {log} 2>&1"


rule plots:
    input:
        percent_time=f"{RESULTS}/percent_time.tsv",
        hurdle=rules.stats.output.hurdle,
        config=rules.stats_config.output,
    output:
        overview=multiext(f"{RESULTS}/figures/overview", ".png", ".pdf"),
        caption=f"{RESULTS}/figures/caption.md",
    log:
        f"{RESULTS}/logs/plots.log",
    benchmark:
        f"{RESULTS}/benchmarks/plots.tsv"
    resources:
        mem_mb=2000,
    params:
        py=PY,
        out=f"{RESULTS}/figures",
    shell:
        "{params.py} -m analysis plots --percent-time {input.percent_time}"
        " --hurdle {input.hurdle} --config {input.config} --out {params.out} -v > {log} 2>&1"
