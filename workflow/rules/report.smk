# The paper's tables and figures from the sweeps' samples: the data-ablation table (Table 2),
# the test-time scaling method comparison (Table 3), the scaling figure (Figures 1 and 4) and the
# coverage and majority vote of sampled runs (cov@n, maj@n, as s1's tasks report them, with pass@k
# and avg@N), and the compute accounting (generated tokens per setting; sequential against parallel
# scaling at matched tokens). Each reads only the samples tables it reports on.


rule ablation:
    input:
        samples=ablation_samples,
    output:
        md=report(
            "results/report/ablation.md",
            category="Results",
            subcategory="Data ablation (Table 2)",
            caption="../report/ablation.rst",
        ),
        csv=report(
            "results/report/ablation.csv",
            category="Results",
            subcategory="Data ablation (Table 2)",
            caption="../report/ablation.rst",
        ),
        tex=report(
            "results/report/ablation.tex",
            category="Results",
            subcategory="Data ablation (Table 2)",
            caption="../report/ablation.rst",
        ),
    params:
        tables=ablation_tables(),
        evaluation={k: config["evaluation"][k] for k in ("ablation", "min_thinking", "ignore_str")},
        open_models=[m for m in ABLATION_MODELS if m in OPEN_MODELS],
        reference=config["report"]["reference"],
        n_resamples=config["report"]["bootstrap_resamples"],
        seed=config["seed"],
    log:
        "logs/report/ablation.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_ablation.py"


rule methods:
    input:
        samples=method_samples,
    output:
        md=report(
            "results/report/methods.md",
            category="Results",
            subcategory="Test-time scaling methods (Table 3)",
            caption="../report/methods.rst",
        ),
        csv=report(
            "results/report/methods.csv",
            category="Results",
            subcategory="Test-time scaling methods (Table 3)",
            caption="../report/methods.rst",
        ),
    params:
        tables=method_tables(),
        n_resamples=config["report"]["bootstrap_resamples"],
        seed=config["seed"],
    log:
        "logs/report/methods.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_methods.py"


rule scaling_figure:
    input:
        samples=method_samples,
    output:
        png=report(
            "results/report/scaling.png",
            category="Results",
            subcategory="Test-time scaling (Figures 1 and 4)",
            caption="../report/scaling.rst",
        ),
        pdf=report(
            "results/report/scaling.pdf",
            category="Results",
            subcategory="Test-time scaling (Figures 1 and 4)",
            caption="../report/scaling.rst",
        ),
    params:
        tables=method_tables(),
        n_resamples=config["report"]["bootstrap_resamples"],
        seed=config["seed"],
    log:
        "logs/report/scaling.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_scaling.py"


rule sampling:
    input:
        samples=sampling_samples,
    output:
        md=report(
            "results/report/sampling.md",
            category="Results",
            subcategory="Sampled runs (cov@n, maj@n, pass@k, avg@N)",
            caption="../report/sampling.rst",
        ),
        csv=report(
            "results/report/sampling.csv",
            category="Results",
            subcategory="Sampled runs (cov@n, maj@n, pass@k, avg@N)",
            caption="../report/sampling.rst",
        ),
    params:
        tables=sampling_tables(),
        n_resamples=config["report"]["bootstrap_resamples"],
        seed=config["seed"],
    log:
        "logs/report/sampling.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_sampling.py"


rule claims:
    input:
        samples=claims_samples,
    output:
        md=report(
            "results/report/claims.md",
            category="Results",
            subcategory="Claims and their intervals",
            caption="../report/claims.rst",
        ),
        csv=report(
            "results/report/claims.csv",
            category="Results",
            subcategory="Claims and their intervals",
            caption="../report/claims.rst",
        ),
    params:
        tables=claims_tables(),
        evaluation={
            k: config["evaluation"][k]
            for k in ("ablation", "caps", "waits", "min_thinking", "ignore_str")
        },
        reference=config["report"]["reference"],
        evalsets=SWEPT_EVAL_SETS,
        scaling_models=SCALING_MODELS,
        ablation_models=ABLATION_MODELS,
        open_models=OPEN_MODELS,
        n_resamples=config["report"]["bootstrap_resamples"],
        seed=config["seed"],
    log:
        "logs/report/claims.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_claims.py"


rule compute:
    input:
        samples=compute_samples,
    output:
        md=report(
            "results/report/compute.md",
            category="Results",
            subcategory="Compute (generated tokens)",
            caption="../report/compute.rst",
        ),
        csv=report(
            "results/report/compute.csv",
            category="Results",
            subcategory="Compute (generated tokens)",
            caption="../report/compute.rst",
        ),
        matched=report(
            "results/report/matched.csv",
            category="Results",
            subcategory="Compute (generated tokens)",
            caption="../report/compute.rst",
        ),
    params:
        tables=compute_tables(),
    log:
        "logs/report/compute.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_compute.py"
