import numpy as np

from ingest.embedded_data import GROUP_TERMS, SHARED, TARGETED_TERMS, generate, write_dataset
from ingest.tfrecords import read_examples


def test_generation_is_deterministic_per_seed():
    assert list(generate(50, seed=3)) == list(generate(50, seed=3))
    assert list(generate(50, seed=3)) != list(generate(50, seed=4))


def _mentions(text: str, terms) -> bool:
    words = f" {text.lower().strip('.!?')} "
    return any(f" {t} " in words for t in terms)


def test_planted_bias_targeted_groups_are_toxic_more_often_and_share_vocabulary():
    rows = list(generate(6000, seed=0))
    other_terms = {t for ts in GROUP_TERMS.values() for t in ts} - TARGETED_TERMS
    targeted = [r for r in rows if _mentions(r[0], TARGETED_TERMS)]
    others = [
        r for r in rows if _mentions(r[0], other_terms) and not _mentions(r[0], TARGETED_TERMS)
    ]
    toxic_rate = lambda rs: np.mean([r[1] for r in rs])  # noqa: E731
    assert toxic_rate(targeted) > toxic_rate(others) + 0.25

    clean_shared = lambda rs: np.mean([_mentions(r[0], SHARED) for r in rs if r[1] == 0.0])  # noqa: E731
    assert clean_shared(targeted) > clean_shared(others) + 0.3


def test_write_dataset_writes_split_folders_once(tmp_path):
    out = write_dataset(str(tmp_path / "d"), train_size=40, eval_size=10, seed=0)
    train = read_examples(f"{out}/train/*")
    assert len(train) == 40 and len(read_examples(f"{out}/eval/*")) == 10
    first = train[0].features.feature
    assert first["comment_text"].bytes_list.value[0]
    assert first["toxicity"].float_list.value[0] in (0.0, 1.0)
    mtime = (tmp_path / "d" / "train" / "data.tfrecord").stat().st_mtime_ns
    write_dataset(str(tmp_path / "d"), train_size=40, eval_size=10, seed=0)
    assert (tmp_path / "d" / "train" / "data.tfrecord").stat().st_mtime_ns == mtime
