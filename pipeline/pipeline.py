"""The toxicity pipeline: one pure function that builds it from explicit arguments."""

from __future__ import annotations

from tfx import v1 as tfx
from tfx.proto import example_gen_pb2

from components.data_check import DataCheck
from components.gate import FairnessGate
from components.pusher import AtomicPusher
from pipeline import config
from pipeline.eval_config import build_eval_config

# The pipeline's component ids, in execution order (the benchmarks and tests use them).
COMPONENT_IDS = (
    "ExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "DataCheck",
    "Transform",
    "Trainer",
    "LatestBlessedModelResolver",
    "Evaluator",
    "FairnessGate",
    "Pusher",
)


def example_gen_input_config(split_folders: bool, hash_buckets=(4, 1)):
    """Read `train/` and `eval/` folders when present, else hash-split one folder."""
    if split_folders:
        return (
            example_gen_pb2.Input(
                splits=[
                    example_gen_pb2.Input.Split(name="train", pattern="train/*"),
                    example_gen_pb2.Input.Split(name="eval", pattern="eval/*"),
                ]
            ),
            None,
        )
    output = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=hash_buckets[0]),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=hash_buckets[1]),
            ]
        )
    )
    return example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="all", pattern="*")]
    ), output


def create_pipeline(
    *,
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    split_folders: bool,
    schema_path: str,
    serving_model_dir: str,
    settings: config.Settings,
    metadata_connection_config=None,
    beam_pipeline_args: list[str] | None = None,
    enable_cache: bool = True,
    compute_confidence_intervals: bool = False,
    vertex_training: dict | None = None,
) -> tfx.dsl.Pipeline:
    """The whole pipeline. `vertex_training`: Vertex AI Training settings (the
    `ai_platform_*` custom_config keys of TFX's Vertex Trainer); None trains in place."""
    input_config, output_config = example_gen_input_config(split_folders, settings.hash_buckets)
    example_gen = tfx.components.ImportExampleGen(
        input_base=data_root, input_config=input_config, output_config=output_config
    ).with_id("ExampleGen")
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"]).with_id(
        "StatisticsGen"
    )
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_path).with_id("SchemaGen")
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    ).with_id("ExampleValidator")
    data_check = DataCheck(
        anomalies=example_validator.outputs["anomalies"], data_location=data_root
    ).with_id("DataCheck")

    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=config.PREPROCESSING_FN,
        custom_config=settings.transform.custom_config(),
    ).with_id("Transform")
    transform.add_upstream_node(data_check)

    trainer_class = tfx.components.Trainer
    trainer_config = settings.training.custom_config()
    if vertex_training is not None:
        trainer_class = tfx.extensions.google_cloud_ai_platform.Trainer
        trainer_config = {**trainer_config, **vertex_training}
    trainer = trainer_class(
        run_fn=config.RUN_FN[settings.trainer],
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(),
        eval_args=tfx.proto.EvalArgs(),
        custom_config=trainer_config,
    ).with_id("Trainer")

    model_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("LatestBlessedModelResolver")

    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        eval_config=build_eval_config(settings.gate, compute_confidence_intervals),
    ).with_id("Evaluator")

    gate = FairnessGate(
        evaluation=evaluator.outputs["evaluation"],
        model=trainer.outputs["model"],
        min_slice_size=settings.gate.min_slice_size,
    ).with_id("FairnessGate")

    # Our own pusher: atomic rename into a new version folder, never an overwrite.
    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=gate.outputs["blessing"],
        serving_dir=serving_model_dir,
    ).with_id("Pusher")

    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=[
            example_gen,
            statistics_gen,
            schema_gen,
            example_validator,
            data_check,
            transform,
            trainer,
            model_resolver,
            evaluator,
            gate,
            pusher,
        ],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [],
    )
