# Statistics: hurdle models, Table V and violin plots (python -m analysis; no torch).


rule stats_config:
    """The validated stats section as a file, so the CLI sees `--config` overrides too; keys
    that follow the preset are null, so editing `preset` in the file changes them."""
    output:
        f"{RESULTS}/stats/stats_config.yaml",
    log:
        f"{RESULTS}/logs/stats_config.log",
    params:
        stats=STATS.as_stats_section(),
    run:
        import yaml

        from pipeio import atomic_write_text

        header = ("# This run's statistics settings: python -m analysis stats --config <this file>\n"
                  "# (docs/statistics.md). A null key takes the preset's value.\n")
        text = yaml.safe_dump({"stats": params.stats}, sort_keys=False)
        atomic_write_text(output[0], header + text)
        atomic_write_text(log[0], f"wrote {output[0]}\n")


rule stats:
    input:
        percent_time=f"{RESULTS}/percent_time.tsv",
        participants=SHEET_PATH,
        config=rules.stats_config.output,
    output:
        hurdle=report(
            f"{RESULTS}/stats/hurdle.tsv",
            caption="../report/hurdle.rst",
            category="2. Statistics",
        ),
        table_v=report(
            f"{RESULTS}/stats/table_v.tsv",
            caption="../report/table_v.rst",
            category="2. Statistics",
        ),
        table_v_md=f"{RESULTS}/stats/table_v.md",
        table_v_tex=f"{RESULTS}/stats/table_v.tex",
        methods=report(
            f"{RESULTS}/stats/methods.md",
            caption="../report/methods.rst",
            category="2. Statistics",
        ),
        exclusions=f"{RESULTS}/stats/exclusions.tsv",
        # The sheet's ids, groups and covariates as read (no video paths): with
        # stats_config.yaml and percent_time.tsv, the results folder alone reruns stats.
        participants_used=f"{RESULTS}/stats/participants_used.tsv",
        provenance=f"{RESULTS}/stats/provenance.json",
    log:
        f"{RESULTS}/logs/stats.log",
    benchmark:
        f"{RESULTS}/benchmarks/stats.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=2000,
    params:
        out=lambda wc, output: str(Path(output.hurdle).parent),
    shell:
        "\"$MDN_PY\" -m analysis stats --percent-time {input.percent_time:q}"
        " --participants {input.participants:q} --config {input.config:q}"
        " --out {params.out:q} -v > {log:q} 2>&1"


rule plots:
    input:
        percent_time=f"{RESULTS}/percent_time.tsv",
        hurdle=rules.stats.output.hurdle,
        exclusions=rules.stats.output.exclusions,
        config=rules.stats_config.output,
    output:
        # violin_<action>.{png,pdf} are written beside the overview too (the actions are
        # chosen from the data, so they are not declared); the HTML report embeds them.
        overview_png=report(
            f"{RESULTS}/figures/overview.png",
            caption="../report/overview.rst",
            category="3. Figures",
        ),
        overview_pdf=f"{RESULTS}/figures/overview.pdf",
        caption=f"{RESULTS}/figures/caption.md",
        provenance=f"{RESULTS}/figures/provenance.json",
    log:
        f"{RESULTS}/logs/plots.log",
    benchmark:
        f"{RESULTS}/benchmarks/plots.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=2000,
    params:
        out=lambda wc, output: str(Path(output.caption).parent),
    shell:
        "\"$MDN_PY\" -m analysis plots --percent-time {input.percent_time:q}"
        " --hurdle {input.hurdle:q} --exclusions {input.exclusions:q} --config {input.config:q}"
        " --out {params.out:q} -v > {log:q} 2>&1"
