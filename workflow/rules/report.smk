# The run's HTML report: Table V, methods, figures, exclusions and provenance in one
# self-contained file (python -m analysis report). `snakemake --report` builds Snakemake's own
# report from the report()-flagged outputs, with the same caption files (workflow/report/).


rule report:
    input:
        table_v=rules.stats.output.table_v,
        table_v_md=rules.stats.output.table_v_md,
        hurdle=rules.stats.output.hurdle,
        methods=rules.stats.output.methods,
        exclusions=rules.stats.output.exclusions,
        upstream=rules.aggregate.output.exclusions if FROM_MODEL else [],
        percent_time=f"{RESULTS}/percent_time.tsv",
        participants=SHEET_PATH,
        overview=rules.plots.output.overview_png,
        figure_caption=rules.plots.output.caption,
        provenance=[rules.stats.output.provenance, rules.plots.output.provenance]
        + ([rules.aggregate.output.provenance, rules.pose_quality.output.provenance]
           if FROM_MODEL else []),
        agreement=rules.agreement.output.table if CODER_INPUT else [],
        pose_quality=rules.pose_quality.output.table if FROM_MODEL else [],
        inference_quality=rules.aggregate.output.quality if FROM_MODEL else [],
        captions=[
            str(CAPTIONS / f"{name}.rst")
            for name in ("workflow", "table_v", "overview", "hurdle", "exclusions")
            + (("pose_quality", "inference_quality") if FROM_MODEL else ())
            + (("agreement",) if CODER_INPUT else ())
        ],
    output:
        report(
            f"{RESULTS}/report.html",
            caption="../report/report.rst",
            category="1. Summary",
        ),
    log:
        f"{RESULTS}/logs/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/report.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        upstream=lambda wc, input: (
            f"--upstream-exclusions {shlex.quote(str(input.upstream))}" if input.upstream else ""
        ),
        captions=lambda wc, input: str(Path(input.captions[0]).parent),
        agreement=lambda wc, input: (
            f"--agreement {shlex.quote(input.agreement)}" if input.agreement else ""),
        pose_quality=lambda wc, input: (
            f"--pose-quality {shlex.quote(input.pose_quality)}" if input.pose_quality else ""),
        inference_quality=lambda wc, input: (
            f"--inference-quality {shlex.quote(input.inference_quality)}"
            if input.inference_quality else ""),
    shell:
        "\"$MDN_PY\" -m analysis report --table-v {input.table_v:q} --table-v-md {input.table_v_md:q}"
        " --hurdle {input.hurdle:q} --methods {input.methods:q} --percent-time {input.percent_time:q}"
        " --exclusions {input.exclusions:q} {params.upstream} --participants {input.participants:q}"
        " --overview {input.overview:q} --figure-caption {input.figure_caption:q}"
        " --provenance {input.provenance:q} --captions {params.captions:q} {params.agreement}"
        " {params.pose_quality} {params.inference_quality}"
        " --out {output:q} -v > {log:q} 2>&1"
