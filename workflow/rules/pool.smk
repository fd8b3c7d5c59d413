rule normalise_source:
    input:
        unpack(source_input),
    output:
        "results/sources/{source}.parquet",
    params:
        spec=source_spec,
        seed=config["seed"],
    log:
        "logs/sources/{source}.log",
    conda:
        "../../envs/curate.yaml"
    script:
        "../scripts/normalise_source.py"


rule eval_set:
    input:
        unpack(evalset_input),
    output:
        "results/evalsets/{evalset}.parquet",
    params:
        spec=evalset_spec,
    log:
        "logs/evalsets/{evalset}.log",
    conda:
        "../../envs/curate.yaml"
    script:
        "../scripts/eval_set.py"


rule build_pool:
    input:
        sources=pool_source_files,
        eval_sets=pool_evalset_files,
    output:
        pool="results/pool/pool.parquet",
        report=report(
            "results/pool/decontamination.json",
            category="Data curation",
            caption="../report/decontamination.rst",
        ),
    params:
        source_names=list(SOURCES),
        eval_names=POOL_EVAL_SETS,
        source_specs=[SOURCES[name] for name in SOURCES],
        decontamination=config["decontamination"],
    log:
        "logs/pool/build_pool.log",
    benchmark:
        "results/benchmarks/build_pool.tsv"
    resources:
        mem_mb=4000,
    conda:
        "../../envs/curate.yaml"
    script:
        "../scripts/build_pool.py"
