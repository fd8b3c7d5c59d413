# Supervised fine-tuning of the base model on each subset (DeepSpeed ZeRO-3).


rule sft_data:
    input:
        unpack(sft_data_inputs),
    output:
        sft="results/sft/{subset}.parquet",
        report="results/sft/{subset}.json",
    params:
        tokenizer=training_base_model(),
        block_size=config["training"]["block_size"],
    log:
        "logs/sft/{subset}.log",
    wildcard_constraints:
        subset=_alternatives(SUBSET_NAMES),
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/sft_data.py"


# the length-controlled models' data (Table 3): conditional.subset's traces with countdown markers
rule sft_control_data:
    input:
        unpack(sft_control_inputs),
    output:
        sft="results/sft/{control_model}.parquet",
        report="results/sft/{control_model}.json",
    params:
        tokenizer=training_base_model(),
        block_size=config["training"]["block_size"],
        control=lambda wildcards: CONTROL_MODELS[wildcards.control_model],
        chunk_tokens=config["conditional"]["chunk_tokens"],
        size=config["conditional"]["size"],
        seed=config["seed"],
    log:
        "logs/sft/{control_model}.log",
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/sft_control_data.py"


rule train:
    input:
        unpack(train_inputs),
    output:
        config=model_output("results/models/sft/{subset}/config.json"),
        weights=model_output("results/models/sft/{subset}/model.safetensors"),
    params:
        base_model=training_base_model(),
        training=training_params(),
        seed=train_seed,
        checkpoints=train_checkpoint_dir,
    log:
        main="logs/train/{subset}.log",
        workers="logs/train/{subset}.workers.log",
    benchmark:
        "results/benchmarks/train_{subset}.tsv"
    threads: train_threads()
    resources:
        **train_resources(),
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/train.py"
