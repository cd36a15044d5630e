"""Tasks (SER UAR, gender macro-F1, SV AUC with gender-matched non-targets) and the task models."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, recall_score, roc_auc_score

from hf_cser.cltm import (
    CltmTaskModel,
    GenderTask,
    MlpTaskModel,
    SerTask,
    SpeakerVerificationTask,
    get_task,
    roc_auc,
    verification_trials,
)


class Table:
    def __init__(self, speaker, gender, emotion):
        self.speaker = np.asarray(speaker)
        self.gender = np.asarray(gender)
        self.emotion = np.asarray(emotion)


class FixedModel:
    """Predicts / embeds from a lookup on the input values (inputs are row ids)."""

    def __init__(self, predictions=None, embeddings=None):
        self.predictions, self.embeddings = predictions, embeddings

    def predict(self, inputs):
        return self.predictions[np.asarray(inputs).ravel()]

    def embed(self, inputs):
        return self.embeddings[np.asarray(inputs).ravel()]


def test_roc_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=200), 1)  # many ties
    labels = rng.integers(0, 2, size=200).astype(bool)
    assert roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))
    with pytest.raises(ValueError, match="non-target"):
        roc_auc([0.1, 0.2], [True, True])


def test_verification_trials_pair_non_targets_by_gender():
    speakers = ["a", "a", "b", "c", "c"]
    genders = ["f", "f", "f", "m", "m"]
    first, second, is_target = verification_trials(speakers, genders)
    pairs = {(int(i), int(j), bool(t)) for i, j, t in zip(first, second, is_target)}
    # targets: (0,1) a-a, (3,4) c-c; non-targets: a-b (0,2), (1,2) (both female); no female-male pair
    assert pairs == {(0, 1, True), (3, 4, True), (0, 2, False), (1, 2, False)}
    _, _, capped = verification_trials(speakers, genders, max_nontarget=1)
    assert capped.sum() == 2 and (~capped).sum() == 1


def test_ser_and_gender_scores_match_sklearn():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 4, size=40)
    predictions = np.where(rng.random(40) < 0.6, truth, rng.integers(0, 4, size=40))
    genders = np.where(rng.random(40) < 0.5, "female", "male")
    table = Table(speaker=["s"] * 40, gender=genders, emotion=truth)
    ids = np.arange(40)
    ser = SerTask()
    assert ser.score(FixedModel(predictions), ids, table, ids) == pytest.approx(
        recall_score(truth, predictions, average="macro")
    )
    labels, k = ser.training_labels(table, ids[:5])
    assert k == 4 and labels.tolist() == truth[:5].tolist()
    gender = GenderTask()
    g_pred = rng.integers(0, 2, size=40)
    assert gender.score(FixedModel(g_pred), ids, table, ids) == pytest.approx(
        f1_score((genders == "male").astype(int), g_pred, average="macro")
    )
    table_unknown = Table(speaker=["s"] * 3, gender=["female", "unknown", "male"], emotion=[0, 0, 0])
    assert gender.usable(table_unknown).tolist() == [True, False, True]
    with pytest.raises(ValueError, match="female"):
        gender.training_labels(table_unknown, np.arange(3))


def test_speaker_verification_cosine_auc_and_sid_labels():
    table = Table(speaker=["a", "a", "b", "b"], gender=["f", "f", "f", "f"], emotion=[0, 0, 0, 0])
    sv = SpeakerVerificationTask()
    labels, k = sv.training_labels(table, np.array([3, 0, 2]))
    assert k == 2 and labels.tolist() == [1, 0, 1]
    # embeddings of different norms: cosine (not dot product) must make a and b perfectly separable
    embeddings = np.array([[1.0, 0.1], [10.0, 0.0], [0.0, 1.0], [0.2, 5.0]])
    ids = np.arange(4)
    assert sv.score(FixedModel(embeddings=embeddings), ids, table, ids) == 1.0
    # by hand: trials (0,1) T, (2,3) T, (0,2) (0,3) (1,2) (1,3) N
    swapped = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # a0 ~ b0, a1 ~ b1
    # target scores 0, 0; non-target scores 1, 0, 0, 1 -> AUC = (0 + 0.5*2*2) / 8 = 0.25
    assert sv.score(FixedModel(embeddings=swapped), ids, table, ids) == pytest.approx(0.25)
    assert get_task("sv").metric == "auc"
    with pytest.raises(ValueError, match="Unknown CLTM task"):
        get_task("asr")


def test_mlp_task_model_is_seeded_and_learns():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int) + 2 * (x[:, 2] > 0)
    model = MlpTaskModel(hidden_size=16, epochs=30)
    assert isinstance(model, CltmTaskModel)
    with pytest.raises(RuntimeError, match="fit"):
        model.predict(x)
    a = MlpTaskModel(hidden_size=16, epochs=30).fit(x[:80], y[:80], 4, seed=3)
    b = MlpTaskModel(hidden_size=16, epochs=30).fit(x[:80], y[:80], 4, seed=3)
    c = MlpTaskModel(hidden_size=16, epochs=30).fit(x[:80], y[:80], 4, seed=4)
    np.testing.assert_array_equal(a.embed(x), b.embed(x))  # same seed: identical
    assert not np.array_equal(a.embed(x), c.embed(x))  # another seed: another model
    assert (a.predict(x[80:]) == y[80:]).mean() > 0.7  # chance is about 0.25
    assert a.embed(x).shape == (120, 16)
    # the global torch RNG is left alone
    import torch

    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    MlpTaskModel(epochs=1).fit(x, y, 4, seed=9)
    assert torch.equal(torch.rand(1), before)


def test_audio_model_task_model_on_a_tiny_wavlm():
    import torch
    from transformers import WavLMConfig, WavLMForSequenceClassification

    from hf_cser.cltm import AudioModelTaskModel

    def model_init(num_labels):
        config = WavLMConfig(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            conv_dim=(8, 8),
            conv_kernel=(10, 3),
            conv_stride=(5, 2),
            num_conv_pos_embeddings=8,
            num_conv_pos_embedding_groups=2,
            num_labels=num_labels,
            classifier_proj_size=8,
        )
        return WavLMForSequenceClassification(config)

    rng = np.random.default_rng(0)
    waveforms = [rng.normal(size=n).astype(np.float32) * 0.1 for n in (800, 1200, 1000, 900)]
    labels = np.array([0, 1, 0, 1])
    a = AudioModelTaskModel(model_init, learning_rate=1e-3, batch_size=2, device="cpu").fit(waveforms, labels, 2, 0)
    b = AudioModelTaskModel(model_init, learning_rate=1e-3, batch_size=2, device="cpu").fit(waveforms, labels, 2, 0)
    assert a.predict(waveforms).shape == (4,)
    emb = a.embed(waveforms)
    assert emb.shape == (4, 16)
    np.testing.assert_allclose(emb, b.embed(waveforms), atol=1e-6)  # seeded init and shuffling
    with torch.no_grad():  # the embedding is the temporal mean of the last hidden state
        out = a.model(input_values=torch.as_tensor(waveforms[0])[None], output_hidden_states=True)
    np.testing.assert_allclose(emb[0], out.hidden_states[-1].mean(dim=1)[0].numpy(), atol=1e-6)


def test_speaker_verification_needs_non_target_trials():
    table = Table(speaker=["a", "a", "b", "b"], gender=["female", "female", "male", "male"], emotion=[0, 0, 0, 0])
    ids = np.arange(4)
    with pytest.raises(ValueError, match="eval_speakers"):
        SpeakerVerificationTask().score(FixedModel(embeddings=np.eye(4)), ids, table, ids)


def test_audio_model_task_model_with_the_library_zero_shot_model(tmp_path):
    """hf_cser's own models plug in: the zero-shot SER model, whose `embeddings` output is used for SV."""
    import torch
    from transformers import WavLMConfig, WavLMModel

    from hf_cser.cltm import AudioModelTaskModel
    from hf_cser.models.zero_shot import ZeroShotForEmotionClassification

    config = WavLMConfig(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
    )
    torch.manual_seed(0)
    WavLMModel(config).save_pretrained(tmp_path)
    model = AudioModelTaskModel(
        lambda k: ZeroShotForEmotionClassification.from_backbone(tmp_path, num_labels=k, num_speakers=0, lora=None),
        learning_rate=1e-3,
        batch_size=2,
        device="cpu",
    )
    rng = np.random.default_rng(0)
    waveforms = [rng.normal(size=n).astype(np.float32) * 0.1 for n in (800, 1200, 1000)]
    model.fit(waveforms, np.array([0, 1, 2]), 3, seed=0)
    assert model.predict(waveforms).shape == (3,)
    emb = model.embed(waveforms)
    with torch.no_grad():
        expected = model.model(input_values=torch.as_tensor(waveforms[1])[None]).embeddings[0].numpy()
    np.testing.assert_allclose(emb[1], expected, atol=1e-6)
