"""Finding each candidate's evaluation in ML Metadata and loading it.

For a candidate, the latest finished `Evaluator.<name>` execution (or the one of a given run)
gives the ModelEvaluation and the Examples and Model it evaluated; the `FairnessGate.<name>`
execution that read that evaluation gives the gate report (its verdict record, with the policy
it judged by); the Selector that read that gate report gives the decision the candidate was part of.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass

from contract import MODEL_CARD_HTML
from pipeline import config, nodes
from pipeline.mlmd import Reader
from report.results import RunResult
from report.values import slice_rows


@dataclass
class EvaluationRef:
    """Where one Evaluator execution's inputs and outputs are, and its gate report."""

    pipeline: str
    candidate: str
    execution_id: int
    evaluation_uri: str
    examples_uri: str = ""
    eval_split: str = "eval"
    model_uri: str = ""
    gate_report_dir: str = ""
    finished_ms: int = 0
    # The version folder of the newest push of the evaluated model, when it holds a model card.
    model_card_dir: str = ""
    # The folder of selection.json of the Selector that read the gate report (of the run asked
    # for, else the newest); empty when no Selector read it.
    selection_dir: str = ""
    # The run of this evaluation (a cached Evaluator belongs to the run that reused it).
    run_id: str = ""


def _checked(connection):
    # ML Metadata would create an empty database at a wrong path and report "nothing found".
    if isinstance(connection, str | os.PathLike) and not os.path.exists(connection):
        raise FileNotFoundError(f"no ML Metadata database at {os.fspath(connection)}")
    return connection


def latest_evaluation(
    connection, candidate: str, run_id: str | None = None, pipeline_name: str = config.PIPELINE_NAME
) -> EvaluationRef | None:
    """The newest finished (run or cached) Evaluator execution of a candidate, or of one run
    when `run_id` is given, with its examples, model and the FairnessGate report written from
    its evaluation."""
    with Reader(_checked(connection)) as reader:
        executions = reader.node_executions(
            pipeline_name, nodes.node_id(nodes.EVALUATOR, candidate), run_id
        )
        if not executions:
            return None
        execution = executions[-1]
        evaluations = reader.execution_artifacts(execution.id).get("evaluation", [])
        if not evaluations:
            return None
        inputs = reader.execution_artifacts(execution.id, inputs=True)
        ref = EvaluationRef(
            pipeline=pipeline_name,
            candidate=candidate,
            execution_id=execution.id,
            evaluation_uri=evaluations[0].uri,
            finished_ms=execution.last_update_time_since_epoch,
            run_id=reader.run_of(execution.id),
        )
        if inputs.get("examples"):
            examples = inputs["examples"][0]
            ref.examples_uri = examples.uri
            splits = examples.properties.get("split_names")
            names = json.loads(splits.string_value) if splits is not None else []
            ref.eval_split = "eval" if "eval" in names or not names else names[-1]
        if inputs.get("model"):
            ref.model_uri = inputs["model"][0].uri
        _attach_gate_report(reader, ref, evaluations[0].id, run_id)
    return ref


def _attach_gate_report(
    reader: Reader, ref: EvaluationRef, evaluation_id: int, run_id: str | None = None
) -> None:
    readers = reader.readers_of(evaluation_id)
    gate_node = nodes.node_id(nodes.GATE, ref.candidate)
    gates = [e for e in reader.node_executions(ref.pipeline, gate_node) if e.id in readers]
    if not gates:
        return
    reports = reader.execution_artifacts(gates[-1].id).get("report", [])
    if reports:
        ref.gate_report_dir = reports[0].uri
        _attach_selection(reader, ref, reports[0].id, run_id)
        _attach_model_card(reader, ref, reports[0].id)


def _attach_selection(reader: Reader, ref: EvaluationRef, report_id: int, run_id) -> None:
    """The decision of the Selector that read this gate report: of the run `run_id`, else the
    newest (a later run whose gate was a cache hit reads the same report)."""
    readers = reader.readers_of(report_id)
    selectors = [
        e for e in reader.node_executions(ref.pipeline, nodes.SELECTOR, run_id) if e.id in readers
    ]
    for execution in reversed(selectors):
        selections = reader.execution_artifacts(execution.id).get("selection", [])
        if selections:
            ref.selection_dir = selections[0].uri
            return


def _attach_model_card(reader: Reader, ref: EvaluationRef, report_id: int) -> None:
    """The newest push of this candidate's model that has a model card: the Selector that read
    its gate report chose it (its Model output names the candidate), a Pusher pushed that."""
    for selection in sorted(reader.readers_of(report_id), reverse=True):
        for model in reader.execution_artifacts(selection).get("model", []):
            chosen = model.custom_properties.get("candidate")
            if chosen is None or chosen.string_value != ref.candidate:
                continue
            for push in sorted(reader.readers_of(model.id), reverse=True):
                for pushed in reader.execution_artifacts(push).get("pushed_model", []):
                    destination = pushed.custom_properties.get("pushed_destination")
                    folder = destination.string_value if destination is not None else ""
                    if folder and os.path.exists(os.path.join(folder, MODEL_CARD_HTML)):
                        ref.model_card_dir = folder
                        return


def newest_run(connection) -> str | None:
    """The pipeline's newest run, the one a report covers by default."""
    with Reader(_checked(connection)) as reader:
        return reader.latest_run_id(config.PIPELINE_NAME)


def find_evaluations(connection, candidates=None, run_id=None) -> dict[str, EvaluationRef]:
    """Each candidate's evaluation, of the run `run_id`, or else (mixing runs) the latest of
    each; by default every candidate that run (or any run) evaluated. Candidates never
    evaluated are left out."""
    with Reader(_checked(connection)) as reader:
        names = list(candidates or reader.candidates(config.PIPELINE_NAME, run_id))
    refs = {}
    for name in names:
        ref = latest_evaluation(connection, name, run_id)
        if ref is not None:
            refs[name] = ref
    return refs


def load_run(name: str, ref: EvaluationRef) -> RunResult:
    import tensorflow_model_analysis as tfma

    from components.gate import read_report
    from components.selector import DECISION_FILE, read_decision

    result = tfma.load_eval_result(ref.evaluation_uri)
    gate = None
    if ref.gate_report_dir and os.path.exists(ref.gate_report_dir):
        gate = read_report(ref.gate_report_dir)
    selection = None
    if ref.selection_dir and os.path.exists(os.path.join(ref.selection_dir, DECISION_FILE)):
        selection = read_decision(ref.selection_dir)
    return RunResult(
        name=name,
        slices=slice_rows(result.slicing_metrics),
        confidence_intervals=computed_intervals(result.config),
        gate=gate,
        pipeline=ref.pipeline,
        evaluation_uri=ref.evaluation_uri,
        model_uri=ref.model_uri,
        examples_uri=ref.examples_uri,
        gate_report_dir=ref.gate_report_dir,
        model_card_dir=ref.model_card_dir,
        evaluated_at=_timestamp(ref.finished_ms),
        selection=selection,
        selection_dir=ref.selection_dir if selection is not None else "",
        run_id=ref.run_id,
    )


def computed_intervals(eval_config) -> bool:
    """Whether the Evaluator computed TFMA's confidence intervals (--confidence-intervals)."""
    options = eval_config.options
    return bool(
        options.HasField("compute_confidence_intervals")
        and options.compute_confidence_intervals.value
    )


def _timestamp(ms: int) -> str:
    if not ms:
        return ""
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
