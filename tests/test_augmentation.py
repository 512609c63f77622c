"""Identity augmentation: the debiasing sentences join the training rows only, labelled
non-toxic, tagged by the Transform graph, and share no text with the challenge suite."""

import numpy as np
import pytest
import tensorflow as tf

from contract import IDENTITY_FEATURES, TOKENS_KEY
from ingest import challenge_suite
from ingest.keyword_tags import normalize
from ingest.shared_data import DEBIASING_FILE, shared_data_dir
from trainer_modules import augmentation


def test_only_non_toxic_rows_are_read_and_a_bad_file_is_named(tmp_path):
    good = tmp_path / "d.tsv"
    good.write_text("rev_id\tcomment\tis_toxic\tsplit\n1\tGay couples marry.\tFalse\ttrain\n"
                    "2\tawful slur\tTrue\ttrain\n3\t \tFalse\ttrain\n")  # fmt: skip
    assert augmentation.read_non_toxic_texts(str(good)) == ["Gay couples marry."]
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\nx\t0\n")
    with pytest.raises(ValueError, match=r"bad.tsv: missing column\(s\) \['comment', 'is_toxic'\]"):
        augmentation.read_non_toxic_texts(str(bad))


def test_augment_mixes_labelled_non_toxic_rows_into_the_batches():
    n, tokens = 6, 4
    features = {TOKENS_KEY: tf.ones([n, tokens], tf.int64),
                **{k: tf.zeros([n, 1], tf.int64) for k in IDENTITY_FEATURES}}  # fmt: skip
    train = tf.data.Dataset.from_tensor_slices((features, tf.ones([n, 1]))).batch(4)
    rows = {TOKENS_KEY: tf.fill([3, tokens], tf.constant(7, tf.int64)),
            **{k: tf.ones([3], tf.int64) for k in IDENTITY_FEATURES}}  # fmt: skip
    mixed = augmentation.augment(train, rows, batch_size=4, seed=0)
    assert mixed.element_spec[0][TOKENS_KEY].shape.as_list() == [None, tokens]
    seen = [(f[TOKENS_KEY].numpy()[:, 0], y.numpy().reshape(-1)) for f, y in mixed]
    first = np.concatenate([t for t, _ in seen])
    labels = np.concatenate([y for _, y in seen])
    assert len(first) == n + 3
    # The augmentation rows (token 7) are the non-toxic ones, the others keep their label.
    assert set(labels[first == 7]) == {0.0} and set(labels[first == 1]) == {1.0}
    # Each row says whether it is augmentation: TFCO can keep its rates to the real rows.
    for features, _ in mixed.take(2):
        first = features[TOKENS_KEY].numpy()[:, 0]
        assert (features[augmentation.AUGMENTED_KEY].numpy() == (first == 7)).all()


def test_the_debiasing_sentences_share_no_text_with_the_challenge_suite():
    shared = shared_data_dir()
    path = shared / DEBIASING_FILE
    if not path.is_file():
        pytest.skip(f"shared data not found at {shared}: set FAIR_TOXICITY_DATA")
    texts = {normalize(t) for t in augmentation.read_non_toxic_texts(str(path))}
    assert len(texts) > 5000
    suite = challenge_suite.suite_texts(challenge_suite.build_rows(str(shared), madlibs_stride=1))
    assert texts.isdisjoint(suite)
