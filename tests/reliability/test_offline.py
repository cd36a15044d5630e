"""No surprise network: with HF_HUB_OFFLINE=1 and every socket connection refused, the package imports, generates
the synthetic corpus, trains a step, saves, reloads and runs the pipeline (issue 9, "safe loading")."""

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, socket, sys

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args)[:200])
        raise OSError("network access attempted in an offline test: " + repr(args)[:200])

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(sock, address, _real=real_connect):  # local (AF_UNIX) sockets, e.g. multiprocessing, stay allowed
        return _real(sock, address) if sock.family == socket.AF_UNIX else refuse(sock, address)

    def connect_ex(sock, address, _real=real_connect_ex):
        return _real(sock, address) if sock.family == socket.AF_UNIX else refuse(sock, address)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMModel, pipeline

    import hf_cser
    from hf_cser.data import SyntheticCorpusConfig, synthesize_corpus
    from hf_cser.data.specs import load_data_spec
    from hf_cser.encoders.phonetic_pretraining import tiny_wavlm_config
    from hf_cser.models.zero_shot import ZeroShotForEmotionClassification
    from hf_cser.trainers import ZeroShotDataCollator

    out = sys.argv[1]
    corpus = out + "/corpus"
    synthesize_corpus(SyntheticCorpusConfig(languages=("en",), speakers_per_language=3, utterances_per_speaker=4),
                      corpus, progress=False)
    data = load_data_spec("synthetic@" + corpus)
    torch.manual_seed(0)
    backbone_dir = out + "/backbone"
    config = tiny_wavlm_config(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_hidden_layers=1,
                               num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    WavLMModel(config).save_pretrained(backbone_dir)
    Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=True).save_pretrained(backbone_dir)
    model = ZeroShotForEmotionClassification.from_backbone(backbone_dir, top_adapter_size=8)
    from hf_cser.data.schema import with_decoded_audio

    rows = [with_decoded_audio(data["train"])[i] for i in range(4)]
    batch = ZeroShotDataCollator()(rows)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss = model(input_values=batch["input_values"], attention_mask=batch["attention_mask"],
                 labels=batch["labels"]).loss
    loss.backward()
    optimizer.step()
    model.save_pretrained(out + "/model")
    Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=True).save_pretrained(out + "/model")
    scores = pipeline("audio-classification", model=out + "/model")(data["test"][0]["audio"])
    print(json.dumps({"attempts": attempts, "labels": sorted(s["label"] for s in scores),
                      "loss": float(loss)}))
    """
)


def test_nothing_touches_the_network(tmp_path):
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf_home"),
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["attempts"] == []
    assert report["labels"] and set(report["labels"]) <= set(hf_cser_labels())
    assert report["loss"] > 0


def hf_cser_labels():
    from hf_cser.labels import EMOTIONS

    return EMOTIONS
