rule select_subset:
    input:
        features="results/features/features.parquet",
    output:
        subset="results/subsets/{subset}.parquet",
        details="results/subsets/{subset}.details.json",
    params:
        selection=config["selection"],
        seed=config["seed"],
    log:
        "logs/subsets/{subset}.log",
    conda:
        "../../envs/curate.yaml"
    script:
        "../scripts/select_subset.py"


rule funnel:
    input:
        features="results/features/features.parquet",
        subsets=subset_files,
        details=subset_detail_files,
    output:
        funnel=report(
            "results/subsets/funnel.json",
            category="Data curation",
            caption="../report/funnel.rst",
        ),
    params:
        subset_names=SUBSETS,
        selection=config["selection"],
        seed=config["seed"],
    log:
        "logs/subsets/funnel.log",
    conda:
        "../../envs/curate.yaml"
    script:
        "../scripts/funnel.py"
