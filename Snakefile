# Micro-DualNet clinical pipeline: videos -> pose -> windowed inference -> percent time -> hurdle
# statistics -> Table V, violin plots and an HTML report. Run `snakemake --cores N` from the
# repository root; config.yaml runs the demo. Per-rule notes: docs/workflow.md.
import sys

from snakemake.settings.types import DeploymentMethod
from snakemake.utils import min_version, validate

from analysis.config import load_stats_config
from pipeio import InputError
from pipeio.schemacheck import check_schema, load_schema

min_version("9.0")


configfile: "config.yaml"


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


# Rules call the package CLIs with the interpreter that runs Snakemake, so an unactivated
# virtual environment works too; with --use-conda (--software-deployment-method conda) they
# call the `python` of each rule's conda environment (envs/*.yaml) instead.
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
PY = "python" if USE_CONDA else sys.executable
RESULTS = config["results"]
DEMO = config["demo"]
try:  # the stats section is checked key by key before any job runs
    STATS = load_stats_config({"stats": config.get("stats") or {}})
except InputError as err:
    raise ValueError(f"config: {err}") from None

if config["percent_time_source"] == "truth" and not DEMO["enabled"]:
    raise ValueError(
        "config: percent_time_source 'truth' needs demo.enabled: true (only the synthetic "
        "cohort has a true percent time)"
    )


FROM_MODEL = config["percent_time_source"] == "model"
# A participant whose video or pose cannot be read: exclude them (an exclusion record, listed
# in the report) or fail their job. `auto` follows stats.exclude_incomplete.
ON_ERROR = config["on_participant_error"]
if ON_ERROR == "auto":
    ON_ERROR = "exclude" if STATS.exclude_incomplete else "fail"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/inference.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        rules.stats.output,
        rules.plots.output,
        rules.report.output,
        expand(rules.timeline.output, pid=PIDS) if FROM_MODEL else [],
