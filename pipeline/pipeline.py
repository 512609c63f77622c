"""The toxicity pipeline: one pure function that builds it from explicit arguments."""

from __future__ import annotations

import json

from tfx import v1 as tfx
from tfx.proto import example_gen_pb2

from components.challenge import METRICS_VERSION, ChallengeEvaluator
from components.data_check import DataCheck
from components.gate import ChampionBlessing, FairnessGate
from components.policy import GatePolicy
from components.pusher import AtomicPusher
from components.selector import make_selector
from contract import CHALLENGE_PATTERN, CHALLENGE_SPLIT, load_text_ops
from pipeline import config, nodes
from pipeline.candidates import Candidate
from pipeline.eval_config import build_eval_config

# The component ids shared by every candidate, in execution order; each candidate adds its own
# (`nodes.candidate_ids`), and each base model trained only for the do-no-harm comparison its
# Trainer and both Evaluators.
SHARED_IDS = ("ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "DataCheck",
              "Transform", "ChallengeExampleGen", "ChampionResolver")  # fmt: skip
FINAL_IDS = (nodes.SELECTOR, nodes.PUSHER)


def component_ids(candidates) -> tuple[str, ...]:
    """Every component id of a pipeline with these candidates (names or `Candidate`s)."""
    listed = [c if isinstance(c, Candidate) else Candidate(c) for c in candidates]
    ids = []
    for candidate in _training_order(listed):
        own = nodes.candidate_ids(candidate.name)
        ids += own if candidate in listed else own[:3]
    return (*SHARED_IDS, *ids, *FINAL_IDS)


SPLITS = ("train", "validation", "eval")


def input_splits(split_folders) -> tuple[str, ...]:
    """The split folders the data has: () for none (hash split), ("train", "eval") (validation
    is then carved from train), or all three. `True` means ("train", "eval")."""
    if split_folders is True:
        return ("train", "eval")
    if not split_folders:
        return ()
    folders = tuple(split_folders)
    if folders not in (("train", "eval"), SPLITS):
        raise ValueError(f"split folders must be train/ and eval/ (and validation/), got {folders}")
    return folders


def example_gen_input_config(split_folders, hash_buckets=(8, 1, 1)):
    """Read the split folders when present, else hash-split one folder into all three."""
    folders = input_splits(split_folders)
    if folders:
        splits = [example_gen_pb2.Input.Split(name=s, pattern=f"{s}/*") for s in folders]
        return example_gen_pb2.Input(splits=splits), None
    output = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
                for name, buckets in zip(SPLITS, hash_buckets, strict=True)
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
    split_folders,
    schema_path: str,
    serving_model_dir: str,
    settings: config.Settings,
    metadata_connection_config=None,
    beam_pipeline_args: list[str] | None = None,
    enable_cache: bool = True,
    compute_confidence_intervals: bool = False,
    vertex_training: dict | None = None,
    vertex_push: dict | None = None,
    challenge_root: str | None = None,
    challenge_manifest: dict | None = None,
) -> tfx.dsl.Pipeline:
    """The whole pipeline. `split_folders`: see `input_splits`. `vertex_training`: Vertex AI
    Training settings (the `ai_platform_*` custom_config keys of TFX's Vertex Trainer); None
    trains in place. `vertex_push`: the custom_config of TFX's Vertex AI Pusher, which then
    deploys the selected model to a Vertex endpoint instead of our serving folder.
    `challenge_root`: the identity challenge suite's folder (ingest/challenge_suite.py), read by
    an ExampleGen of its own; every candidate is judged on it at its served decision."""
    if settings.transform_uses_encoder():
        # The in-process nodes load models whose graph tokenizes with these ops.
        load_text_ops()
    data_nodes = _data_nodes(data_root, split_folders, schema_path, settings)
    example_gen, _, schema_gen, _, _, transform = data_nodes

    # The champion: the model this pipeline pushed last, whatever its candidate. Only the
    # Pusher writes ChampionBlessings, so a candidate's own blessing never makes it champion.
    champion = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=ChampionBlessing),
    ).with_id("ChampionResolver")

    suite = _challenge_example_gen(challenge_root) if challenge_root else None
    eval_config = build_eval_config(settings.gate, compute_confidence_intervals)
    trained, judged = _candidates(
        settings, eval_config, split_folders, vertex_training,
        (example_gen, schema_gen, transform, champion),
        (suite, json.dumps({**(challenge_manifest or {}), "metrics_version": METRICS_VERSION},
                           sort_keys=True)),
    )  # fmt: skip
    names = [c.name for c in settings.candidates]
    gates = {name: judged_nodes[-1] for name, judged_nodes in judged.items()}
    selector = make_selector(
        names,
        reports={n: gates[n].outputs["report"] for n in names},
        blessings={n: gates[n].outputs["blessing"] for n in names},
        rule=settings.selection.to_json(),
    ).with_id(nodes.SELECTOR)

    pusher = _pusher(selector, serving_model_dir, vertex_push, data_root)

    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=[
            *data_nodes,
            *([suite] if suite else []),
            champion,
            *trained,
            *(node for judged_nodes in judged.values() for node in judged_nodes),
            selector,
            pusher,
        ],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [],
    )


