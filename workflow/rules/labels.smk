# Labels computed by models: tiny models, difficulty answers, teacher traces and grades, domains;
# s1's MSC rubric downloaded when features.msc_rubric_url is set and the file is not there yet
# (DOWNLOAD_MSC_RUBRIC); a file already at features.msc_rubric is never replaced.


rule build_model:
    input:
        unpack(build_model_inputs),
    output:
        config="results/models/{model}/config.json",
        weights="results/models/{model}/model.safetensors",
    params:
        spec=tiny_model_spec,
        tokenizer_dir=tiny_model_tokenizer_dir(),
        seed=config["seed"],
        work=tiny_model_work_dir,
    log:
        main="logs/models/{model}.log",
        workers="logs/models/{model}.workers.log",
    benchmark:
        "results/benchmarks/build_model_{model}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/build_model.py"


rule difficulty_labels:
    input:
        unpack(difficulty_inputs),
    output:
        labels="results/labels/correct_{alias}.parquet",
        report=report(
            "results/labels/correct_{alias}.json",
            category="Data curation",
            subcategory="Labels",
            caption="../report/labels.rst",
        ),
    params:
        spec=difficulty_spec,
        grader=config["difficulty"]["grader"],
        judge=config.get("judge"),
        seed=config["seed"],
        cache="results/cache/difficulty",
    log:
        "logs/labels/correct_{alias}.log",
    benchmark:
        "results/benchmarks/difficulty_{alias}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        gpu=difficulty_gpus,
    conda:
        GENERATE_ENV
    script:
        "../scripts/difficulty_labels.py"


rule teacher_dataset:
    output:
        labels="results/labels/teacher_dataset.parquet",
    params:
        spec=config["features"].get("teacher_dataset"),
    log:
        "logs/labels/teacher_dataset.log",
    conda:
        "../../envs/curate.yaml"
    script:
        "../scripts/teacher_dataset.py"


rule teacher_traces:
    input:
        pool="results/pool/pool.parquet",
        labels=teacher_label_files,
    output:
        labels="results/labels/teacher_api.parquet",
    params:
        teacher=config["features"].get("teacher_api"),
        cache="results/cache/teacher",
    log:
        "logs/labels/teacher_api.log",
    benchmark:
        "results/benchmarks/teacher_traces.tsv"
    conda:
        GENERATE_ENV
    script:
        "../scripts/teacher_traces.py"


rule teacher_grades:
    input:
        pool="results/pool/pool.parquet",
        labels=graded_attempt_files,
    output:
        labels="results/labels/teacher_grades.parquet",
        report=report(
            "results/labels/teacher_grades.json",
            category="Data curation",
            subcategory="Labels",
            caption="../report/labels.rst",
        ),
    params:
        grader=config["features"]["teacher_grading"],
        judge=config.get("judge"),
        cache="results/cache/judge",
    log:
        "logs/labels/teacher_grades.log",
    benchmark:
        "results/benchmarks/teacher_grades.tsv"
    conda:
        GENERATE_ENV
    script:
        "../scripts/teacher_grades.py"


rule domain_labels:
    input:
        pool="results/pool/pool.parquet",
        rubric=config["features"].get("msc_rubric") or [],
    output:
        labels="results/labels/domain.parquet",
        report=report(
            "results/labels/domain.json",
            category="Data curation",
            subcategory="Labels",
            caption="../report/labels.rst",
        ),
    params:
        judge=config.get("judge"),
        cache="results/cache/judge",
    log:
        "logs/labels/domain.log",
    benchmark:
        "results/benchmarks/domain_labels.tsv"
    conda:
        GENERATE_ENV
    script:
        "../scripts/domain_labels.py"


if DOWNLOAD_MSC_RUBRIC:

    rule download_msc_rubric:
        output:
            rubric=config["features"]["msc_rubric"],
        params:
            url=config["features"]["msc_rubric_url"],
        log:
            "logs/labels/download_msc_rubric.log",
        localrule: True
        conda:
            "../../envs/curate.yaml"
        script:
            "../scripts/download_rubric.py"
