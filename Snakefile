# Micro-DualNet clinical pipeline: videos -> pose -> windowed inference -> percent time -> hurdle
# statistics -> Table V, violin plots and an HTML report. Run `snakemake --cores N` from the
# repository root; config.yaml runs the demo. Per-rule notes: docs/workflow.md.
from pathlib import Path

from snakemake.utils import min_version, validate

from analysis.run_summary import run_summary
from pipeio import InputError
from pipeio.schemacheck import check_schema, load_schema
from pipeio.yamlfile import safe_load_unique

min_version("9.0")


configfile: "config.yaml"


# A key given twice in a config file (a second `stats:` section replaces the first whole):
# Snakemake's YAML reading keeps the last without a word. One line naming both lines.
for _configfile in workflow.configfiles:
    try:
        safe_load_unique(Path(_configfile).read_text(encoding="utf-8"),
                         f"config file {_configfile}")
    except InputError as err:
        raise InputError(str(err)) from None
# One line naming the key (and the closest valid one) for a typo; validate then fills the
# defaults.
try:
    check_schema(config, load_schema(f"{workflow.basedir}/workflow/schemas/config.schema.yaml"),
                 "config")
except InputError as err:
    raise InputError(str(err)) from None
validate(config, "workflow/schemas/config.schema.yaml")


# Shown on the landing page of `snakemake --report report.html` (and atop results/.../report.html).
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


# Commands reach the interpreter through the environment ("$MDN_PY"), not a rule parameter:
# moving the checkout or recreating its virtual environment changes no result, so it must
# rerun no job (a parameter's change would rerun every one).
# The GPU pool's settings travel the same way (workflow/rules/common.smk, gpu_options), and so
# does the train job's standing order to start over when its resume state was written for
# another config or other data (Snakemake has already decided the model must be made again).
shell.prefix(f"set -euo pipefail; export MDN_PY={prefix_literal(PY)}; "
             f"export MICRODUALNET_GPU_OPTIONS={prefix_literal(gpu_options())}; "
             "export MICRODUALNET_TRAIN_RESTART_IF_CHANGED=1; ")


include: "workflow/rules/demo.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/inference.smk"
include: "workflow/rules/agreement.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        rules.stats.output,
        rules.plots.output,
        rules.report.output,
        expand(rules.timeline.output, pid=PIDS) if FROM_MODEL else [],


# The terminal's last lines: the report, and the participants that need a look.
onsuccess:
    for line in run_summary(RESULTS, model_path=FROM_MODEL):
        print(line, file=sys.stderr)
