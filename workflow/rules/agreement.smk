# Agreement with human coders (docs/agreement.md): the model's decisions against each coder's
# BORIS or ELAN codings, and the coders against each other. A study names its coders in
# config agreement.coders or in the sheet's codings_<coder> columns; the demo makes two
# synthetic coders (demo.coders). Without coders there is no agreement stage.

AGREEMENT = config["agreement"]
DEMO_CODINGS = f"{DEMO['out']}/codings"
DURATIONS = None  # video lengths of coded participants that have no windows file
# A study's coding files and folders and its mapping, fingerprinted for the agreement job's
# parameters (the demo's are demo_coders' outputs, whose times say it all).
STUDY_CODINGS = []
# Coder name -> files or folders: from config agreement.coders and the sheet's
# codings_<coder> columns (one file per participant), or the demo's synthetic coders.
CODER_INPUT = {name: [path] for name, path in AGREEMENT["coders"].items()}
_twice = sorted(set(CODER_INPUT) & set(SHEET_CODINGS))
if _twice:
    raise ValueError(f"coder {_twice[0]!r} is named both in config agreement.coders and in "
                     f"the participant sheet's column codings_{_twice[0]}: give their codings "
                     "once")
CODER_INPUT.update(SHEET_CODINGS)
for _name in CODER_INPUT:
    _problem = coder_name_problem(_name)
    if _problem:
        _where = ("config agreement.coders" if _name in AGREEMENT["coders"]
                  else f"{SHEET_PATH}: column {CODINGS_PREFIX}{_name}")
        raise ValueError(f"{_where}: coder name {_name!r} {_problem}; rename the coder")
if CODER_INPUT:
    if not AGREEMENT["mapping"]:
        raise ValueError("config agreement.mapping: a mapping file is needed with coders "
                         "(agreement.coders or the sheet's codings_<coder> columns; "
                         "docs/agreement.md)")
    for _name, _path in {**AGREEMENT["coders"], "mapping": AGREEMENT["mapping"]}.items():
        if not Path(_path).exists():
            raise ValueError(f"config agreement: {_name} {_path} does not exist")
    if len(CODER_INPUT) == 1 and not FROM_MODEL:
        raise ValueError(f"config agreement: coder {next(iter(CODER_INPUT))!r} alone has "
                         "nothing to compare with on the truth path (percent_time_source: "
                         "truth compares coders only): add a second coder")
    CODER_ARG = [(name, path) for name, paths in CODER_INPUT.items() for path in paths]
    CODINGS_MAPPING = AGREEMENT["mapping"]
    check_agreement_inputs(CODER_ARG, CODINGS_MAPPING)
    STUDY_CODINGS = [path for _name, path in CODER_ARG] + [CODINGS_MAPPING]
elif DEMO["enabled"] and DEMO["coders"]:
    CODER_INPUT = {c: [f"{DEMO_CODINGS}/{c}"] for c in ("coder1", "coder2")}
    # One coder read from its BORIS export, the other from its ELAN files: both readers run.
    CODER_ARG = [("coder1", f"{DEMO_CODINGS}/coder1/boris"),
                 ("coder2", f"{DEMO_CODINGS}/coder2/elan")]
    CODINGS_MAPPING = f"{DEMO_CODINGS}/mapping.yaml"
    DURATIONS = f"{DEMO_CODINGS}/durations.tsv"
else:  # no agreement stage: its rule exists, but no target asks for its outputs
    CODER_ARG, CODINGS_MAPPING = [], []


rule demo_coders:
    """Two synthetic coders' BORIS and ELAN files, from the demo cohort's true events."""
    input:
        events=rules.demo_cohort.output.events,
        sheet=rules.demo_cohort.output.sheet,
        # Not read: see above demo_cohort (demo.smk). On the model path pose asks for the
        # videos already, and a changed video would rerun the coders for nothing.
        videos=[] if FROM_MODEL else rules.demo_cohort.output.videos,
    output:
        coder1=directory(f"{DEMO_CODINGS}/coder1"),
        coder2=directory(f"{DEMO_CODINGS}/coder2"),
        mapping=f"{DEMO_CODINGS}/mapping.yaml",
        durations=f"{DEMO_CODINGS}/durations.tsv",
    log:
        f"{RESULTS}/logs/demo_coders.log",
    conda:
        "../../envs/pipeline.yaml"
    params:
        cohort=lambda wc, input: str(Path(input.sheet).parent),
        out=lambda wc, output: str(Path(output.mapping).parent),
        seed=DEMO["seed"],
    shell:
        "\"$MDN_PY\" -m microdualnet synth coders --cohort {params.cohort:q}"
        " --out {params.out:q} --seed {params.seed:q} --overwrite > {log:q} 2>&1"


rule agreement:
    input:
        windows=expand(rules.infer.output, pid=PIDS) if FROM_MODEL else [],
        coders=[path for paths in CODER_INPUT.values() for path in paths],
        mapping=CODINGS_MAPPING,
        durations=DURATIONS or [],
    output:
        table=report(
            f"{RESULTS}/agreement/agreement.tsv",
            caption="../report/agreement.rst",
            category="6. Agreement with coders",
        ),
        markdown=f"{RESULTS}/agreement/agreement.md",
        percent_time=f"{RESULTS}/agreement/agreement_percent_time.tsv",
        provenance=f"{RESULTS}/agreement/agreement.provenance.json",
    log:
        f"{RESULTS}/logs/agreement.log",
    benchmark:
        f"{RESULTS}/benchmarks/agreement.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        coders=" ".join(shlex.quote(f"{name}={path}") for name, path in CODER_ARG),
        # The model's events come from the same decision as percent time (aggregate).
        windows=lambda wc, input: (
            "--windows " + " ".join(shlex.quote(w) for w in input.windows)
            if input.windows else ""),
        durations=lambda wc, input: (
            f"--durations {shlex.quote(input.durations)}" if input.durations else ""),
        out=lambda wc, output: str(Path(output.table).parent),
        decision=DECISION_ARGS,
        # Sizes and times of a study's coding files (every file of a coder folder) and of its
        # mapping: an export corrected in place (a folder's own time does not change) or a
        # file replaced by a copy with older times (`cp -p`) reruns the comparison.
        coder_files=" ".join(file_stamp(path) for path in STUDY_CODINGS),
    shell:
        "\"$MDN_PY\" -m analysis agreement --codings {params.coders}"
        " --mapping {input.mapping:q} {params.windows} {params.durations}"
        " --out-dir {params.out:q} {params.decision} -v > {log:q} 2>&1"
