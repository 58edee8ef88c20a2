# Micro-DualNet clinical pipeline: videos -> pose -> windowed inference -> percent time -> hurdle
# statistics. Run `snakemake --cores N` from the repository root; config.yaml runs the demo.
import sys

from snakemake.utils import min_version, validate

from analysis.config import load_stats_config
from pipeio import InputError

min_version("9.0")


configfile: "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")

# Rules call the package CLIs with the interpreter that runs Snakemake, so an unactivated
# virtual environment works too.
PY = sys.executable
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


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/inference.smk"
include: "workflow/rules/stats.smk"


rule all:
    input:
        rules.stats.output,
        rules.plots.output,
        expand(rules.timeline.output, pid=PIDS) if FROM_MODEL else [],