def _data_nodes(data_root: str, split_folders, schema_path: str, settings: config.Settings):
    """ExampleGen, StatisticsGen, SchemaGen, ExampleValidator, DataCheck and Transform: the
    steps every candidate shares; bad data stops the run at DataCheck, before Transform."""
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
        custom_config=settings.transform_config(),
    ).with_id("Transform")
    transform.add_upstream_node(data_check)
    return example_gen, statistics_gen, schema_gen, example_validator, data_check, transform


def challenge_example_gen_configs() -> dict:
    """The suite's one split, "challenge". The output_config is not optional: given one input
    split and none, ExampleGen hash-splits it 2:1 into train and eval; one bucket keeps every
    row in "challenge"."""
    return {
        "input_config": example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name=CHALLENGE_SPLIT, pattern=CHALLENGE_PATTERN)]
        ),
        "output_config": example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(
                splits=[example_gen_pb2.SplitConfig.Split(name=CHALLENGE_SPLIT, hash_buckets=1)]
            )
        ),
    }


def _challenge_example_gen(challenge_root: str):
    """The challenge suite's own ExampleGen: versioned and visible in ML Metadata like the
    data, never read by Transform or a Trainer."""
    return tfx.components.ImportExampleGen(
        input_base=challenge_root, **challenge_example_gen_configs()
    ).with_id("ChallengeExampleGen")


