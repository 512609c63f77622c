"""DataCheck: stops the run before Transform when ExampleValidator found anomalies.

ExampleValidator only records anomalies; this step turns them into a failure whose message
names each split, feature and problem, so bad data never reaches training.
"""

import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

ANOMALIES_FILE = "SchemaDiff.pb"


class DataAnomaliesError(RuntimeError):
    """Raised when the input data does not match the curated schema."""


def describe_anomalies(anomalies: anomalies_pb2.Anomalies) -> list[str]:
    """One line per anomalous feature: its name and what is wrong."""
    lines = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        reasons = "; ".join(r.description or r.short_description for r in info.reason)
        lines.append(f"feature '{feature}': {reasons or info.description}")
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        reasons = "; ".join(r.description or r.short_description for r in info.reason)
        lines.append(f"dataset: {reasons or info.description}")
    return lines


def read_split_anomalies(uri: str, split_names: list[str]) -> dict[str, anomalies_pb2.Anomalies]:
    out = {}
    for split in split_names:
        path = os.path.join(uri, f"Split-{split}", ANOMALIES_FILE)
        with fileio.open(path, "rb") as f:
            out[split] = anomalies_pb2.Anomalies.FromString(f.read())
    return out


def check_anomalies(by_split: dict[str, anomalies_pb2.Anomalies], data_hint: str = "") -> None:
    problems = [
        f"  [{split} split] {line}"
        for split, anomalies in sorted(by_split.items())
        for line in describe_anomalies(anomalies)
    ]
    if problems:
        where = f" in {data_hint}" if data_hint else ""
        raise DataAnomaliesError(
            f"The input data{where} does not match the schema; the run stops before "
            "training:\n" + "\n".join(problems)
        )


@component
def DataCheck(
    anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies],
    data_location: tfx.dsl.components.Parameter[str] = "",
):
    splits = artifact_utils.decode_split_names(anomalies.split_names)
    check_anomalies(read_split_anomalies(anomalies.uri, splits), data_location)
