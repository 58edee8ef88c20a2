# The bundled demo: a synthetic cohort with planted group differences and its truth.

# On the truth path the rules that read the cohort's tables (percent_time_from_truth,
# demo_coders) take all its videos as inputs too, though they never open them. A larger demo.per_group adds videos
# Snakemake has no record of, and for a job with such an output it checks no parameter: on
# the truth path, where nothing else asks for the videos, a changed demo setting would leave
# the old cohort's tables as current. Asked for, the new videos are missing outputs, which
# remake the cohort.


rule demo_cohort:
    output:
        sheet=f"{DEMO['out']}/participants.tsv",
        truth=f"{DEMO['out']}/truth_percent_time.tsv",
        events=f"{DEMO['out']}/truth_events.tsv",
        provenance=f"{DEMO['out']}/provenance.json",
        videos=expand(f"{DEMO['out']}/videos/{{pid}}.mp4", pid=demo_participants()),
    log:
        f"{RESULTS}/logs/demo_cohort.log",
    benchmark:
        f"{RESULTS}/benchmarks/demo_cohort.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 2
    resources:
        mem_mb=2000,
    params:
        # One mapping, not a parameter per key: Snakemake compares a rule's parameter values
        # without their names, so swapping width and height would rerun nothing.
        demo=DEMO_SYNTH,
        out=lambda wc, output: str(Path(output.sheet).parent),
    shell:
        "\"$MDN_PY\" -m microdualnet synth cohort --out {params.out:q} --overwrite"
        " --per-group {params.demo[per_group]:q} --seconds {params.demo[seconds]:q}"
        " --fps {params.demo[fps]:q} --width {params.demo[width]:q} --height {params.demo[height]:q}"
        " --seed {params.demo[seed]:q}"
        " --workers {threads} > {log:q} 2>&1"


# Only on the truth path: on the model path percent_time.tsv must come from aggregate, and
# a rule that could also write it would be Snakemake's way round an aggregate input it
# cannot make (the demo's true percent time analysed as a study's, with no error).
if not FROM_MODEL:

    rule percent_time_from_truth:
        """`percent_time_source: truth`: analyse the cohort's true percent time (no model)."""
        input:
            truth=rules.demo_cohort.output.truth,
            provenance=rules.demo_cohort.output.provenance,
            videos=rules.demo_cohort.output.videos,  # not read: see above demo_cohort
        output:
            # The same files as aggregate's, so none of a model run's is left beside the table.
            table=report(
                f"{RESULTS}/percent_time.tsv",
                caption="../report/percent_time.rst",
                category="4. Percent time",
            ),
            exclusions=f"{RESULTS}/percent_time_exclusions.tsv",
            provenance=f"{RESULTS}/percent_time.tsv.provenance.json",  # holds the cohort's record
        log:
            f"{RESULTS}/logs/percent_time_from_truth.log",
        conda:
            "../../envs/analysis.yaml"
        shell:
            "\"$MDN_PY\" -m analysis truth-percent-time --truth {input.truth:q}"
            " --out {output.table:q} --exclusions {output.exclusions:q} -v > {log:q} 2>&1"