def _candidates(settings, eval_config, split_folders, vertex_training, upstream, challenge):
    """Per candidate a Trainer, an Evaluator against the champion, a ChallengeEvaluator and a
    FairnessGate; and for each base model that is not a candidate (trained for a post-processed
    candidate's weights or for the do-no-harm comparison) its Trainer and Evaluators."""
    example_gen, schema_gen, transform, champion = upstream
    suite, manifest = challenge
    folders = input_splits(split_folders)
    # Without a validation split, the Trainer holds out a hash tenth of train (Transform's
    # holdout bucket) for early stopping and the operating point; eval stays the gate's.
    has_validation = not folders or "validation" in folders
    trainer_args = dict(
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["validation" if has_validation else "train"]),
    )
    trainers, trained_only, judged, evaluations = {}, [], {}, {}
    for candidate in _training_order(settings.candidates):
        trainer_id, evaluator_id, challenge_id, gate_id = nodes.candidate_ids(candidate.name)
        custom_config = {
            **settings.training.custom_config(),
            "validation_from_train": not has_validation,
            "postprocess": candidate.postprocess,
            # A post-processed candidate fits thresholds on its base trainer's weights.
            "reuse_base_weights": candidate.postprocess != "none",
            "use_sentence_encoding": candidate.uses_encoder,
            **(vertex_training or {}),
        }
        base = trainers[candidate.model] if candidate.postprocess != "none" else None
        trainer = _trainer(vertex_training)(
            run_fn=candidate.run_fn,
            custom_config=custom_config,
            base_model=base.outputs["model"] if base is not None else None,
            **trainer_args,
        ).with_id(trainer_id)
        trainers[candidate.name] = trainer
        evaluator = tfx.components.Evaluator(
            examples=example_gen.outputs["examples"],
            model=trainer.outputs["model"],
            baseline_model=champion.outputs["model"],
            eval_config=eval_config,
            example_splits=["eval"],
            module_path=config.EVALUATOR_UDF if settings.transform_uses_encoder() else None,
        ).with_id(evaluator_id)
        on_suite = None
        if suite is not None:
            on_suite = ChallengeEvaluator(
                examples=suite.outputs["examples"],
                model=trainer.outputs["model"],
                suite_note=manifest,
            ).with_id(challenge_id)
        evaluations[candidate.name] = (evaluator, on_suite)
        own = (trainer, evaluator, *([on_suite] if on_suite else []))
        if candidate not in settings.candidates:
            trained_only += own
            continue
        gate = _gate(
            candidate, evaluations, trainer, settings.gate, champion.outputs["model_blessing"]
        ).with_id(gate_id)
        judged[candidate.name] = (*own, gate)
    return trained_only, judged


def _gate(candidate, evaluations, trainer, policy: GatePolicy, champion_blessing):
    """The FairnessGate of a candidate: TFMA's verdict on eval, the suite's checks, and the
    do-no-harm comparison with its base model's evaluations."""
    evaluator, on_suite = evaluations[candidate.name]
    base_evaluator, base_suite = evaluations.get(candidate.base, (None, None))
    optional = {
        "challenge": on_suite.outputs["result"] if on_suite else None,
        "base_evaluation": base_evaluator.outputs["evaluation"] if base_evaluator else None,
        "base_challenge": base_suite.outputs["result"] if base_suite else None,
    }
    return FairnessGate(
        evaluation=evaluator.outputs["evaluation"],
        model=trainer.outputs["model"],
        policy=json.dumps(policy.to_json(), sort_keys=True),
        base_model=candidate.base or "",
        champion=champion_blessing,
        **{k: v for k, v in optional.items() if v is not None},
    )


def _training_order(candidates) -> list[Candidate]:
    """The candidates, each after its base model (added, trained and evaluated but not judged,
    when it is not a candidate itself)."""
    order: list[Candidate] = []

    def add(candidate):
        if candidate.base and all(o.name != candidate.base for o in order):
            add(Candidate(candidate.base))
        if candidate not in order:
            order.append(candidate)

    for c in sorted(candidates, key=lambda c: c.postprocess != "none"):
        add(c)
    return order


def _pusher(selector, serving_model_dir: str, vertex_push: dict | None, data_root: str = ""):
    """Behind the same blessing (the Selector's, for its copy of the winner): our atomic
    pusher into versioned folders, or TFX's Vertex AI Pusher to an endpoint."""
    if vertex_push is not None:
        return tfx.extensions.google_cloud_ai_platform.Pusher(
            model=selector.outputs["model"],
            model_blessing=selector.outputs["blessing"],
            custom_config=vertex_push,
        ).with_id(nodes.PUSHER)
    # Atomic rename into a new version folder, never an overwrite.
    return AtomicPusher(
        model=selector.outputs["model"],
        model_blessing=selector.outputs["blessing"],
        serving_dir=serving_model_dir,
        gate_report=selector.outputs["report"],
        data_location=data_root,
    ).with_id(nodes.PUSHER)


def _trainer(vertex_training: dict | None):
    if vertex_training is None:
        return tfx.components.Trainer
    return tfx.extensions.google_cloud_ai_platform.Trainer
