rule synthesize:
    output:
        questions="results/synthetic/questions.parquet",
        teacher="results/synthetic/teacher.parquet",
        eval_sets=expand("results/synthetic/eval/{name}.parquet", name=SYNTHETIC_EVAL_SETS),
    params:
        seed=config["seed"],
        synthetic=config["synthetic"],
    log:
        "logs/synthetic/synthesize.log",
    conda:
        "../../envs/curate.yaml"
    script:
        "../scripts/synthesize.py"
