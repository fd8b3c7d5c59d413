# Budget-forcing sweeps of every evaluated model (trained subsets, base, evaluation.models) on
# the eval sets; each model runs its own settings (see model_evaluation in common.smk).


rule sweep:
    input:
        unpack(sweep_inputs),
    output:
        samples="results/eval/{evalmodel}/{evalset}/samples.parquet",
    params:
        model=eval_model,
        benchmark=sweep_benchmark,
        evaluation=model_evaluation,
        generation=config["generation"],
        judge=config.get("judge"),
        seed=config["seed"],
        cache=sweep_cache,
    log:
        "logs/eval/{evalmodel}/{evalset}.log",
    benchmark:
        "results/benchmarks/sweep_{evalmodel}_{evalset}.tsv"
    threads: sweep_threads()
    resources:
        mem_mb=8000,
        gpu=sweep_gpus(),
    conda:
        GENERATE_ENV
    script:
        "../scripts/sweep.py"
